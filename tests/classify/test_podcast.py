"""Podcast decisions: metadata cues from real tagged files, names and folders; scores on real audio."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import mutagen
import numpy as np
import pytest
import soundfile as sf
import soxr
from mutagen.flac import FLAC
from mutagen.id3 import ID3, PCST, TCON, TDES, TIT2, WFED
from mutagen.mp4 import MP4

from nightowl.audio.decode import decode, decode_excerpts
from nightowl.audio.probe import probe
from nightowl.classify.podcast import Cue, podcast_metadata_cues, podcast_score
from nightowl.classify.speech import speech_features

DATA = Path(__file__).resolve().parents[1] / "data"
SPEECH = DATA / "speech"
FEED = "https://example.org/homelab/feed.xml"


def names(cues: list[Cue]) -> set[str]:
    return {c.name for c in cues}


def score_file(path: Path, min_minutes: float = 1.0) -> tuple[float, list[Cue]]:
    """What intake would do: probe, a few excerpts, features, cues, score."""
    info = probe(path)
    excerpts, sr = decode_excerpts(path, info.duration, count=4, length=20.0)
    cues = podcast_metadata_cues(info.tags, path)
    return podcast_score(speech_features(excerpts, sr), cues, info.duration, info.channels, min_minutes)


def write_mp3(path: Path, audio: np.ndarray, sr: int, kbps: int = 128) -> None:
    """Stereo MP3 with PyAV (libmp3lame)."""
    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=sr, layout="stereo")
        stream.bit_rate = kbps * 1000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.T, dtype=np.float32), format="fltp",
                                           layout="stereo")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def write_m4a(path: Path, audio: np.ndarray, sr: int) -> None:
    """AAC in MP4 with PyAV (mono)."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=sr, layout="mono")
        stream.bit_rate = 64000
        frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1).astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.fixture
def tagged_mp3(tmp_path: Path) -> Path:
    path = tmp_path / "untitled.mp3"
    shutil.copy(SPEECH / "voice_memo.mp3", path)
    tags = ID3()
    tags.add(TIT2(encoding=3, text=["Closet servers"]))
    tags.add(TCON(encoding=3, text=["Podcast"]))
    tags.add(PCST(value=1))
    tags.add(TDES(encoding=3, text=["Dave talks about the server in his hallway closet."]))
    tags.add(WFED(encoding=0, url=FEED))
    tags.save(path)
    return path


@pytest.fixture
def tagged_m4a(tmp_path: Path) -> Path:
    audio, sr = sf.read(SPEECH / "arctic_a0007.flac", dtype="float32")
    path = tmp_path / "untitled.m4a"
    write_m4a(path, soxr.resample(audio, sr, 44100), 44100)
    tags = MP4(path)
    tags["pcst"] = True
    tags["purl"] = [FEED]
    tags["egid"] = ["homelab-0042"]
    tags["catg"] = ["Technology"]
    tags["keyw"] = ["servers, backups"]
    tags.save()
    return path


def test_id3_podcast_frames_are_cues(tagged_mp3: Path) -> None:
    info = probe(tagged_mp3)
    assert {"tcon", "pcst", "tdes", "wfed"} <= set(info.tags)
    cues = podcast_metadata_cues(info.tags, tagged_mp3)
    assert {"genre", "podcast_flag", "description", "feed_url"} <= names(cues)
    assert all(c.weight > 0 for c in cues)
    feed = next(c for c in cues if c.name == "feed_url")
    assert feed.value == FEED and FEED in feed.text


def test_mp4_podcast_atoms_are_cues(tagged_m4a: Path) -> None:
    info = probe(tagged_m4a)
    assert info.codec == "aac"
    assert {"pcst", "purl", "egid", "catg", "keyw"} <= set(info.tags)
    cues = podcast_metadata_cues(info.tags, tagged_m4a)
    assert {"podcast_flag", "feed_url", "episode_id", "category", "keywords"} <= names(cues)


