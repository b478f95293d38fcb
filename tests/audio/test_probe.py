"""Probe: the format a user's file is stored in, as `nightowl explain` shows it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC, Picture

from conftest import DATA
from encoded import music_video, png
from nightowl.audio.probe import ProbeError, probe
from nightowl.classify.analyse import analyse


@pytest.mark.parametrize(("name", "subtype", "bits"), [
    ("a.flac", "PCM_16", 16), ("a.flac", "PCM_24", 24), ("a.wav", "PCM_24", 24), ("a.aiff", "PCM_24", 24),
    ("a.wav", "PCM_32", 32), ("a.wav", "FLOAT", None),
])
def test_the_bit_depth_is_the_files_own(tmp_path: Path, name: str, subtype: str, bits: int | None) -> None:
    """FFmpeg decodes 24-bit audio into 32-bit samples: the depth comes from the file's
    header. Float samples have no bit depth."""
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    path = tmp_path / name
    sf.write(path, audio, sr, subtype=subtype)
    info = probe(path)
    assert info.bit_depth == bits and info.lossless and info.sample_rate == sr and info.channels == 2


def test_an_empty_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.flac"
    path.touch()
    with pytest.raises(ProbeError, match=r"empty \(0 bytes\)"):
        probe(path)


def test_a_file_no_decoder_reads_says_so_in_plain_words(tmp_path: Path) -> None:
    """Not FFmpeg's "[Errno 1094995529] Invalid data found when processing input: '<path>'":
    the event names the file already."""
    bad = tmp_path / "track.flac"
    bad.write_bytes(b"fLaC" + bytes(range(256)) * 8)
    with pytest.raises(ProbeError) as caught:
        probe(bad)
    message = str(caught.value)
    assert message.startswith("neither FFmpeg nor libsndfile can read it as audio (FFmpeg: Invalid data")
    assert str(bad) not in message and "Errno" not in message


def test_a_lossy_file_has_no_bit_depth() -> None:
    info = probe(DATA / "speech" / "voice_memo.mp3")
    assert info.codec == "mp3" and info.bit_depth is None and not info.lossless
    assert np.isclose(info.duration, 42.8, atol=0.1)


def test_hybrid_wavpack_without_its_correction_file_is_lossy(tmp_path: Path) -> None:
    """WavPack's hybrid mode splits a file into a lossy .wv and a .wvc that corrects it:
    the .wv alone is lossy music; beside its .wvc it is the lossless pair (which FFmpeg
    cannot read together, so the check can only be inconclusive there)."""
    alone = probe(DATA / "guit_em9_hybrid.wv")
    assert alone.codec == "wavpack" and not alone.lossless
    a = analyse(DATA / "guit_em9_hybrid.wv")
    assert a.file_class == "lossy_music" and "hybrid" in a.reasons[0]
    pair = tmp_path / "guit.wv"
    pair.write_bytes((DATA / "guit_em9_hybrid.wv").read_bytes())
    pair.with_suffix(".wvc").write_bytes(b"wvpk")  # only its presence is read
    assert probe(pair).lossless
    lossless = tmp_path / "plain.wv"  # a plain WavPack file (no hybrid flag) is lossless
    audio, sr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    with av.open(str(lossless), "w") as out:
        stream = out.add_stream("wavpack", rate=sr, layout="stereo")
        samples = np.ascontiguousarray((audio.T * 32767).astype(np.int16))
        frame = av.AudioFrame.from_ndarray(samples, format="s16p", layout="stereo")
        frame.sample_rate = sr
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    assert probe(lossless).lossless


def test_a_video_is_told_from_cover_art(tmp_path: Path) -> None:
    """FFmpeg shows embedded cover art as a video stream too (an attached picture): only
    a moving picture makes a file a video, which the shipped rules leave alone."""
    audio, sr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    clip = music_video(tmp_path / "clip.mp4", audio[: 3 * sr], sr)
    info = probe(clip)
    assert info.video and info.codec == "aac" and not info.lossless
    covered = tmp_path / "covered.flac"
    covered.write_bytes((DATA / "guit_em9.flac").read_bytes())
    flac = FLAC(covered)
    picture = Picture()
    picture.data, picture.mime, picture.type = png(2, 2), "image/png", 3
    flac.add_picture(picture)
    flac.save()
    with av.open(str(covered)) as container:
        assert len(container.streams.video) == 1  # the cover, as FFmpeg sees it
    info = probe(covered)
    assert info.has_cover and not info.video
    assert not probe(DATA / "guit_em9.flac").video
