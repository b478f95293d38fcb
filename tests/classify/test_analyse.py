"""Every class through the real analysis, on real files: what `nightowl explain` and intake see."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3, PCST, TCON, TDES, WFED

from bench.transcode import Setting, encode_bytes, roundtrip
from nightowl.audio.decode import DecodeError, decode
from nightowl.classify import analyse as analyse_module
from nightowl.classify.analyse import analyse, analyse_safely
from nightowl.classify.concert import score_with_applause_at_ends
from tests.classify.test_concert import DATA, SONGS, load, show, through


@pytest.fixture(scope="module")
def hall_show() -> np.ndarray:
    """An audience recording: songs through a measured hall, a crowd near the mic, cheering at the ends."""
    parts = []
    for name in SONGS:
        parts += [load(DATA / f"{name}.flac"), np.zeros((int(0.8 * 44100), 2), np.float32)]
    return show(through(np.concatenate(parts), load(DATA / "concert" / "IRMediumHallStereo.flac")))


def test_a_podcast_is_a_podcast(tmp_path: Path) -> None:
    a = analyse(DATA / "speech" / "dialogue_two_voices.mp3")
    assert a.file_class == "podcast", a.reasons
    assert a.evidence["podcast"]["score"] >= 0.5


def test_a_voice_memo_is_not_a_podcast() -> None:
    a = analyse(DATA / "speech" / "voice_memo.mp3")
    assert a.file_class == "unknown", a.reasons
    assert a.evidence["podcast"]["score"] < 0.5


def test_a_spoken_sentence_of_a_few_seconds_is_talk_not_music(tmp_path: Path) -> None:
    """A file too short for 1.5 s from each quarter is heard whole, quarter by quarter:
    a 4 s sentence is talk, and 4 s of a tabla loop stays music."""
    a = analyse(DATA / "speech" / "arctic_a0007.flac")
    assert a.evidence["speech"]["quick_listen_speech_share"] >= 0.5
    assert a.file_class == "unknown" and "mostly speech" in a.reasons[0], a.reasons
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    short = tmp_path / "short.flac"
    sf.write(short, audio[: 4 * sr], sr, subtype="PCM_16")
    b = analyse(short)
    assert b.evidence["speech"]["quick_listen_speech_share"] < 0.2 and b.file_class == "lossless_music"


def test_podcast_tags_make_a_podcast_of_a_tagged_mp3(tmp_path: Path) -> None:
    audio, sr = sf.read(DATA / "speech" / "voice_memo.mp3", dtype="float32", always_2d=True)
    path = tmp_path / "show.mp3"
    path.write_bytes(encode_bytes(np.concatenate([audio] * 3), sr, Setting("mp3", "96k"))[0])
    tags = ID3()
    tags.add(TCON(encoding=3, text="Podcast"))
    tags.add(PCST(value=1))
    tags.add(TDES(encoding=3, text="Episode 12: the night shift"))
    tags.add(WFED(url="https://example.org/feed.xml"))
    tags.save(path)
    a = analyse(path)
    assert a.file_class == "podcast", a.reasons
    names = {c["name"] for c in a.evidence["podcast"]["cues"]}
    assert {"genre", "feed"} & names or len(names) >= 3


def test_an_audience_recording_is_a_concert_from_the_audio_alone(tmp_path: Path, hall_show: np.ndarray) -> None:
    path = tmp_path / "untitled.flac"
    sf.write(path, hall_show, 44100, subtype="PCM_16")
    a = analyse(path)
    assert a.file_class == "concert", (a.reasons, a.evidence["concert"])


def test_the_ends_are_heard_only_where_they_could_change_the_class(
        tmp_path: Path, hall_show: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long studio file's first and last seconds are not decoded: applause there could
    not make it a live recording. Heard all the same, they change nothing."""
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    studio = tmp_path / "studio.flac"
    sf.write(studio, np.tile(audio, (6, 1)), sr, subtype="PCM_16")  # 64 s: excerpts, not the whole
    live = tmp_path / "live.flac"
    sf.write(live, hall_show, 44100, subtype="PCM_16")
    a, b = analyse(studio), analyse(live)
    assert "applause_head" not in a.evidence["room"] and "ends" in a.evidence["concert"]
    assert score_with_applause_at_ends(a.evidence["room"]) < 0.5
    assert b.file_class == "concert" and b.evidence["room"]["applause_head"] > 0.25
    assert "ends" not in b.evidence["concert"]
    monkeypatch.setattr(analyse_module, "_ends_could_decide", lambda *_: True)
    heard = analyse(studio)
    assert "applause_head" in heard.evidence["room"]
    assert heard.file_class == a.file_class == "lossless_music"
    assert a.evidence["concert"]["score"] <= heard.evidence["concert"]["score"] < 0.5


