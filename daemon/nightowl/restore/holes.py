"""Holes under the cutoff: high bands an MP3 encoder dropped for a moment, filled with noise.

An MP3 encoder short of bits drops its quietest high scale-factor bands for a
granule or a few: the band goes silent while the same band in the frames around
it, and the rest of the spectrum in the same frame, go on. The lossless check
counts these holes as evidence of a codec; here they are filled. (Which codecs
leave such holes is the engine's HOLE_CODECS.)

The estimate for a band in a frame is its own level in the frames around it (the
median over SPAN_FRAMES each side, which a hole does not drag down). A band is
filled only where it falls below that estimate *beyond what the whole frame dips*
(a note ending or a pause lowers every band at once and is left alone, a hole
lowers one band) by the deficit gate's threshold plus EXTRA_DEPTH_DB or more. The
fill is noise at the estimate's level less FILL_DB, faded in over the gate's range,
so the gate options that make restore more or less cautious do the same here.

What it cannot do: a band dropped for longer than about SPAN_FRAMES (0.17 s) takes
its own silence for its level and stays empty; what fills a hole is noise at a
plausible level, not the notes that were there.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from .gate import GateSettings, opening
from .stft import bin_hz

LOW_HZ = 8000.0  # holes are filled from here to the cutoff (lower down, codecs rarely drop bands)
REFERENCE_HZ = (1000.0, LOW_HZ)  # the frame's broadband level, to tell a hole from a pause
BAND_BINS = 8  # 345 Hz at 44.1 kHz: narrower than the high scale-factor bands
SPAN_FRAMES = 15  # each side: 0.17 s at a 512-sample hop
# the median is taken over every STEP-th frame of the span, at every STEP-th frame of the
# track (frames k * STEP), and held in between: a fifth of the cells and a fifth of each
# window, for much the same level (a median over all 31 frames made restore ~15% slower)
STEP = 5
# depth and level were set on the benchmark corpus (bench/restore.py), with the gate's
# default 10 dB threshold and range: at a depth of 20 dB LSD fell 0.2 points less;
# louder fills or shallower depths gained under 0.1 point more and cost SI-SDR
EXTRA_DEPTH_DB = 5.0
FILL_DB = -6.0


def _band_db(power: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Mean power (dB) of each BAND_BINS-wide band of bins lo..hi: (channels, bands, frames)."""
    bands = (hi - lo) // BAND_BINS
    grouped = power[:, lo:lo + bands * BAND_BINS].reshape(power.shape[0], bands, BAND_BINS, -1)
    return 10 * np.log10(grouped.mean(axis=2) + 1e-20)


def _around(level: np.ndarray, first_frame: int) -> np.ndarray:
    """The median of `level` (..., frames) over SPAN_FRAMES each side of every frame,
    on the track's grid of every STEP-th frame (`first_frame`: the first frame's place)."""
    frames = level.shape[-1]
    offset = -first_frame % STEP
    sampled = level[..., offset::STEP]
    if sampled.shape[-1] == 0:
        return np.median(level, axis=-1, keepdims=True) + np.zeros_like(level)
    size = (1,) * (level.ndim - 1) + (2 * (SPAN_FRAMES // STEP) + 1,)
    median = median_filter(sampled, size=size, mode="nearest")
    nearest = np.clip(np.round((np.arange(frames) - offset) / STEP).astype(np.int64), 0, sampled.shape[-1] - 1)
    return median[..., nearest]


def hole_gains(spec: np.ndarray, cutoff_bin: int, sample_rate: int, first_frame: int = 0,
               gate: GateSettings | None = None) -> tuple[int, np.ndarray | None]:
    """Where the holes under the cutoff of (channels, bins, frames) `spec` are, and how
    loud to fill them: the first bin of the filled range, and the amplitude to give unit
    noise in each bin from there to `cutoff_bin` (channels, bins, frames), zero where
    there is no hole; None when there is nothing to fill. `first_frame`: the place of
    the first frame in the track, so that blocks of one track agree. `gate`: the
    deficit gate's settings (default: its defaults)."""
    gate = gate or GateSettings()
    hz = bin_hz(sample_rate)
    bands = (cutoff_bin - int(np.ceil(LOW_HZ / hz))) // BAND_BINS
    lo = cutoff_bin - bands * BAND_BINS  # the bands end at the cutoff
    if bands < 1 or spec.shape[2] == 0:
        return cutoff_bin, None
    power = np.square(spec.real) + np.square(spec.imag)
    level = _band_db(power, lo, cutoff_bin)
    around = _around(level, first_frame)
    ref_lo, ref_hi = (round(f / hz) for f in REFERENCE_HZ)
    frame_db = 10 * np.log10(power[:, ref_lo:ref_hi].sum(axis=1, keepdims=True) + 1e-20)
    frame_dip = np.maximum(_around(frame_db, first_frame) - frame_db, 0.0)
    weight = opening(around - level - frame_dip - EXTRA_DEPTH_DB, gate)
    if not weight.any():
        return lo, None
    gain = weight * 10.0 ** ((around + FILL_DB) / 20.0)
    return lo, np.repeat(gain, BAND_BINS, axis=1).astype(np.float32)
