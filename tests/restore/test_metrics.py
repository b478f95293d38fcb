"""The restore yardsticks on real music (CC0 sonic-pi loop in tests/data) and known signals.

Lossy round trips are made at test time with the benchmark corpus's own helpers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from nightowl.restore.metrics import (
    align,
    bootstrap_ci,
    compare,
    hf_lsd,
    lsd,
    mr_stft,
    si_sdr,
)

from bench.transcode import Setting, roundtrip

DATA = Path(__file__).resolve().parents[1] / "data"
SR = 44100


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    """Three seconds of a drum loop with cymbals: energy right up to 22 kHz."""
    audio, sr = sf.read(DATA / "loop_amen_full.flac", dtype="float64", always_2d=True)
    assert sr == SR
    return audio[: 3 * SR]


@pytest.fixture(scope="module")
def aac_decoded(music: np.ndarray) -> np.ndarray:
    """The loop through AAC 128k: ADTS keeps the encoder's 1024 priming samples in front."""
    return roundtrip(music.astype(np.float32), SR, Setting("aac", "128k"))


def burst_and_harmonics(frames: int, seed: int = 0) -> np.ndarray:
    """Stereo test signal: decaying harmonics of 220 Hz plus noise bursts at random places."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / SR
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 9)) * np.exp(-t % 0.5 * 4)
    bursts = np.zeros(frames)
    for start in rng.integers(0, frames - 2000, size=12):
        bursts[start:start + 2000] += rng.normal(0, 0.3, 2000) * np.hanning(2000)
    mono = 0.2 * tone + bursts
    return np.stack([mono, 0.8 * mono + 0.05 * rng.normal(size=frames)], axis=1)


def lowpass(x: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """A codec-like brick wall: elliptic, 120 dB stopband, zero phase."""
    sos = scipy.signal.ellip(12, 0.01, 120, cutoff_hz, fs=SR, output="sos")
    return scipy.signal.sosfiltfilt(sos, x, axis=0)


# --- align ---------------------------------------------------------------------------


@pytest.mark.parametrize("lag", [1105, -312, 2112, 0, -1])
def test_align_recovers_a_known_delay_exactly(lag: int) -> None:
    n, pad = 2 * SR, 4000
    source = burst_and_harmonics(n + 2 * pad)
    reference = source[pad:pad + n]
    estimate = source[pad - lag:pad - lag + n]  # estimate[i + lag] == reference[i]

    est, ref, found = align(estimate, reference, SR)

    assert found == lag
    assert est.shape == ref.shape == (n - abs(lag), 2)
    np.testing.assert_array_equal(est, ref)


def test_align_finds_the_aac_priming_delay(music: np.ndarray, aac_decoded: np.ndarray) -> None:
    _, _, lag = align(aac_decoded, music, SR)

    assert lag == 1024


def test_align_recovers_mp3_decoder_delay(music: np.ndarray) -> None:
    # FFmpeg trims MP3 priming by the LAME tag; a decoder that ignores it hands back 1105 more samples
    decoded = roundtrip(music.astype(np.float32), SR, Setting("mp3", "128k"))
    untrimmed = np.concatenate([np.zeros((1105, 2), dtype=np.float32), decoded])

    _, _, lag = align(untrimmed, music, SR)

    assert lag == 1105


def test_align_of_a_silent_estimate_is_zero_lag(music: np.ndarray) -> None:
    _, _, lag = align(np.zeros_like(music), music, SR)

    assert lag == 0


def test_align_looks_no_further_than_max_delay() -> None:
    source = burst_and_harmonics(SR + 10000)
    _, _, lag = align(source[:SR], source[5000:5000 + SR], SR, max_delay_s=0.05)

    assert abs(lag) <= round(0.05 * SR)


# --- lsd -----------------------------------------------------------------------------


def test_lsd_of_identical_signals_is_zero(music: np.ndarray) -> None:
    assert lsd(music, music, SR) == 0.0
    assert hf_lsd(music, music, SR, 16000) == 0.0


def test_lsd_follows_its_written_definition(music: np.ndarray) -> None:
    # Frame by frame, as the docstring states it: periodic Hann 2048, hop 512, |X|^2,
    # eps 1e-10 on both sides, reference frames with every bin below eps left out.
    reference = music[:20000].copy()
    reference[:6000] = 0.0
    estimate = 0.7 * reference + np.random.default_rng(6).normal(0, 1e-3, reference.shape)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)
    freqs = np.fft.rfftfreq(2048, 1 / SR)
    in_band = (freqs >= 5000) & (freqs <= 12000)
    values = []
    for c in range(2):
        for start in range(0, len(reference) - 2048 + 512, 512):  # the last start covers the tail
            tail = max(0, start + 2048 - len(reference))
            p_est, p_ref = (np.abs(np.fft.rfft(window * np.pad(x[start:start + 2048, c], (0, tail)))) ** 2
                            for x in (estimate, reference))
            if np.all(p_ref < 1e-10):
                continue
            diff = 10 * np.log10(p_ref[in_band] + 1e-10) - 10 * np.log10(p_est[in_band] + 1e-10)
            values.append(np.sqrt(np.mean(diff**2)))

    assert lsd(estimate, reference, SR, band=(5000, 12000)) == pytest.approx(np.mean(values), rel=1e-12)


def test_lsd_of_a_copy_6db_down_is_6db(music: np.ndarray) -> None:
    assert lsd(music * 10 ** (-6 / 20), music, SR) == pytest.approx(6.0, abs=0.01)


def test_removing_the_band_above_16k_costs_there_and_only_there(music: np.ndarray) -> None:
    cut = lowpass(music, 16000)

    assert lsd(cut, music, SR) > 20.0
    assert hf_lsd(cut, music, SR, 16000) > 30.0
    assert lsd(cut, music, SR, band=(0, 15000)) < 0.1


def test_frames_where_the_reference_is_digitally_silent_are_skipped(music: np.ndarray) -> None:
    # Reference silent for its first second; the estimate has noise there, but only in
    # samples that no frame reaching into the music covers (frames are 2048 long).
    reference = music.copy()
    reference[:SR] = 0.0
    estimate = reference.copy()
    estimate[:SR - 2048] = np.random.default_rng(0).normal(0, 0.1, (SR - 2048, 2))

    assert lsd(estimate, reference, SR) == 0.0


def test_lsd_covers_the_last_samples_too(music: np.ndarray) -> None:
    reference = music[:SR + 1000]  # not a whole number of hops
    estimate = reference.copy()
    estimate[-10:] = 0.0

    assert lsd(estimate, reference, SR) > 0.0


def test_lsd_of_a_silent_reference_is_an_error(music: np.ndarray) -> None:
    with pytest.raises(ValueError, match="silent"):
        lsd(music, np.zeros_like(music), SR)


def test_metrics_refuse_signals_of_different_shape(music: np.ndarray) -> None:
    with pytest.raises(ValueError, match="align"):
        lsd(music[1:], music[:-1][:, :1], SR)
    with pytest.raises(ValueError, match="align"):
        si_sdr(music[100:], music)


def test_metrics_refuse_channels_first_arrays(music: np.ndarray) -> None:
    with pytest.raises(ValueError, match="frames, channels"):
        si_sdr(music.T, music.T)


# --- si_sdr --------------------------------------------------------------------------


def test_si_sdr_ignores_gain(music: np.ndarray) -> None:
    noisy = music + np.random.default_rng(1).normal(0, 0.01, music.shape)

    assert si_sdr(0.25 * noisy, music) == pytest.approx(si_sdr(noisy, music), abs=1e-9)
    assert si_sdr(-3.0 * noisy, -music) == pytest.approx(si_sdr(noisy, music), abs=1e-9)


def test_si_sdr_of_a_copy_with_noise_30db_down_is_about_30db(music: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    noise = rng.normal(size=music.shape)
    noise *= np.sqrt(np.mean((music - music.mean(0)) ** 2, axis=0) / np.mean(noise**2, axis=0)) * 10 ** (-30 / 20)

    value = si_sdr(music + noise, music)

    assert np.isfinite(value)
    assert value == pytest.approx(30.0, abs=0.5)


def test_si_sdr_of_identical_signals_is_finite(music: np.ndarray) -> None:
    assert 100.0 < si_sdr(music, music) < np.inf


def test_si_sdr_collapses_without_alignment_and_recovers_with_it(
    music: np.ndarray, aac_decoded: np.ndarray
) -> None:
    est, ref, _ = align(aac_decoded, music, SR)

    assert si_sdr(aac_decoded, music) < 0.0
    assert si_sdr(est, ref) > 15.0


def test_si_sdr_of_a_silent_reference_is_an_error(music: np.ndarray) -> None:
    with pytest.raises(ValueError, match="silent"):
        si_sdr(music, np.zeros_like(music))


# --- mr_stft -------------------------------------------------------------------------


def test_mr_stft_is_zero_for_identical_signals_and_positive_otherwise(music: np.ndarray) -> None:
    second = music[:SR]  # torch's STFTs are the slow part; one second says as much

    assert mr_stft(second, second, SR) == 0.0
    assert mr_stft(lowpass(second, 16000), second, SR) > 0.1
    assert mr_stft(second[:, 0] * 0.5, second[:, 0], SR) > 0.1


def test_importing_the_metrics_does_not_load_torch() -> None:
    code = "import sys, nightowl.restore.metrics; print('torch' in sys.modules, 'auraloss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.split() == ["False", "False"]


# --- bootstrap_ci --------------------------------------------------------------------


def test_bootstrap_interval_contains_the_true_mean() -> None:
    deltas = np.random.default_rng(3).normal(0.5, 1.0, 200)

    mean, lo, hi = bootstrap_ci(deltas)

    assert mean == pytest.approx(deltas.mean())
    assert lo < 0.5 < hi
    assert lo < mean < hi


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(4)
    hits = [lo < 1.0 < hi for _, lo, hi in (bootstrap_ci(rng.exponential(1.0, 60), n=2000, seed=k) for k in range(200))]

    assert 0.88 <= np.mean(hits) <= 0.99


def test_bootstrap_is_deterministic_with_a_seed() -> None:
    deltas = np.random.default_rng(5).normal(0.0, 1.0, 50)

    assert bootstrap_ci(deltas, seed=7) == bootstrap_ci(deltas, seed=7)
    assert bootstrap_ci(deltas, seed=7) != bootstrap_ci(deltas, seed=8)


def test_bootstrap_of_a_constant_difference_is_that_constant() -> None:
    assert bootstrap_ci(np.full(30, 1.5)) == (1.5, 1.5, 1.5)


# --- compare -------------------------------------------------------------------------


def test_compare_aligns_then_reports_every_metric(music: np.ndarray, aac_decoded: np.ndarray) -> None:
    result = compare(aac_decoded[: SR + 2000], music[:SR], SR, cutoff_hz=16000)

    assert set(result) == {"lsd", "hf_lsd", "mr_stft", "si_sdr", "lag"}
    assert result["lag"] == 1024
    assert result["si_sdr"] > 15.0
    assert result["hf_lsd"] > result["lsd"] > 0.0
    assert result["mr_stft"] > 0.0
