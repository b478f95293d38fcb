"""Restore a decoded track: find its cutoff, estimate the missing band, gate it in.

Works block by block (51 s with context on both sides) so memory stays flat for
long tracks; blocks start on the gate's tile grid, so the result does not depend
on where the blocks fall. What the engine adds is a residual: where the gate adds
nothing, the output samples are the input samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import soxr

from ..classify.lossless import NEAR_20K_HZ, measure_power
from ..classify.spectral import power_frames, smooth, to_db
from .bandrep import GUARD_HZ, Envelope, fit_slope, replicate
from .floor import floor_level_db, floor_noise, measure_floor
from .gate import TILE_FRAMES, GateSettings, gate_weights, residual
from .holes import hole_gains
from .noise import samples, unit_noise
from .stft import HOP, N_FFT, bin_hz, istft, stft

SAMPLE_RATE = 44100
DEFAULT_GATE = GateSettings()
BLOCK = 2 * 3 * 3 * 7 * 7 * TILE_FRAMES * HOP  # 2,257,920 samples (51 s) on the tile grid
CONTEXT = 4 * TILE_FRAMES * HOP  # 0.23 s each side: covers a frame and a tile
SLOPE_FRAMES = 2000
MIN_DROP_DB = 15.0  # an edge weaker than this is not a lowpass worth filling...
# ...unless the input is known to have been through a lossy codec (a lossy file, or one the
# lossless check called transcoded): every such codec has a lowpass, and over dull music
# or a quiet floor its edge falls by less. Genuine files in the corpus edge by up to 12 dB
# (see the lossless check), so this is kept for known lossy inputs only.
LOSSY_MIN_DROP_DB = 8.0
# level of the replica against the extrapolated envelope: a little under it, because
# whatever is added above the cutoff is unrelated to what was there and counts as noise
# to SI-SDR (at 0 dB the benchmark's mean SI-SDR fell 0.11 dB, at -2 dB 0.07 dB, for
# an LSD 0.4 points better)
DSP_GAIN_DB = -2.0
# a lowpass at or above this is left alone: 44.1 kHz masters often end there themselves
# (anti-alias filters), and what lies above is beyond nearly every adult's hearing...
MAX_CUTOFF_HZ = 19500.0
# ...unless it is a wall: Opus stops every file at 20 kHz, MP3 at 256-320k near it, with
# a fall of 20 dB or more to digital silence, which no master's own filter leaves
# (genuine files in the benchmark corpus edge there by 17 dB at most); the lossless
# check names the codec from the same zone
WALL_MAX_HZ = NEAR_20K_HZ[1]
WALL_MIN_DROP_DB = 20.0
# What lies above ~20 kHz depends on how the music was made, and the trend of the
# spectrum under the cutoff tells the two kinds apart. Recorded music falls steadily
# towards the top (by 1.2-3.6 dB/kHz over the 10 kHz under the cutoff, in the corpus's
# real recordings) and goes on doing so past 20 kHz, by a few dB at most. Music still
# level up there (-1.3 to +0.5 dB/kHz in the corpus's synthesised renders) was made at
# its sample rate, and that rate's anti-alias filter ends it at 20-21 kHz, 25-30 dB
# down within 2 kHz. So above TOP_HZ (or above a wall, from the wall up) the estimate
# falls TOP_FALL_DB_KHZ[1] per kHz where the trend is level, not at all where it falls
# steadily, and in between by interpolation over TREND_DB_KHZ. (A tonal recording that
# happens to be level up there is given the steep fall: the cautious side.) The two
# ends of TREND_DB_KHZ were set on the benchmark corpus's 23 sources.
TOP_HZ = 20000.0
TREND_BAND_HZ = 10000.0
TREND_DB_KHZ = (-1.5, -0.5)
TOP_FALL_DB_KHZ = (0.0, 20.0)
# the noise floor (see floor.py) is added after any resampling in mastering, so it
# reaches further up: it falls at most this fast (set on the benchmark corpus: at 8 dB/kHz
# LSD fell 0.1 points less, at 4 one synthesised render came out worse than its input)
FLOOR_TOP_FALL_DB_KHZ = 6.0

# The gate judges the floor at its measured level (does the input lack it there?), but
# what is added is this far under it: the noise is unrelated to what was there, so to
# SI-SDR it is error (a recording's hiss restored at its level doubles the error over
# the band; on the corpus's near-transparent transcodes that cost SI-SDR 0.13 dB on
# average at 0 dB, 0.09 dB at -6, for 0.5 points of LSD)
FLOOR_ADDED_DB = -6.0
# Codecs whose holes under the cutoff are filled (see holes.py). MP3 encoders drop high
# scale-factor bands outright when short of bits; AAC encoders mark such bands for noise
# substitution and Opus folds spectrum into them, so their decodes have no holes to fill
# (on the benchmark corpus, filling what looked like holes made AAC and Opus clips
# slightly worse, MP3 ones clearly better)
HOLE_CODECS = frozenset({"mp3"})
DITHER_SEED = 2  # the edge search's dither; the noise that is added draws from seed 0
# Codecs put their lowpass this low only at low bitrates; higher up the file's bitrate or
# a resampler's wall must vouch for an edge, otherwise it is taken for the end of the
# instruments' own range (a piano rendered from samples can stop at 12 kHz) and kept.
LOW_CUTOFF_HZ = 14000.0
LOW_BITRATE_KBPS = 96.0  # stereo rate under which codecs' lowpasses fall below LOW_CUTOFF_HZ
STANDARD_NYQUISTS_HZ = (8000.0, 11025.0, 16000.0)  # of 16, 22.05 and 32 kHz files


class Estimator(Protocol):
    """An engine that proposes the full spectrum; the gate decides what of it is used."""

    name: str
    version: str

    def estimate(self, spec: np.ndarray, cutoff_bin: int, replica: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Cutoff:
    hz: float | None  # None: no lowpass edge, nothing to restore
    slope_db_khz: float = 0.0
    drop_db: float = 0.0
    # slope of the long-term spectrum over the TREND_BAND_HZ under the cutoff, unclamped
    trend_db_khz: float = 0.0


@dataclass
class Restored:
    audio: np.ndarray  # (frames, channels) float32 at SAMPLE_RATE
    sample_rate: int
    cutoff: Cutoff
    engine: str
    changed_share: float = 0.0  # share of the time-frequency plane above the cutoff that was filled
    hole_share: float = 0.0  # share of the plane from holes.LOW_HZ to the cutoff filled as holes
    timings: dict[str, float] = field(default_factory=dict)


def to_output_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample to 44.1 kHz with soxr's very-high-quality filter (no-op when already there)."""
    if sample_rate == SAMPLE_RATE:
        return audio
    return soxr.resample(audio, sample_rate, SAMPLE_RATE, quality="VHQ").astype(np.float32)


