"""Probe: the format a user's file is stored in, as `nightowl explain` shows it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import DATA
from nightowl.audio.probe import ProbeError, probe


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


def test_a_lossy_file_has_no_bit_depth() -> None:
    info = probe(DATA / "speech" / "voice_memo.mp3")
    assert info.codec == "mp3" and info.bit_depth is None and not info.lossless
    assert np.isclose(info.duration, 42.8, atol=0.1)