def test_vorbis_genre_podcast_is_a_cue(tmp_path: Path) -> None:
    path = tmp_path / "show.flac"
    shutil.copy(SPEECH / "arctic_a0007.flac", path)
    tags = FLAC(path)
    tags["GENRE"] = "Podcast"
    tags.save()
    cues = podcast_metadata_cues(probe(path).tags, path)
    assert [c.name for c in cues] == ["genre"] and cues[0].weight > 0


def test_a_cleared_podcast_flag_is_no_cue(tmp_path: Path) -> None:
    path = tmp_path / "x.mp3"
    shutil.copy(SPEECH / "voice_memo.mp3", path)
    tags = ID3()
    tags.add(PCST(value=0))
    tags.save(path)
    assert "podcast_flag" not in names(podcast_metadata_cues(probe(path).tags, path))


def test_a_music_genre_pushes_away() -> None:
    cues = podcast_metadata_cues({"tcon": "Blues"}, Path("/music/track.mp3"))
    assert [(c.name, c.weight < 0) for c in cues] == [("genre", True)]


def test_id3v1_genre_number_for_podcast() -> None:
    cues = podcast_metadata_cues({"tcon": "(186)"}, Path("/x/a.mp3"))
    assert cues[0].name == "genre" and cues[0].weight > 0


@pytest.mark.parametrize(
    "name",
    ["Home Lab Hour ep042.mp3", "episode 12 - backups.mp3", "The Show #123.mp3", "show_s02e05.m4a",
     "Ep.7 Interview.mp3", "Folge 88.mp3"],
)
def test_episode_like_names(name: str) -> None:
    assert "episode_name" in names(podcast_metadata_cues({}, Path("/inbox") / name))


def test_date_stamped_show_name() -> None:
    cues = podcast_metadata_cues({}, Path("/inbox/morning_briefing_2024-03-05.mp3"))
    assert "dated_name" in names(cues)


@pytest.mark.parametrize(
    "name", ["01 - Track.flac", "song 2.mp3", "Symphony No. 5.flac", "REC_20240305_0830.m4a", "Take 3 #2b.wav"]
)
def test_ordinary_names_are_no_cue(name: str) -> None:
    assert not podcast_metadata_cues({}, Path("/inbox/music") / name)


def test_podcast_folder() -> None:
    cues = podcast_metadata_cues({}, Path("/srv/inbox/Podcasts/Home Lab Hour/closet.mp3"))
    assert names(cues) == {"folder"}


def test_a_40_second_voice_memo_is_not_a_podcast() -> None:
    score, cues = score_file(SPEECH / "voice_memo.mp3")
    assert score < 0.2
    assert cues[0].name == "duration" and cues[0].weight < 0  # the strongest reason comes first
    assert "voice memo" in cues[0].text


def test_a_longer_minimum_keeps_short_talk_out_and_a_shorter_one_lets_it_in() -> None:
    long_min, _ = score_file(SPEECH / "voice_memo.mp3", min_minutes=1.0)
    short_min, cues = score_file(SPEECH / "voice_memo.mp3", min_minutes=0.5)
    assert "duration" not in names(cues)
    assert short_min > long_min


def test_a_two_voice_dialogue_without_metadata_is_a_podcast() -> None:
    path = SPEECH / "dialogue_two_voices.mp3"
    info = probe(path)
    assert podcast_metadata_cues(info.tags, path) == [] and info.duration > 120  # only an encoder tag
    score, cues = score_file(path)
    assert score >= 0.7
    assert {"speech_ratio", "turns"} <= {c.name for c in cues if c.weight > 0}


@pytest.mark.parametrize("name", ["loop_tabla", "guit_em9", "loop_amen_full"])
def test_music_scores_low(name: str) -> None:
    score, cues = score_file(DATA / f"{name}.flac")
    assert score < 0.05
    assert any(c.name == "speech_ratio" and c.weight < 0 for c in cues)


