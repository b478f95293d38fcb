import numpy as np
import pytest
import soundfile as sf
from nightowl.podcast.loudness import (
    GainCurve,
    gain_step,
    integrated_lufs,
    peak_envelope,
    limiter_gain,
    normalise,
    true_peak_dbtp,
)
from podcast_audio import SAMPLE_WAV


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    x, sr = sf.read(SAMPLE_WAV, dtype="float32")
    return x, sr


def test_true_peak_sees_between_samples() -> None:
    sr = 44100
    n = np.arange(sr)
    # a quarter-rate sine sampled 45 degrees off its crests: samples reach 0.707, the wave 1.0
    x = np.sin(2 * np.pi * (sr / 4) * n / sr + np.pi / 4).astype(np.float32) * 0.5
    assert np.abs(x).max() == pytest.approx(0.5 * 0.7071, abs=1e-3)
    assert true_peak_dbtp(x) == pytest.approx(20 * np.log10(0.5), abs=0.2)


@pytest.mark.parametrize("channels,target", [(1, -19.0), (2, -16.0)])
def test_master_meets_loudness_and_true_peak(speech: tuple[np.ndarray, int], channels: int, target: float) -> None:
    x, sr = speech
    audio = x if channels == 1 else np.stack([x, 0.7 * x], axis=1)
    out = normalise(audio * 0.05, sr)  # a quiet recording, so the gain has to push peaks into the limiter
    master = out.apply(audio * 0.05)
    assert integrated_lufs(master, sr) == pytest.approx(target, abs=0.5)
    assert true_peak_dbtp(master) <= -1.0 and out.true_peak_dbtp == pytest.approx(true_peak_dbtp(master), abs=0.01)
    assert out.limited_share > 0 and out.target_met
    assert master.shape == audio.shape and out.gain.frames == len(audio)
    # one gain per few samples, not one per sample (16 at 44.1 kHz: an hour's curve is 40 MB, not 0.6 GB)
    step = out.gain.step
    assert step == gain_step(sr) > 1 and gain_step(44100) == 16 and len(out.gain.values) == -(-len(audio) // step)
    # written a block at a time, the master is the same
    np.testing.assert_array_equal(np.concatenate(list(out.blocks(audio * 0.05, size=1000))), master)


def test_custom_target_and_silence(speech: tuple[np.ndarray, int]) -> None:
    x, sr = speech
    out = normalise(x, sr, target_lufs=-23.0, peak_dbtp=-2.0)
    assert out.lufs == pytest.approx(-23.0, abs=0.2) and true_peak_dbtp(out.apply(x)) <= -2.0
    silent = normalise(np.zeros(sr * 2, np.float32), sr)
    assert silent.gain_db == 0.0 and not silent.apply(np.zeros(sr * 2, np.float32)).any()
    assert not silent.target_met


def test_limiter_gain_never_lets_a_peak_through(monkeypatch) -> None:
    import nightowl.podcast.loudness as loudness

    rng = np.random.default_rng(0)
    env = np.abs(rng.standard_normal(50_000)).astype(np.float32)
    g = limiter_gain(env, 1.0, 44100)
    assert np.all(env * g <= 1.0 + 1e-6) and g.max() <= 1.0
    # smooth: no step larger than the ramp allows
    assert np.abs(np.diff(g)).max() < 0.1
    # worked out in blocks, the curve is the one worked out whole
    monkeypatch.setattr(loudness, "BLOCK", 4096)
    np.testing.assert_array_equal(limiter_gain(env, 1.0, 44100), g)
    np.testing.assert_allclose(limiter_gain(env, 1.0, 44100, scale=2.0), limiter_gain(env * 2.0, 1.0, 44100),
                               atol=1e-6)
    # worked out again into a curve of an earlier try (as normalise does), it is the same curve
    reused = limiter_gain(env, 1.0, 44100, scale=3.0)
    assert limiter_gain(env, 1.0, 44100, out=reused) is reused
    np.testing.assert_array_equal(reused, g)


def test_a_gain_curve_in_steps_never_lets_a_peak_through(monkeypatch) -> None:
    import nightowl.podcast.loudness as loudness

    rng = np.random.default_rng(1)
    sr, step = 44100, 16
    # bursts of loud noise in a quiet bed: the limiter works hard at every burst's edges
    x = rng.standard_normal((200_003, 2)).astype(np.float32) * 0.05
    for at in range(1000, len(x), 23_456):
        x[at:at + 3000] *= 30
    per_sample = peak_envelope(x)
    env = peak_envelope(x, step)
    assert len(env) == -(-len(x) // step)
    padded = np.concatenate([per_sample, np.zeros(len(env) * step - len(x), np.float32)])
    np.testing.assert_array_equal(env, padded.reshape(-1, step).max(axis=1))
    curve = GainCurve(limiter_gain(env, 0.9, sr, step=step), step, len(x))
    g = curve.at(0, len(x))
    assert len(g) == len(x) and np.all(per_sample * g <= 0.9 * (1 + 1e-6)) and g.min() < 0.2
    assert np.abs(np.diff(g)).max() < 0.05  # ramps, not jumps
    # read back in pieces, the curve is the same
    np.testing.assert_array_equal(np.concatenate([curve.at(s, s + 999) for s in range(0, len(x), 999)]), g)
    # worked out in blocks, the envelope and the curve are the ones worked out whole
    monkeypatch.setattr(loudness, "BLOCK", 8192)
    np.testing.assert_allclose(peak_envelope(x, step), env, rtol=1e-5)  # (the resampler's rounding at block edges)
    np.testing.assert_array_equal(limiter_gain(env, 0.9, sr, step=step), curve.values)


@pytest.mark.parametrize("channels,rate", [(1, 16000), (2, 44100), (2, 48000)])
def test_streamed_loudness_is_pyloudnorms(speech: tuple[np.ndarray, int], channels: int, rate: int) -> None:
    import pyloudnorm
    import soxr

    x, sr = speech
    x = soxr.resample(x, sr, rate).astype(np.float32)
    audio = x if channels == 1 else np.stack([x, 0.4 * x[::-1]], axis=1)
    expected = pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64))
    assert integrated_lufs(audio, rate) == pytest.approx(expected, abs=1e-6)
    # a gain curve counts as if the audio had been multiplied by it
    curve = np.linspace(0.5, 2.0, len(audio)).astype(np.float32)
    scaled = audio * (curve[:, None] if channels == 2 else curve)
    assert integrated_lufs(audio, rate, GainCurve(curve, 1, len(audio))) == pytest.approx(
        pyloudnorm.Meter(rate).integrated_loudness(scaled.astype(np.float64)), abs=1e-4)
