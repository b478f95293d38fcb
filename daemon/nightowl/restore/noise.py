"""The noise the engine adds (the floor above the cutoff, the fill of MP3's holes) and
the dither its edge search measures over: white noise, the same on every run.

It is one table of PERIOD samples per seed, repeated: the noise at a place in the
track depends only on that place, so blocks processed apart draw the same noise, and
its spectrum is computed once per track instead of once per block (drawing and
analysing fresh noise for every block was a sixth of the engine's time). A period of
24 s is far longer than anyone can hear noise repeat (frozen noise is recognised
at periods of a second or two), and the noise lies under the music's own floor.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .stft import HOP, N_FFT, WINDOW_POWER, frames_at

PERIOD = 2**20  # samples: 23.8 s at 44.1 kHz, a whole number of hops
_PERIOD_FRAMES = PERIOD // HOP


@lru_cache(maxsize=4)
def table(channels: int, seed: int) -> np.ndarray:
    """One period of unit-variance white noise: (channels, PERIOD) float32, read-only."""
    out = np.random.default_rng([seed, 2**20]).standard_normal((channels, PERIOD), dtype=np.float32)
    out.flags.writeable = False
    return out


def samples(channels: int, length: int, seed: int) -> np.ndarray:
    """`length` samples of the repeated table from the track's start: (channels, length)."""
    return np.tile(table(channels, seed), -(-length // PERIOD))[:, :length]


@lru_cache(maxsize=2)
def _spectrum(channels: int, seed: int) -> np.ndarray:
    """The `stft` frames of the repeated table, one period of them, scaled to mean power 1
    per bin: (channels, PERIOD // HOP frames, bins) complex64 (frames first, so taking a
    run of frames copies contiguous rows)."""
    noise = table(channels, seed)
    wrapped = np.concatenate([noise, noise[:, :N_FFT]], axis=1)
    spec = frames_at(wrapped, np.arange(_PERIOD_FRAMES) * HOP) * np.float32(1 / np.sqrt(WINDOW_POWER))
    out = np.ascontiguousarray(spec.transpose(0, 2, 1))
    out.flags.writeable = False
    return out


def unit_noise(channels: int, first_bin: int, frames: int, first_frame: int = 0, seed: int = 0) -> np.ndarray:
    """The `stft` of the noise, mean power 1 in every bin, for bins from `first_bin` up and
    `frames` frames starting at frame `first_frame` of the track (frame k starts at sample
    k * HOP - N_FFT, as `stft` pads): (channels, bins, frames), complex64.

    The noise is drawn as samples and analysed, not drawn as STFT coefficients: a
    spectrum of independent random coefficients is one no signal has, and overlap-add
    keeps only a quarter of its power (6 dB measured), so the gate would judge a floor
    4 times louder than the one it adds. It is unrelated to the music, so added to it
    their powers add.
    """
    spec = _spectrum(channels, seed)
    index = (first_frame - N_FFT // HOP + np.arange(frames)) % _PERIOD_FRAMES
    return spec[:, index, first_bin:].transpose(0, 2, 1)


def forget() -> None:
    """Drop the cached tables, as a fresh process starts (for benchmarks that time one)."""
    table.cache_clear()
    _spectrum.cache_clear()