def plausible_cutoff(hz: float, bitrate_kbps: float | None = None, channels: int = 2,
                     drop_db: float = 0.0, lossy: bool = False) -> bool:
    """Is an edge at `hz` (falling `drop_db` there) a codec's or a resampler's doing,
    not where the music itself ends? `lossy`: the input is known to come from a codec,
    which then vouches for a wall however shallow (dull music falls less there)."""
    if hz >= MAX_CUTOFF_HZ:
        return hz < WALL_MAX_HZ and (lossy or drop_db >= WALL_MIN_DROP_DB)
    if hz >= LOW_CUTOFF_HZ:
        return True
    if any(0.93 * n <= hz <= 0.965 * n for n in STANDARD_NYQUISTS_HZ):  # as the lossless check
        return True
    stereo_rate = None if not bitrate_kbps else bitrate_kbps * (2 if channels == 1 else 1)
    return stereo_rate is not None and stereo_rate < LOW_BITRATE_KBPS


def find_cutoff(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, bitrate_kbps: float | None = None,
                *, lossy: bool | None = None) -> Cutoff:
    """The lowpass edge the lossless check measures, over the whole track, if it is
    one worth filling (see `plausible_cutoff`). `bitrate_kbps`: the lossy input's, if known.
    `lossy`: whether the input is known to have been through a lossy codec (default:
    when a bitrate is given)."""
    lossy = bitrate_kbps is not None if lossy is None else lossy
    # a lossy decode in float leaves a ragged floor far below anything audible above the
    # lowpass; a 16-bit-like noise floor (as every FLAC has) gives the edge search a flat one
    channels = audio.shape[1] if audio.ndim == 2 else 1
    floor = samples(channels, len(audio), seed=DITHER_SEED).T.reshape(audio.shape) * np.float32(2**-16)
    freqs, power = power_frames([audio + floor], sample_rate)
    f = measure_power(freqs, power, sample_rate)
    hz = f.get("cutoff_hz")
    drop = f.get("drop_db", 0.0)
    min_drop = LOSSY_MIN_DROP_DB if lossy else MIN_DROP_DB
    if hz is None or drop < min_drop or not plausible_cutoff(hz, bitrate_kbps, channels, drop, lossy):
        return Cutoff(None)
    if len(power) > SLOPE_FRAMES:  # frames spread evenly over the track are enough for a slope
        power = power[np.linspace(0, len(power) - 1, SLOPE_FRAMES).astype(int)]
    long_term = smooth(to_db(power.mean(axis=0)), 9)
    trend_band = (freqs >= hz - GUARD_HZ - TREND_BAND_HZ) & (freqs < hz - GUARD_HZ)
    trend = float(np.polyfit(freqs[trend_band] / 1000.0, long_term[trend_band], 1)[0])
    return Cutoff(float(hz), fit_slope(long_term, freqs, float(hz)), float(drop), trend)


def top_fall_db_khz(cutoff: Cutoff) -> float:
    """How fast the estimate falls above TOP_HZ or a wall (see TREND_DB_KHZ)."""
    return float(np.interp(cutoff.trend_db_khz, TREND_DB_KHZ, TOP_FALL_DB_KHZ))