def test_an_etree_folder_with_a_lineage_file_says_aud(tmp_path: Path, hall_show: np.ndarray) -> None:
    show_dir = tmp_path / "owls1994-05-12.aud.flac16"
    show_dir.mkdir()
    path = show_dir / "owls1994-05-12d1t03.flac"
    sf.write(path, hall_show, 44100, subtype="PCM_16")
    (show_dir / "owls1994-05-12.txt").write_text(
        "Night Owls\n1994-05-12\nSource: AUD Schoeps MK4 > Sony TCD-D8 (DAT)\nLineage: DAT > SPDIF > FLAC\n")
    a = analyse(path)
    assert a.file_class == "concert"
    assert a.evidence["concert"]["source"] == "aud"


def test_a_folder_is_listed_again_for_sidecars_only_where_it_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Intake looks for lineage and info files beside each recording: a folder of
    thousands of tracks is not listed once for each of them, but a text file added to
    it is still seen, and so is one added in the same second the folder was listed."""
    show_dir = tmp_path / "show"
    show_dir.mkdir()
    tracks = [show_dir / f"d1t{i:02}.flac" for i in range(1, 4)]
    for t in tracks:
        t.write_bytes(b"")
    (show_dir / "info.txt").write_text("Source: SBD\n")
    old = time.time() - 60
    os.utime(show_dir, (old, old))
    listed: list[str] = []
    real_scandir = os.scandir

    def scandir(folder):  # type: ignore[no-untyped-def]
        listed.append(str(folder))
        return real_scandir(folder)

    monkeypatch.setattr(analyse_module.os, "scandir", scandir)
    for t in tracks:
        assert analyse_module.read_sidecars(t) == {"info.txt": "Source: SBD\n"}
    assert listed.count(str(show_dir)) == 1

    (show_dir / "lineage.txt").write_text("Lineage: DAT > FLAC\n")  # the folder's mtime moves: listed again
    assert set(analyse_module.read_sidecars(tracks[0])) == {"info.txt", "lineage.txt"}
    assert listed.count(str(show_dir)) == 2
    # listed within a moment of its last change: not kept, as a coarse clock may not
    # show the next change
    analyse_module.read_sidecars(tracks[1])
    assert listed.count(str(show_dir)) == 3


def test_a_soundboard_recording_is_a_concert_that_says_sbd(tmp_path: Path) -> None:
    show_dir = tmp_path / "owls2001-03-04.sbd.flac16"
    show_dir.mkdir()
    path = show_dir / "owls2001-03-04d2t05.flac"
    shutil.copy(DATA / "loop_tabla.flac", path)
    (show_dir / "info.txt").write_text("Source: SBD > DAT\nLineage: DAT > CD > EAC > FLAC\n")
    a = analyse(path)
    assert a.file_class == "concert"
    assert a.evidence["concert"]["source"] == "sbd"


def test_music_files_keep_their_classes(tmp_path: Path) -> None:
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    fake = tmp_path / "fake.flac"
    sf.write(fake, roundtrip(audio, sr, Setting("mp3", "128k")), sr, subtype="PCM_16")
    lossy = tmp_path / "song.mp3"
    lossy.write_bytes(encode_bytes(audio, sr, Setting("mp3", "192k"))[0])
    note = tmp_path / "note.flac"
    note.write_text("not audio")
    assert analyse(DATA / "loop_tabla.flac").file_class == "lossless_music"
    assert analyse(fake).file_class == "fake_lossless"
    assert analyse(lossy).file_class == "lossy_music"
    bad = analyse(note)
    assert not bad.ok and bad.file_class == "unknown"


def test_an_empty_file_is_unreadable_and_a_silent_one_unknown(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), 44100)
    silent = tmp_path / "silent.flac"
    sf.write(silent, np.zeros((44100 * 20, 2), np.float32), 44100)
    a = analyse(empty)
    assert not a.ok and "no audio" in (a.error or "")
    b = analyse(silent)
    assert b.ok and b.file_class == "unknown" and "silent" in b.reasons[0]


def test_files_cut_short_get_a_clear_answer(tmp_path: Path) -> None:
    """An interrupted copy or download: an empty file says so; a FLAC that breaks off
    says where; an MP3 whose header promises more than it holds (some excerpts lie past
    its real end) is analysed on what it holds."""
    empty = tmp_path / "empty.flac"
    empty.touch()
    assert analyse(empty).error == "the file is empty (0 bytes)"
    flac = (DATA / "loop_amen_full.flac").read_bytes()
    cut_flac = tmp_path / "cut.flac"
    cut_flac.write_bytes(flac[: len(flac) // 2])
    a = analyse(cut_flac)
    assert not a.ok and "breaks off after" in (a.error or "") and "cut short" in (a.error or ""), a.error
    loop, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    long_flac = tmp_path / "long.flac"
    sf.write(long_flac, np.concatenate([loop] * int(np.ceil(120 * sr / len(loop))))[: 120 * sr], sr)
    cut_long = tmp_path / "cut_long.flac"
    cut_long.write_bytes(long_flac.read_bytes()[: long_flac.stat().st_size * 3 // 10])
    c = analyse(cut_long)  # its middle excerpts lie past the cut
    assert not c.ok and "no audio can be decoded at" in (c.error or "") and "cut short" in (c.error or ""), c.error
    audio, sr = sf.read(DATA / "speech" / "voice_memo.mp3", dtype="float32", always_2d=True)
    talk = np.concatenate([audio] * 4)[: 150 * sr]
    data = encode_bytes(talk, sr, Setting("mp3", "96k"))[0]
    cut_mp3 = tmp_path / "cut.mp3"
    cut_mp3.write_bytes(data[: len(data) * 4 // 10])
    b = analyse(cut_mp3)
    assert b.ok and b.probe is not None and b.probe["duration"] == 150.0, b.error
    assert b.evidence["speech"]["quick_listen_speech_share"] >= 0.5


def _flac_to_a_pipe(path: Path) -> bytes:
    """The FLAC as an encoder writing to a pipe leaves it: unable to go back to its
    STREAMINFO, it leaves the total of samples (the low 36 bits of the block's bytes
    10-17) and the MD5 (bytes 18-33) at zero, "unknown"."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    info = 8  # after "fLaC" and the block's header
    data[info + 13] &= 0xF0
    data[info + 14:info + 18] = bytes(4)
    data[info + 18:info + 34] = bytes(16)
    return bytes(data)


