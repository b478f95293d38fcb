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
from .stft import HOP, N_FFT, WINDOW_POWER, bin_hz, frames_at

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
NOISE_CHUNK = 64  # hops: the noise is drawn in chunks seeded by their place in the track


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


def unit_noise(channels: int, first_bin: int, frames: int, first_frame: int = 0, seed: int = 0) -> np.ndarray:
    """The STFT of white noise of mean power 1 in every bin, for bins from `first_bin`
    up and `frames` frames: (channels, bins, frames), complex64.

    The noise is drawn as samples and analysed, not drawn as STFT coefficients: a
    spectrum of independent random coefficients is one no signal has, and overlap-add
    keeps only a quarter of its power (6 dB measured), so the gate would judge a floor
    4 times louder than the one it adds. `first_frame`: the place of the first frame in
    the track (frame k starts at sample k * HOP - N_FFT, as `stft` pads), so blocks of
    one track processed apart draw the same noise. It is unrelated to the music, so
    added to it their powers add.
    """
    bins = N_FFT // 2 + 1 - first_bin
    if frames == 0:
        return np.zeros((channels, bins, 0), dtype=np.complex64)
    start = first_frame * HOP - N_FFT  # the first sample the frames read, in the track
    length = (frames - 1) * HOP + N_FFT
    chunk = NOISE_CHUNK * HOP
    first_chunk, end_chunk = start // chunk, -(-(start + length) // chunk)
    samples = np.concatenate(
        [np.random.default_rng([seed, k + 2**20]).standard_normal((channels, chunk), dtype=np.float32)
         for k in range(first_chunk, end_chunk)], axis=1)
    samples = samples[:, start - first_chunk * chunk:][:, :length]
    spec = frames_at(samples, np.arange(frames) * HOP)[:, first_bin:]
    return spec * np.float32(1 / np.sqrt(WINDOW_POWER))


def floor_noise(level_db: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Steady noise at `level_db` (channels, bins from the cutoff up): the top bins of
    `unit_noise` scaled, (channels, bins from the cutoff, frames), complex64."""
    bins = level_db.shape[1]
    gain = (10.0 ** (level_db / 20.0)).astype(np.float32)
    return noise[:, noise.shape[1] - bins:] * gain[:, :, None]
