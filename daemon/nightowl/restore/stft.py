"""The one STFT the restore engines share (analysis, synthesis, tiles).

N_FFT 2048 at 44.1 kHz gives 21.5 Hz bins and 46 ms frames. The hop is N_FFT/4 so
that moving a band up by a multiple of 4 bins keeps its phase consistent from frame
to frame (a shift of k bins advances the phase by 2*pi*k*HOP/N_FFT per hop, a whole
turn when k is a multiple of 4): band replication then needs no phase vocoder.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

N_FFT = 2048
HOP = N_FFT // 4
SHIFT_STEP = N_FFT // HOP  # band shifts are multiples of this many bins
_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann
# Hann analysis x Hann synthesis at a quarter-frame hop overlaps to exactly 1.5
WINDOW_POWER = float(np.sum(_WINDOW**2))  # mean power of unit white noise in every bin
_OLA_GAIN = WINDOW_POWER / HOP


def bin_hz(sample_rate: int) -> float:
    return sample_rate / N_FFT


def stft(x: np.ndarray) -> np.ndarray:
    """(channels, samples) float -> (channels, N_FFT//2 + 1, frames) complex64.

    The signal is padded by N_FFT on both sides, so every sample is covered by
    four full frames and `istft` inverts it exactly.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    channels, n = x.shape
    frames = (n + N_FFT) // HOP + 1
    padded = np.zeros((channels, (frames - 1) * HOP + N_FFT), dtype=np.float32)
    padded[:, N_FFT:N_FFT + n] = x
    strided = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=1)[:, ::HOP]
    # float32 in, complex64 out: scipy keeps single precision, numpy would double the cost
    return scipy.fft.rfft(strided * _WINDOW, axis=2).transpose(0, 2, 1)


def frames_at(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Spectra of the N_FFT-sample frames of (channels, samples) `x` that start at
    `starts`, in `stft`'s units: (channels, N_FFT//2 + 1, len(starts)) complex64."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT, axis=1)[:, np.asarray(starts, dtype=np.int64)]
    return scipy.fft.rfft(frames * _WINDOW, axis=2).transpose(0, 2, 1)


def istft(spec: np.ndarray, length: int) -> np.ndarray:
    """Inverse of `stft` (weighted overlap-add): (channels, bins, frames) -> (channels, length)."""
    channels, _, frames = spec.shape
    blocks = scipy.fft.irfft(spec.transpose(0, 2, 1), n=N_FFT, axis=2) * _WINDOW
    out = np.zeros((channels, (frames - 1) * HOP + N_FFT), dtype=np.float32)
    for k in range(N_FFT // HOP):
        # frames k, k+4, k+8... do not overlap each other: add them with one reshape
        part = blocks[:, k::N_FFT // HOP]
        start = k * HOP
        span = part.shape[1] * N_FFT
        out[:, start:start + span] += part.reshape(channels, span)
    return out[:, N_FFT:N_FFT + length] / _OLA_GAIN
