"""Whole-file decoding through FFmpeg: the samples are held once, whatever the header says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from bench.transcode import Setting, encode_bytes
from nightowl.audio.decode import _Samples

DATA = Path(__file__).resolve().parents[1] / "data"
REPO = Path(__file__).resolve().parents[2]


def _chunks(n: int, size: int, channels: int = 2) -> list[np.ndarray]:
    x = np.arange(n * channels, dtype=np.float32).reshape(n, channels)
    return [x[i:i + size] for i in range(0, n, size)]


def test_chunks_come_back_in_order_whatever_length_the_header_promised() -> None:
    whole = np.concatenate(_chunks(10_000, 1152))
    for promised in (0, 3_000, 9_999, 10_000, 50_000):  # unknown, far too short, one short, right, too long
        samples = _Samples(promised, 2)
        for chunk in _chunks(10_000, 1152):
            samples.add(chunk)
        got = samples.joined()
        assert got.shape == whole.shape and np.array_equal(got, whole), promised
    assert _Samples(100, 2).joined().shape == (0, 2)


def test_a_stream_with_other_channels_than_its_header_said_is_kept_whole() -> None:
    samples = _Samples(5_000, 2)
    for chunk in _chunks(3_000, 1024, channels=6):
        samples.add(chunk)
    assert samples.joined().shape == (3_000, 6)


_PEAK = """
import sys
sys.path.insert(0, {daemon!r})
from nightowl.audio.decode import decode
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) * 1024
before = hwm()
audio, sr = decode({path!r})
print(before, hwm(), audio.nbytes)
"""


def test_a_long_file_is_decoded_with_its_samples_held_once(tmp_path: Path) -> None:
    """Four minutes of MP3 (decoded through FFmpeg): the decoding process grows by little
    more than the decoded samples (it grew by twice their size when chunks were joined)."""
    clip, sr = sf.read(DATA / "loop_amen_full.flac", dtype="float32", always_2d=True)
    audio = np.tile(clip, (int(np.ceil(240 * sr / len(clip))), 1))[:240 * sr]
    data, ext = encode_bytes(audio, sr, Setting("mp3", "64k"))
    path = tmp_path / f"long.{ext}"
    path.write_bytes(data)
    script = _PEAK.format(daemon=str(REPO / "daemon"), path=str(path))
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    before, after, held = (int(v) for v in out.split())
    assert held >= 240 * sr * 2 * 4  # all of it, in stereo float32
    assert after - before < 1.3 * held, (after - before) / held