def test_music_with_a_spoken_intro_is_not_a_podcast(tmp_path: Path) -> None:
    """20 s of talk over a guitar, then a minute and a half of the guitar alone."""
    speech, sr = decode(SPEECH / "dialogue_two_voices.mp3", duration=20.0)
    music, msr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    music = soxr.resample(music, msr, sr)
    music = np.tile(music, (110 * sr // len(music) + 1, 1))[: 110 * sr] * 0.5
    mix = music.copy()
    mix[: len(speech)] = mix[: len(speech)] * 0.3 + speech
    path = tmp_path / "song_with_intro.flac"
    sf.write(path, np.clip(mix, -1, 1), sr)
    score, cues = score_file(path)
    assert score < 0.1
    assert any(c.name == "speech_ratio" and c.weight < 0 for c in cues)


def test_a_song_with_a_singer_is_not_a_podcast(tmp_path: Path) -> None:
    """Lossy music with vocals: a sung melody over a guitar, 77 s, MP3 128k, tagged like music."""
    voice, sr = sf.read(SPEECH / "sung_daisy.flac", dtype="float32")
    voice = soxr.resample(np.tile(voice, 4), sr, 44100)
    music, msr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    music = np.tile(music, (len(voice) // len(music) + 1, 1))[: len(voice)]
    gain = np.sqrt(np.mean(voice ** 2) / np.mean(music ** 2)) * 10 ** (-8 / 20)
    path = tmp_path / "Daisy Bell.mp3"
    write_mp3(path, np.clip((voice[:, None] + music * gain) * 0.5, -1, 1), 44100)
    score, cues = score_file(path)
    assert score < 0.2
    assert cues[0].name == "pitch_hold" and "singing" in cues[0].text
    assert "turns" not in names(cues)  # the melody's leaps are not voices taking turns


def test_strong_metadata_alone_makes_a_podcast(tmp_path: Path) -> None:
    """A music recording tagged as an episode is filed as a podcast: the tags are deliberate."""
    path = tmp_path / "theme.flac"
    shutil.copy(DATA / "guit_em9.flac", path)
    tags = FLAC(path)
    tags["GENRE"] = "Podcast"
    tags.save()
    info = probe(path)
    cues = podcast_metadata_cues(info.tags, path) + [Cue("podcast_flag", "1", 3.0, "tagged as a podcast episode")]
    audio, sr = decode(path)
    score, _ = podcast_score(speech_features([audio], sr), cues, info.duration, info.channels, 1.0)
    assert score >= 0.5


def test_tagged_files_score_high(tagged_mp3: Path) -> None:
    score, cues = score_file(tagged_mp3)
    assert score >= 0.9  # short, one voice, but tagged as an episode with a feed
    assert cues[0].weight > 0


def test_every_cue_explains_itself(tagged_mp3: Path) -> None:
    _, cues = score_file(tagged_mp3)
    weights = [abs(c.weight) for c in cues]
    assert weights == sorted(weights, reverse=True)
    assert all(c.text and c.weight != 0 for c in cues)
    assert all(isinstance(c.to_dict(), dict) for c in cues)


def test_score_without_audio_features_uses_metadata_only() -> None:
    score, cues = podcast_score({}, [Cue("feed_url", FEED, 2.5, "feed")], 1800.0, 2, 1.0)
    assert 0.5 < score < 1.0
    assert names(cues) == {"feed_url", "duration"}


def test_mutagen_reads_what_the_cues_expect(tagged_mp3: Path, tagged_m4a: Path) -> None:
    """Pin the raw mutagen keys the cues rely on (probe lower-cases them)."""
    assert {"TCON", "PCST", "TDES", "WFED"} <= set(mutagen.File(tagged_mp3).tags.keys())
    assert {"pcst", "purl", "egid", "catg", "keyw"} <= set(mutagen.File(tagged_m4a).tags.keys())