def top_hz(cutoff: Cutoff) -> float:
    """Where that fall starts: TOP_HZ, or the wall itself (see WALL_MAX_HZ)."""
    assert cutoff.hz is not None
    return cutoff.hz if cutoff.hz >= MAX_CUTOFF_HZ else TOP_HZ


def envelope_for(cutoff: Cutoff) -> Envelope:
    """The shape the replica is given over this cutoff."""
    return Envelope(cutoff.slope_db_khz, DSP_GAIN_DB, top_hz(cutoff), top_fall_db_khz(cutoff))


def restore(audio: np.ndarray, sample_rate: int, *, estimator: Estimator | None = None,
            gate: GateSettings = DEFAULT_GATE, cutoff: Cutoff | None = None,
            bitrate_kbps: float | None = None, lossy: bool | None = None, source_codec: str | None = None,
            progress: Callable[[float], None] | None = None) -> Restored:
    """Restore (frames, channels) audio. The DSP replica is always made (the neural
    engine takes its phase above the cutoff); `estimator` replaces its magnitudes.
    `source_codec`: the lossy codec the audio came through, if known (the file's own,
    or the family the lossless check named); holes under the cutoff are filled only
    for the codecs in HOLE_CODECS."""
    x = to_output_rate(np.asarray(audio, dtype=np.float32), sample_rate)
    if x.ndim == 1:
        x = x[:, None]
    engine = estimator.name if estimator is not None else "dsp"
    cutoff = cutoff if cutoff is not None else find_cutoff(x, SAMPLE_RATE, bitrate_kbps, lossy=lossy)
    if cutoff.hz is None or len(x) == 0:
        return Restored(x, SAMPLE_RATE, cutoff, engine)
    cutoff_bin = int(np.ceil(cutoff.hz / bin_hz(SAMPLE_RATE)))
    envelope = envelope_for(cutoff)
    bins = N_FFT // 2 + 1
    line = measure_floor(x.T, cutoff_bin, SAMPLE_RATE)  # once per track, like the cutoff
    floor_db = None if line is None else floor_level_db(
        line, cutoff_bin, bins, SAMPLE_RATE, envelope.rolloff_hz,
        min(envelope.rolloff_db_khz, FLOOR_TOP_FALL_DB_KHZ))

    fill_holes = source_codec in HOLE_CODECS
    n = len(x)
    added = np.zeros_like(x)
    filled = total = 0.0
    holes_filled = holes_total = 0
    for start in range(0, n, BLOCK):
        end = min(n, start + BLOCK)
        lo, hi = max(0, start - CONTEXT), min(n, end + CONTEXT)
        block = x[lo:hi].T
        spec = stft(block)
        replica = replicate(spec, cutoff_bin, SAMPLE_RATE, envelope)
        hole_lo, holes = (hole_gains(spec, cutoff_bin, SAMPLE_RATE, lo // HOP, gate) if fill_holes
                          else (cutoff_bin, None))  # under the cutoff (see holes.py)
        noise_lo = hole_lo if holes is not None else cutoff_bin
        noise = None if floor_db is None and holes is None else unit_noise(
            x.shape[1], noise_lo, spec.shape[2], first_frame=lo // HOP)
        to_add = None  # what is added where the gate opens (from the cutoff up), if not the estimate
        if floor_db is not None:  # the floor under the replica (see floor.py)
            floor = floor_noise(floor_db, noise)
            if estimator is None:
                to_add = replica[:, cutoff_bin:] + floor * np.float32(10 ** (FLOOR_ADDED_DB / 20))
            replica[:, cutoff_bin:] += floor
        est = replica if estimator is None else estimator.estimate(spec, cutoff_bin, replica)
        # the estimate is zero under the cutoff: the gate's tiles start at the cutoff, so
        # none of them mixes the band the input still has into its deficit (a tile on a
        # fixed grid straddling the cutoff measured a small deficit and let little in);
        # in time every block starts on the tile grid
        lam = gate_weights(spec[:, cutoff_bin:], est[:, cutoff_bin:], gate, tile_origin=lo // HOP)
        filled += float(lam.sum())
        total += lam.size
        added_spec = np.zeros_like(spec)
        add = est[:, cutoff_bin:] if to_add is None else to_add
        added_spec[:, cutoff_bin:] = residual(spec[:, cutoff_bin:], add, lam)
        if holes is not None:
            added_spec[:, hole_lo:cutoff_bin] = noise[:, :cutoff_bin - hole_lo] * holes
            holes_filled += int(np.count_nonzero(holes))
        if fill_holes:
            holes_total += x.shape[1] * (cutoff_bin - hole_lo) * spec.shape[2]
        part = istft(added_spec, hi - lo).T
        added[start:end] = part[start - lo:end - lo]
        if progress is not None:
            progress(end / n)
    out = x + added
    # fixed-point output cannot hold overs (lossy decoders make them); only those samples change
    over = np.abs(out) > 1.0
    if over.any():
        out[over] = np.clip(out[over], -1.0, 1.0)
    return Restored(out, SAMPLE_RATE, cutoff, engine, changed_share=filled / max(total, 1.0),
                    hole_share=holes_filled / max(holes_total, 1))
