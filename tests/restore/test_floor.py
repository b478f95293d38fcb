"""The noise floor continued above the cutoff, and how the engine decides what lies above 20 kHz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from nightowl.restore import metrics
from nightowl.restore.engine import (
    Cutoff,
    find_cutoff,
    plausible_cutoff,
    restore,
    top_fall_db_khz,
)
from nightowl.restore.floor import (
    floor_level_db,
    floor_noise,
    measure_floor,
)
from nightowl.restore.noise import unit_noise
from nightowl.restore.stft import N_FFT, bin_hz, istft, stft

from bench.transcode import Setting, roundtrip

DATA = Path(__file__).resolve().parents[1] / "data"
SR = 44100


def _lowpassed(x: np.ndarray, hz: float) -> np.ndarray:
    spec = stft(x)
    spec[:, int(hz / bin_hz(SR)):] = 0
    return istft(spec, x.shape[1])


def test_the_floor_under_loud_notes_is_measured_at_its_level() -> None:
    rng = np.random.default_rng(1)
    n = 8 * SR
    sigma = 1e-4
    floor = rng.standard_normal((2, n)).astype(np.float32) * sigma
    # loud broadband notes an eighth of the time: a mean would read them, the floor must not
    notes = rng.standard_normal((2, n)).astype(np.float32) * 0.05
    notes *= (np.arange(n) // (SR // 4) % 8 == 0)
    x = _lowpassed(floor + notes, 16000.0)
    cutoff_bin = int(np.ceil(16000.0 / bin_hz(SR)))
    line = measure_floor(x, cutoff_bin - 20, SR)  # a cutoff just under the lowpass, as a codec's
    assert line is not None
    expected_db = 10 * np.log10(sigma**2 * np.sum(np.hanning(N_FFT + 1)[:-1] ** 2))  # white noise per bin
    assert np.allclose(line.at_cutoff_db, expected_db, atol=1.0)
    assert np.allclose(line.slope_db_khz, 0.0, atol=0.5)


def test_floor_noise_has_its_level_and_blocks_draw_the_same_noise() -> None:
    level = np.full((2, 100), -40.0)
    level[1] -= 10.0
    whole = floor_noise(level, unit_noise(2, 1025 - 100, 500, first_frame=7))
    assert whole.shape == (2, 100, 500)
    power_db = 10 * np.log10(np.mean(np.abs(whole) ** 2, axis=(1, 2)))
    assert np.allclose(power_db, [-40.0, -50.0], atol=0.2)
    later = floor_noise(level, unit_noise(2, 700, 300, first_frame=7 + 200))  # from lower down: the same
    assert np.array_equal(whole[:, :, 200:], later)


def test_the_floor_falls_above_its_rolloff() -> None:
    line = measure_floor(np.random.default_rng(2).standard_normal((1, SR)).astype(np.float32), 700, SR)
    assert line is not None
    level = floor_level_db(line, 700, 1025, SR, rolloff_hz=20000.0, rolloff_db_khz=6.0)
    hz = np.arange(700, 1025) * bin_hz(SR)
    flat = floor_level_db(line, 700, 1025, SR)
    assert np.allclose(flat - level, 6.0 * np.maximum(hz - 20000.0, 0) / 1000)


def test_above_20k_a_level_trend_falls_and_a_falling_one_goes_on() -> None:
    assert top_fall_db_khz(Cutoff(16000.0, trend_db_khz=0.2)) == 20.0  # a synthesised render
    assert top_fall_db_khz(Cutoff(16000.0, trend_db_khz=-2.5)) == 0.0  # a recording
    assert 0.0 < top_fall_db_khz(Cutoff(16000.0, trend_db_khz=-1.0)) < 20.0


def test_a_known_lossy_input_has_its_shallow_edges_taken() -> None:
    assert not plausible_cutoff(20200.0, drop_db=12.0)
    assert plausible_cutoff(20200.0, drop_db=12.0, lossy=True)  # Opus's wall over dull music
    # a dull recording with a noise-shaped dither floor: AAC's lowpass falls less than
    # 15 dB there, which the engine leaves alone unless it knows the file was lossy
    audio, sr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    fake = roundtrip(audio, sr, Setting("aac", "128k"))
    assert find_cutoff(fake, sr).hz is None
    out = restore(fake, sr, lossy=True)
    assert out.cutoff.hz is not None and 15000 < out.cutoff.hz < 18500
    before, ref, _ = metrics.align(fake, audio, sr)
    after, ref2, _ = metrics.align(out.audio, audio, sr)
    assert metrics.hf_lsd(after, ref2, sr, out.cutoff.hz) < metrics.hf_lsd(before, ref, sr, out.cutoff.hz) - 5.0
