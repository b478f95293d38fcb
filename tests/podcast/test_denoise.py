"""DeepFilterNet3 speech denoising: noise removal, sample-exact alignment, strength, noise floor."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from nightowl.podcast import denoise as dn

SR = 16000


def _speech(seconds: float, offset: float = 0.0) -> np.ndarray:
    """Real speech (pyannote's 16 kHz sample), peak-normalised to 0.5."""
    path = Path(importlib.util.find_spec("pyannote.audio").submodule_search_locations[0]) / "sample" / "sample.wav"
    x, sr = sf.read(path, dtype="float32", start=int(offset * SR), frames=int(seconds * SR))
    assert sr == SR and x.ndim == 1
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def _db(ratio: float) -> float:
    return 20 * np.log10(ratio)


# 3 s speech | 1 s gap | 3 s speech | 1 s gap; the gaps are the guaranteed speech-free stretches
_GAPS = [(3.0, 4.0), (7.0, 8.0)]


def _gaps(x: np.ndarray, sr: int = SR) -> np.ndarray:
    """The speech-free stretches, 150 ms in from either edge (no word tails, no ramp-up)."""
    return np.concatenate([x[int((a + 0.15) * sr):int((b - 0.15) * sr)] for a, b in _GAPS])


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    s = _speech(6.0, offset=7.0)  # the sample is near-silent for its first 6.5 s
    gap = np.zeros(SR, dtype=np.float32)
    return np.concatenate([s[:3 * SR], gap, s[3 * SR:], gap])


def _noise(n: int, seed: int, level: float) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def noise_level(clean) -> float:
    # white noise 10 dB below the speech (RMS over the speech parts)
    speech_rms = _rms(np.concatenate([clean[:3 * SR], clean[4 * SR:7 * SR]]))
    return speech_rms / 10 ** (10 / 20)


@pytest.fixture(scope="module")
def full_strength(clean, noise_level):
    noisy = clean + _noise(len(clean), 0, noise_level)
    reports: list[float] = []
    out = dn.denoise(noisy, SR, progress=reports.append)
    return noisy, out, reports


def test_removes_noise_and_keeps_shape(full_strength):
    noisy, out, reports = full_strength
    assert out.shape == noisy.shape and out.dtype == np.float32
    reduction = _db(_rms(_gaps(noisy)) / _rms(_gaps(out)))
    assert reduction >= 15, f"noise only {reduction:.1f} dB down"
    # progress: increasing fractions, ending at 1
    assert reports and reports[-1] == 1.0 and reports == sorted(reports) and 0 < reports[0] <= 1


def _lag(reference: np.ndarray, x: np.ndarray, max_lag: int) -> int:
    """The lag (samples, positive: x is late) where x correlates best with reference."""
    n = 1 << int(np.ceil(np.log2(len(reference) + len(x))))
    c = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(reference, n)), n)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(np.r_[c[:max_lag + 1], c[-max_lag:]])])


@pytest.mark.parametrize("rate", [16000, 48000])
def test_output_aligned_with_input(rate):
    s = _speech(3.0, offset=16.0)
    if rate != SR:
        s = soxr.resample(s, SR, rate, quality="HQ").astype(np.float32)
    noisy = s + _noise(len(s), 1, 0.3 * _rms(s))
    out = dn.denoise(noisy, rate)
    assert out.shape == noisy.shape
    assert abs(_lag(s, out, max_lag=rate // 10)) <= 1  # search +-100 ms


def test_stereo_and_gentle_strength(clean, noise_level, full_strength):
    part = slice(SR, 4 * SR)  # 2 s of speech, then the first gap
    n = part.stop - part.start
    stereo = np.stack([clean[part] + _noise(n, 0, noise_level), clean[part] + _noise(n, 2, noise_level)], axis=1)
    out = dn.denoise(stereo, SR, strength_db=6.0)
    assert out.shape == stereo.shape and out.dtype == np.float32
    gap = slice(int(2.15 * SR), int(2.85 * SR))
    full_gap = slice(int(3.15 * SR), int(3.85 * SR))  # the same stretch in the full-length signal
    full = _db(_rms(full_strength[0][full_gap]) / _rms(full_strength[1][full_gap]))
    for ch in range(2):
        gentle = _db(_rms(stereo[gap, ch]) / _rms(out[gap, ch]))
        assert 3.0 <= gentle <= 9.0, f"channel {ch}: {gentle:.1f} dB with a 6 dB limit"
        assert full - gentle >= 8, f"limit 6 dB: {gentle:.1f} dB, unlimited: {full:.1f} dB"


def test_empty_input():
    assert dn.denoise(np.zeros(0, np.float32), SR).shape == (0,)
    assert dn.denoise(np.zeros((0, 2), np.float32), SR).shape == (0, 2)


def test_missing_model_is_a_denoise_error(monkeypatch, tmp_path):
    monkeypatch.setattr(dn._dfs, "model_path", lambda: tmp_path / "missing.tar.gz")
    with pytest.raises(dn.DenoiseError, match="model"):
        dn.denoise(np.zeros(SR, np.float32), SR)


def test_model_version_reported():
    assert isinstance(dn.MODEL_VERSION, str) and "DeepFilterNet3" in dn.MODEL_VERSION
    assert dn.SAMPLE_RATE == 48000


def _windows_mask(speech_windows: int, quiet_windows: int) -> np.ndarray:
    return np.r_[np.ones(speech_windows, bool), np.zeros(quiet_windows, bool)]


def test_noise_floor_clean_and_noisy():
    rng = np.random.default_rng(3)
    t = np.arange(100 * 512) / SR
    speech = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    mask = _windows_mask(60, 40)
    speech[60 * 512:] = 0.0
    level = _rms(speech[:60 * 512])

    clean = speech + (level * 10 ** (-80 / 20) * rng.standard_normal(len(speech))).astype(np.float32)
    floor = dn.noise_floor_db(clean, mask)
    assert floor < -70 and not dn.needs_denoise(floor)

    noisy = speech + (level * 10 ** (-25 / 20) * rng.standard_normal(len(speech))).astype(np.float32)
    floor = dn.noise_floor_db(noisy, mask)
    assert -30 < floor < -20 and dn.needs_denoise(floor)


def test_noise_floor_nothing_to_compare():
    x = np.ones(10 * 512, np.float32)
    assert dn.noise_floor_db(x, np.ones(10, bool)) == -120.0  # no non-speech windows
    assert dn.noise_floor_db(x, np.zeros(10, bool)) == -120.0  # no speech windows
    digital_silence = np.r_[np.ones(5 * 512), np.zeros(5 * 512)]
    assert dn.noise_floor_db(digital_silence, _windows_mask(5, 5)) == -120.0
    assert dn.needs_denoise(-49.0) and not dn.needs_denoise(-50.0) and not dn.needs_denoise(-40.0, threshold_db=-35.0)