def test_a_flac_whose_header_does_not_give_its_length_is_read_to_its_end(tmp_path: Path) -> None:
    """libsndfile takes such a file's length for 2^63 samples; it is read through FFmpeg instead."""
    audio, sr = sf.read(DATA / "loop_amen_full.flac", dtype="float32", always_2d=True)
    path = tmp_path / "from_a_pipe.flac"
    path.write_bytes(_flac_to_a_pipe(DATA / "loop_amen_full.flac"))
    assert sf.info(str(path)).frames > 2**62  # what made the analysis fail
    decoded, rate = decode(path)
    assert rate == sr and decoded.shape == audio.shape
    assert np.max(np.abs(decoded - audio)) <= 1 / 32767
    a = analyse(path)
    assert a.ok and a.probe is not None and a.probe["duration"] == round(len(audio) / sr, 3), a.error
    assert a.file_class == "lossless_music"


def test_a_flac_cut_at_a_frames_edge_says_it_breaks_off(tmp_path: Path) -> None:
    """Cut between two frames, the file reads as if it ended there: only the length its
    header declares tells that it is cut short."""
    path = DATA / "loop_amen_full.flac"
    with av.open(str(path)) as container:
        edges = [p.pos for p in container.demux(container.streams.audio[0]) if p.pos is not None and p.pos > 0]
    cut = tmp_path / "cut_at_a_frame.flac"
    cut.write_bytes(path.read_bytes()[:edges[len(edges) // 3]])
    with pytest.raises(DecodeError, match="breaks off after .* its header declares"):
        decode(cut)
    a = analyse(cut)
    assert not a.ok and "breaks off after" in (a.error or "") and "cut short" in (a.error or ""), a.error


def test_samples_that_are_not_numbers_make_a_file_unreadable(tmp_path: Path) -> None:
    audio, sr = sf.read(DATA / "loop_amen_full.flac", dtype="float32", always_2d=True)
    audio[len(audio) // 2] = np.nan
    path = tmp_path / "damaged.wav"
    sf.write(path, audio, sr, subtype="FLOAT")
    a = analyse(path)
    assert not a.ok and "not numbers" in (a.error or ""), a.error
    assert analyse(DATA / "loop_amen_full.flac").ok


def test_a_failure_inside_the_analysis_is_an_error_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the daemon's analysis child and `nightowl explain` run: whatever goes wrong
    inside, the file gets an error that says so, never an exception."""
    def broken(*args: object, **kwargs: object) -> dict[str, float]:
        raise ValueError("cannot reshape array of size 0")

    monkeypatch.setattr(analyse_module, "concert_features", broken)
    out = analyse_safely(DATA / "loop_tabla.flac")
    assert out["ok"] is False and out["file_class"] == "unknown"
    assert out["error"] == "the analysis failed on this file (ValueError: cannot reshape array of size 0)"
