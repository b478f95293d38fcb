"""Short-time spectra shared by the lossless check and the spectrogram image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

N_FFT = 4096  # 10.8 Hz bins at 44.1 kHz: fine enough to see a lowpass edge within ~50 Hz
HOP = 2048


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Mid channel: codec lowpasses act on every channel alike, so mid shows them all."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        return x
    if x.shape[1] == 2:  # numpy's mean over a 2-long axis is several times slower than this
        return (x[:, 0] + x[:, 1]) * np.float32(0.5)
    return x.mean(axis=1)


def power_frames(
    excerpts: Sequence[np.ndarray] | np.ndarray,
    sample_rate: int,
    *,
    n_fft: int = N_FFT,
    hop: int = HOP,
    max_frames: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra of Hann-windowed frames (1.0 = full-scale sine), float32.

    Returns (freqs in Hz, power shaped (frames, bins)); excerpts are framed
    separately so no frame straddles a seek gap. `max_frames` spreads the frames
    evenly over the audio (cheap spectrograms of long files).
    """
    if isinstance(excerpts, np.ndarray):
        excerpts = [excerpts]
    window = np.hanning(n_fft).astype(np.float32)
    scale = (window.sum() / 2) ** 2
    chunks = []
    for ex in excerpts:
        x = to_mono(ex)
        if len(x) < n_fft:
            x = np.pad(x, (0, n_fft - len(x))) if len(x) >= n_fft // 4 else x[:0]
        if len(x) == 0:
            continue
        chunks.append(np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop])
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    if not chunks:
        return freqs, np.zeros((0, len(freqs)), dtype=np.float32)
    rows = sum(len(c) for c in chunks)
    if max_frames is not None and rows > max_frames:
        frames = np.concatenate(chunks)[np.linspace(0, rows - 1, max_frames).astype(int)]
        frames *= window
    else:  # windowed straight out of the excerpts: one pass, no unwindowed copy
        frames = np.empty((rows, n_fft), dtype=np.float32)
        pos = 0
        for c in chunks:
            np.multiply(c, window, out=frames[pos:pos + len(c)])
            pos += len(c)
    # (a fresh array either way: transformed in place)
    # float32 in, complex64 out: half numpy's cost
    spectra = scipy.fft.rfft(frames, axis=1, overwrite_x=True)
    power = np.square(spectra.real)
    power += np.square(spectra.imag)
    power *= np.float32(1.0 / scale)
    return freqs, power


def to_db(power: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.asarray(power) + 1e-20)


def spectrum_frames(
    excerpts: Sequence[np.ndarray] | np.ndarray,
    sample_rate: int,
    *,
    n_fft: int = N_FFT,
    hop: int = HOP,
    max_frames: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Like `power_frames`, in dB (0 dB = full-scale sine)."""
    freqs, power = power_frames(excerpts, sample_rate, n_fft=n_fft, hop=hop, max_frames=max_frames)
    return freqs, to_db(power).astype(np.float32)


def power_mean_db(db: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean in the power domain, in dB (what a long-term spectrum averages)."""
    return 10.0 * np.log10(np.mean(10.0 ** (np.asarray(db, dtype=np.float64) / 10.0), axis=axis) + 1e-20)


def smooth(db: np.ndarray, bins: int) -> np.ndarray:
    """Moving average along the last axis (in the power domain, returned in dB)."""
    if bins <= 1:
        return db
    p = 10.0 ** (db / 10.0)
    k = np.ones(bins) / bins
    if p.ndim == 1:
        out = np.convolve(p, k, mode="same")
    else:
        c = np.cumsum(np.pad(p, ((0, 0), (bins // 2 + 1, bins - bins // 2 - 1)), mode="edge"), axis=1)
        out = (c[:, bins:] - c[:, :-bins]) / bins
    return 10.0 * np.log10(out + 1e-20)
