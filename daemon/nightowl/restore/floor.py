"""The recording's noise floor, continued above the cutoff.

Every recording has a floor under its music: hiss, room tone, the dither of its
16-bit master (often noise-shaped, rising towards the top). It runs on to the top
of the band, and a lossy codec removes it above its lowpass together with the music.
Band replication cannot bring it back: a copy follows the music frame by frame and
falls silent where the music does, while the floor stays. So the floor is measured
where the input still has it, just under the cutoff (per bin, a low percentile over
the whole track: the level the band returns to between notes), its trend over
frequency is continued upwards, and it is filled in as steady noise. The deficit
gate treats it like the replica: it is added only where the input lacks it (and,
see the engine's FLOOR_ADDED_DB, somewhat under its level).

What it cannot do: a codec that thinned the floor under its own lowpass (MP3 at
128 kbps and below drops quiet high bands altogether) leaves too little to measure,
and then little or nothing is added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bandrep import fall_above_db
from .stft import HOP, N_FFT, bin_hz, frames_at

BAND_HZ = 4000.0  # the floor is read from this much under the cutoff...
GAP_HZ = 500.0  # ...ending this far under it, clear of the codec's transition band
PERCENTILE = 20.0  # of each bin's power over time: the floor, not the notes
MAX_FRAMES = 2000  # spread evenly over the track: enough for a percentile
# the floor's trend over frequency, dB per kHz: shaped dither rises by up to ~3 dB/kHz
# up there, hiss falls gently; steeper fits are the codec thinning the band
SLOPE_LIMITS_DB_KHZ = (-3.0, 4.0)
# the mean power of a noise whose power is exponentially distributed (a noise band in
# an STFT) lies this far above its PERCENTILE-th percentile: 10*log10(1/-ln(0.8)) = 6.5 dB
_MEAN_OVER_PERCENTILE_DB = float(10 * np.log10(1 / -np.log(1 - PERCENTILE / 100)))


@dataclass(frozen=True)
class FloorLine:
    """The floor's mean power (dB, in `stft` units) at the cutoff, and its slope (dB/kHz), per channel."""

    at_cutoff_db: tuple[float, ...]
    slope_db_khz: tuple[float, ...]


def measure_floor(x: np.ndarray, cutoff_bin: int, sample_rate: int) -> FloorLine | None:
    """The floor under the cutoff of (channels, samples) `x`, over the whole track;
    None where there is too little band or track to measure."""
    channels, n = x.shape
    hz = bin_hz(sample_rate)
    lo, hi = max(1, cutoff_bin - round(BAND_HZ / hz)), cutoff_bin - round(GAP_HZ / hz)
    if hi - lo < 8 or n < N_FFT:
        return None
    count = min(MAX_FRAMES, (n - N_FFT) // HOP + 1)
    starts = np.linspace(0, n - N_FFT, count).astype(np.int64)
    power = np.square(np.abs(frames_at(x, starts)[:, lo:hi]))
    floor_db = 10 * np.log10(np.percentile(power, PERCENTILE, axis=2) + 1e-20) + _MEAN_OVER_PERCENTILE_DB
    khz = (np.arange(lo, hi) - cutoff_bin) * hz / 1000.0
    at_cutoff, slopes = [], []
    for ch in range(channels):
        slope = float(np.clip(np.polyfit(khz, floor_db[ch], 1)[0], *SLOPE_LIMITS_DB_KHZ))
        # the line through each measured bin, at the cutoff: its median, so a few tonal
        # bins do not lift the floor
        at_cutoff.append(float(np.median(floor_db[ch] - slope * khz)))
        slopes.append(slope)
    return FloorLine(tuple(at_cutoff), tuple(slopes))


def floor_level_db(line: FloorLine, cutoff_bin: int, bins: int, sample_rate: int,
                   rolloff_hz: float | None = None, rolloff_db_khz: float = 0.0) -> np.ndarray:
    """The floor's level in each bin from `cutoff_bin` up: (channels, bins - cutoff_bin).
    It falls `rolloff_db_khz` per kHz above `rolloff_hz`."""
    hz = bin_hz(sample_rate)
    khz = (np.arange(cutoff_bin, bins) - cutoff_bin) * hz / 1000.0
    level = np.asarray(line.at_cutoff_db)[:, None] + np.asarray(line.slope_db_khz)[:, None] * khz
    return level - fall_above_db(np.arange(cutoff_bin, bins) * hz, rolloff_hz, rolloff_db_khz)


def floor_noise(level_db: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Steady noise at `level_db` (channels, bins from the cutoff up): the top bins of
    `noise.unit_noise` scaled, (channels, bins from the cutoff, frames), complex64."""
    bins = level_db.shape[1]
    gain = (10.0 ** (level_db / 20.0)).astype(np.float32)
    return noise[:, noise.shape[1] - bins:] * gain[:, :, None]
