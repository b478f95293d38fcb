"""The DSP engine: band replication shaped to an extrapolated spectral envelope.

What it does, per STFT frame: take the band just under the cutoff, move it up
(whole multiples of 4 bins, so its phase stays consistent from frame to frame,
see stft.py), flatten its own envelope, give it the envelope the music under the
cutoff predicts above it, and turn its phase by a fixed random angle that drifts
slowly across frequency, so the copy does not sound like an echo of the band it
came from. The result is an
estimate of the missing band; the deficit gate decides where any of it is used.

What it cannot do: know what was really there. Harmonics that lay above the
cutoff come back as a transposed copy of what lay below; the level follows the
trend of the music under the cutoff. It is a plausible synthesis, not recovered data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stft import SHIFT_STEP, bin_hz

GUARD_HZ = 250.0  # codecs already thin out the last few hundred hertz under their lowpass
# the per-frame level is read from 3 kHz of the band ending 1.5 kHz under the cutoff: the
# last kilohertz or so under a codec's lowpass is already thinned (transition band, bands
# the encoder dropped), so a level read there comes out several dB low
LEVEL_BAND_HZ = 3000.0
LEVEL_GAP_HZ = 1500.0
SLOPE_BAND_HZ = 6000.0  # the long-term slope is fitted over this much
SMOOTH_HZ = 1000.0  # the envelope a copied band is flattened by
# spectral slope above the cutoff, dB per kHz: music keeps falling up there. The fit
# is made on a band the encoder has already thinned towards its lowpass, so a fit
# steeper than -1 dB/kHz is mostly the encoder's doing (on the benchmark's real
# sources the top band falls 0-1 dB/kHz); the clamp also keeps one loud cymbal or a
# dull mix from sending the estimate anywhere odd
SLOPE_LIMITS_DB_KHZ = (-1.0, 0.0)
# how much of the copied band's own peaks and dips is kept (0: a smooth envelope, 1: all).
# A quarter keeps transients and some tonal texture; the full structure of the band
# below sounds like a copy and measures worse against real top bands (log-spectral distance)
FINE_STRUCTURE = 0.25
# the copy's phase turn: random angles this far apart in frequency, joined linearly.
# A turn drawn afresh for every bin makes a spectrum no signal has: overlap-add then
# cancels part of it (about 4 dB of the copy's level on real music) and smears it in
# time. A turn that drifts slowly is a short all-pass filter, which keeps both.
TURN_STEP_HZ = 1000.0


@dataclass(frozen=True)
class Envelope:
    """The long-term shape the replica is given (dB per kHz, measured once per file)."""

    slope_db_khz: float
    gain_db: float = 0.0  # overall level of the replica against the extrapolated envelope
    # a steeper fall from here up (dB per kHz), where a master's own anti-alias filter
    # or what lies above a 20 kHz codec wall makes the plain slope too hopeful
    rolloff_hz: float | None = None
    rolloff_db_khz: float = 0.0


def fall_above_db(freqs_hz: np.ndarray, start_hz: float | None, db_khz: float) -> np.ndarray:
    """How far (dB) a level falling `db_khz` per kHz above `start_hz` lies under its trend
    at `freqs_hz`; zero everywhere when there is no such fall (`start_hz` None)."""
    if start_hz is None:
        return np.zeros_like(freqs_hz, dtype=float)
    return db_khz * np.maximum(freqs_hz - start_hz, 0.0) / 1000.0


def _band_mean(power: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return power[:, lo:hi].mean(axis=1)


def _moving_mean(power: np.ndarray, width: int) -> np.ndarray:
    """Moving average along the bin axis of (channels, bins, frames), edges shrink the window."""
    c = np.cumsum(power, axis=1, dtype=np.float64)
    c = np.concatenate([np.zeros_like(c[:, :1]), c], axis=1)
    n = power.shape[1]
    half = width // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return ((c[:, hi] - c[:, lo]) / (hi - lo)[None, :, None]).astype(np.float32)


def fit_slope(long_term_db: np.ndarray, freqs: np.ndarray, cutoff_hz: float) -> float:
    """Slope (dB/kHz) of the long-term spectrum under the cutoff, clamped to what music does."""
    band = (freqs >= cutoff_hz - GUARD_HZ - SLOPE_BAND_HZ) & (freqs < cutoff_hz - GUARD_HZ)
    if band.sum() < 8:
        return SLOPE_LIMITS_DB_KHZ[0]
    slope = float(np.polyfit(freqs[band] / 1000.0, long_term_db[band], 1)[0])
    return float(np.clip(slope, *SLOPE_LIMITS_DB_KHZ))


def shift_bins(cutoff_bin: int, bins: int, guard_bins: int) -> int:
    """How far the band is moved up: far enough to fill the gap in one copy where the band
    under the cutoff is wide enough, never reaching down below half the cutoff."""
    want = bins - cutoff_bin + guard_bins
    room = (cutoff_bin - guard_bins) // 2
    return max(SHIFT_STEP, min(want, room) // SHIFT_STEP * SHIFT_STEP)


def replicate(spec: np.ndarray, cutoff_bin: int, sample_rate: int, envelope: Envelope,
              seed: int = 0) -> np.ndarray:
    """Estimate of the band at and above `cutoff_bin`; zero below it. Same shape as `spec`."""
    _, bins, frames = spec.shape
    out = np.zeros_like(spec)
    if cutoff_bin >= bins - 1 or frames == 0:
        return out
    hz = bin_hz(sample_rate)
    guard = round(GUARD_HZ / hz)
    top = cutoff_bin - guard  # the copied band ends here
    shift = shift_bins(cutoff_bin, bins, guard)
    targets = np.arange(cutoff_bin, bins)
    # each target bin comes from the bin `m` shifts below it that lands under `top`
    m = np.ceil((targets - top + 1) / shift).astype(int)
    sources = targets - m * shift

    power = np.square(np.abs(spec[:, :top]))
    # per-frame level: the mean power of LEVEL_BAND_HZ ending LEVEL_GAP_HZ under the cutoff, per channel
    level_hi = cutoff_bin - round(LEVEL_GAP_HZ / hz)
    level_lo = max(0, level_hi - round(LEVEL_BAND_HZ / hz))
    level_db = 10 * np.log10(_band_mean(power, level_lo, level_hi) + 1e-12)  # (channels, frames)
    level_hz = (level_lo + level_hi) / 2 * hz

    # flatten the copied bins by their own local envelope, then impose the target one
    width = max(3, round(SMOOTH_HZ / hz) | 1)
    lo = max(0, int(sources.min()) - width)  # only the copied band and its neighbourhood
    local = _moving_mean(power[:, lo:top], width)
    src = spec[:, sources, :]
    src_mag = np.abs(src)
    flat = (src_mag / np.sqrt(local[:, sources - lo, :] + 1e-12)) ** FINE_STRUCTURE

    rel_db = envelope.slope_db_khz * (targets * hz - level_hz) / 1000.0
    rel_db = rel_db - fall_above_db(targets * hz, envelope.rolloff_hz, envelope.rolloff_db_khz)
    target_db = level_db[:, None, :] + (rel_db + envelope.gain_db)[None, :, None]
    mag = flat * (10.0 ** (target_db / 20.0)).astype(np.float32)

    # a fixed random turn, the same in every channel (keeps the stereo image)
    step = max(1, round(TURN_STEP_HZ / hz))
    knots = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(targets) // step + 2)
    angles = np.interp(np.arange(len(targets)) / step, np.arange(len(knots)), knots)
    turn = np.exp(1j * angles).astype(np.complex64)
    phase = src / np.maximum(src_mag, 1e-12)
    out[:, cutoff_bin:, :] = mag * phase * turn[None, :, None]
    return out

