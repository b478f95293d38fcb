"""Holes under the cutoff: bands an MP3 encoder dropped for a moment, filled with noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from nightowl.restore import engine, metrics
from nightowl.restore.engine import restore
from nightowl.restore.gate import GateSettings
from nightowl.restore.holes import BAND_BINS, hole_gains
from nightowl.restore.stft import bin_hz, stft

from bench.transcode import Setting, roundtrip

DATA = Path(__file__).resolve().parents[1] / "data"
SR = 44100


@pytest.fixture(scope="module")
def hissy_mp3() -> tuple[np.ndarray, np.ndarray]:
    """A drum loop over a hiss floor 60 dB down (as a recording has), and its 96 kbps MP3:
    the encoder drops the quiet high bands now and then."""
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    assert sr == SR
    ref = audio[: 8 * SR] + np.random.default_rng(3).standard_normal((8 * SR, audio.shape[1])).astype(np.float32) * 1e-3
    return ref, roundtrip(ref, SR, Setting("mp3", "96k"))


def test_a_band_dropped_for_a_moment_is_filled_and_a_pause_is_not() -> None:
    noise = np.random.default_rng(0).standard_normal((1, 4 * SR)).astype(np.float32)
    spec = stft(noise)
    cutoff_bin = int(16000 / bin_hz(SR))
    hole_bins = slice(cutoff_bin - 3 * BAND_BINS, cutoff_bin - 2 * BAND_BINS)  # one band, 4 frames
    spec[:, hole_bins, 100:104] = 0
    lo, gains = hole_gains(spec, cutoff_bin, SR)
    assert gains is not None and lo * bin_hz(SR) >= 8000 - BAND_BINS * bin_hz(SR)
    in_hole = gains[:, hole_bins.start - lo:hole_bins.stop - lo, 100:104].copy()
    assert (in_hole > 0).all()
    gains[:, hole_bins.start - lo:hole_bins.stop - lo, 100:104] = 0
    assert not gains.any()  # nowhere else
    # filled near the level around it, less FILL_DB
    expected = np.sqrt(np.mean(np.abs(spec[:, hole_bins, 80:95]) ** 2))
    assert 0.2 * expected < in_hole.max() <= expected

    pause = stft(noise)
    pause[:, :, 100:104] = 0  # every band at once: a pause, not a hole
    assert hole_gains(pause, cutoff_bin, SR)[1] is None


def test_the_holes_of_a_low_bitrate_mp3_are_filled(hissy_mp3: tuple[np.ndarray, np.ndarray]) -> None:
    ref, mp3 = hissy_mp3
    plain = restore(mp3, SR, lossy=True)
    filled = restore(mp3, SR, lossy=True, source_codec="mp3")
    cutoff = filled.cutoff.hz
    assert cutoff is not None and 14000 < cutoff < 16500
    assert filled.hole_share > 0.01 and plain.hole_share == 0.0

    def score(x: np.ndarray) -> tuple[float, float]:
        est, r, _ = metrics.align(x, ref, SR)
        return metrics.lsd(est, r, SR, band=(8000.0, cutoff - 100.0)), metrics.si_sdr(est, r)

    (lsd_plain, sdr_plain), (lsd_filled, sdr_filled) = score(plain.audio), score(filled.audio)
    assert lsd_filled < lsd_plain - 3.0  # 18.1 -> 13.5 dB when written
    assert sdr_filled > sdr_plain - 0.05
    # the gate options reach the holes: a higher threshold fills fewer (real holes are
    # deep, so some remain even at 40 dB)
    cautious = restore(mp3, SR, lossy=True, source_codec="mp3", gate=GateSettings(40.0, 10.0))
    assert 0.0 < cautious.hole_share < 0.7 * filled.hole_share
    # other codecs leave no holes (AAC substitutes noise, Opus folds): nothing is filled
    assert np.array_equal(restore(mp3, SR, lossy=True, source_codec="aac").audio, plain.audio)


def test_blocks_fill_the_same_holes(hissy_mp3: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    _, mp3 = hissy_mp3
    whole = restore(mp3, SR, lossy=True, source_codec="mp3").audio
    monkeypatch.setattr(engine, "BLOCK", 10 * engine.CONTEXT)  # ~2.3 s blocks
    blocked = restore(mp3, SR, lossy=True, source_codec="mp3").audio
    assert np.abs(whole - blocked).max() < 1e-5
