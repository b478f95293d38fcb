"""Fake-lossless check: does a lossless file carry the fingerprints of a lossy encoder?

Pure functions on decoded samples. Every lossy encoder in common use applies a
*lowpass* before it codes anything, and music itself never has one:

* the long-term spectrum falls by tens of dB within a few hundred hertz
  (a recording's own roll-off takes kilohertz for the same fall);
* above that edge there is nothing but a flat floor (digital silence, or for
  AAC a flat shelf of leftover noise), all the way up to Nyquist;
* the edge stays put for the whole file.

Around the edge each family leaves marks of its own, used to name it:

* MP3 (LAME): lowpass by bitrate and channels (stereo 96k ~15.1, 128k ~16.5,
  160k ~17.4, 192k ~18.7, 256k ~19.4 kHz; mono ~20 kHz); above 16 kHz the "sfb21"
  band has no scalefactor, so its energy switches on and off frame by frame.
* AAC (FFmpeg native): cutoffs between ~16.3 and ~19.8 kHz; some bands are
  zeroed in one frame and not the next, or a flat shelf is left past the edge.
* Vorbis: q2 ~16.7 kHz, q4 ~19.4 kHz; its floor curve leaves holes under the edge.
* Opus: always ~20 kHz (its last coded band ends there) with band energies that
  never drop out (energy is coded per band, holes are noise-filled).
* Upsampling: a resampler's brick wall at 91-98% of a standard rate's Nyquist
  (11.025, 16, 22.05, 24 kHz) with the music intact below it.

AAC and Vorbis also leave their transform grid in the samples, with or without any
treble: MDCT frames at the encoder's positions show the coefficients it zeroed
(codecgrid.py), and so do MP3's granules through its hybrid filterbank (mp3grid.py).
Where a grid shows, it names the family outright, and it catches transcodes whose
lowpass is too high or whose music too dull to show an edge.

Quiet or dull material hides all of this, so the answer there is `inconclusive`.
The decision is deliberately conservative: calling a genuine file `transcoded`
is the worst mistake this check can make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import mp3grid
from .codecgrid import MIN_EXCESS, MIN_RATIO, grid_codec, grid_features
from .spectral import N_FFT, power_frames, power_mean_db, smooth, to_db, to_mono

VERDICTS = ("lossless", "transcoded", "upsampled", "inconclusive", "not_applicable")
STANDARD_NYQUISTS = (11025.0, 16000.0, 22050.0, 24000.0)
# where a resampler's wall sits, as a share of the lower rate's Nyquist: the middle of its
# fall, which lies higher in a 24-bit file, whose floor is deeper (soxr's VHQ wall for
# 44.1 kHz measures 21.1-21.3 kHz in a 16-bit file, 21.4-21.6 in a 24-bit one; for 32 kHz
# 15.2-15.6, for 22.05 kHz 10.4-10.7). Up to 0.985 where that is above every lossy lowpass
# (a "hi-res" file from a 44.1 or 48 kHz one); 0.975 lower down, where codecs' lowpasses
# crowd (LAME 96k at ~15.3 kHz, AAC 96k at 15.5-16 kHz): there a codec's frame grid, where
# it shows, says transcode (see decide)
WALL_SHARE = (0.93, 0.975)
HIGH_WALL_SHARE = (0.93, 0.985)
# Under a resampler's wall there may be a codec's edge (a "hi-res" file made from an MP3).
# It is looked for as the lower-rate file showed it at 16 bits: in a 24-bit file the
# decoder's residue above a lowpass lies tens of dB under the music but over the 24-bit
# floor, and is far from flat; 16 bits round it away. The level of 16-bit rounding noise
# in this analysis (white, LSB 2^-15, per bin of a 4096-point Hann frame), and as the
# loud moments' 90th percentile reads it (+3.6 dB over its mean)
ROUNDING_16_MEAN_DB = float(10 * np.log10((2.0**-15) ** 2 / 12 * 6 / N_FFT))
ROUNDING_16_DB = ROUNDING_16_MEAN_DB + 3.6
WALL_MARGIN_HZ = 500.0  # that search ends this far under the wall's middle, clear of its fall
MIN_RATE = 32000  # below this there is no room above a codec lowpass to look at

# The edge a transcode must show (every threshold is far from what genuine music does):
MIN_DROP_DB = 18.0  # fall across the edge; genuine files in the corpus stay under 12
MAX_WIDTH_HZ = 1100.0  # from the music's level to the floor; a roll-off takes kilohertz
MIN_ABOVE_HZ = 1300.0  # flat band between edge and Nyquist; anti-alias filters leave < 1.1 kHz
MAX_FLAT_DB = 6.0  # spread (p90 - p10) of the spectrum above the edge
# slope of that line: AAC's shelf falls gently; noise-shaped dither rises toward Nyquist
SLOPE_RANGE_DB_KHZ = (-3.0, 1.5)
# A weaker edge still counts where only digital silence lies above it: recordings always
# carry some noise up there, a decoder's output does not
SILENT_DROP_DB = 14.0
SILENT_SHELF_DB = 1.0
SILENT_WIDTH_HZ = 500.0
# `lossless` needs music this far over the floor just under Nyquist (see measure_power)
TOP_MUSIC_DB = 15.0
# music that stops without an edge above this is as high as the highest lossy lowpasses
HIGH_TOP_HZ = 19000.0
# the most a lossy codec keeps at 44.1/48 kHz, with margin: a reach past it (a high-rate
# file) is no sign of Opus or a 320 kbps MP3, whatever else it leaves open
LOSSY_REACH_HZ = 22500.0


@dataclass(frozen=True)
class LosslessCheck:
    verdict: str  # one of VERDICTS
    source_codec: str | None  # "mp3" | "aac" | "opus" | "vorbis" | "unknown"
    cutoff_hz: float | None
    confidence: float  # 0..1, confidence in the verdict
    features: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _suffix_line_fits(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and residual spread (p90 - p10, from the residual std) of a straight-line fit
    to every suffix y[i:], all at once from running sums."""
    def rsum(v: np.ndarray) -> np.ndarray:
        return np.cumsum(v[::-1])[::-1]

    n = rsum(np.ones_like(y))
    sx, sy, sxx, sxy, syy = rsum(x), rsum(y), rsum(x * x), rsum(x * y), rsum(y * y)
    var_x = np.maximum(sxx / n - (sx / n) ** 2, 1e-12)
    cov = sxy / n - (sx / n) * (sy / n)
    slope = cov / var_x
    resid_var = np.maximum(syy / n - (sy / n) ** 2 - slope * cov, 0.0)
    return slope, 2.56 * np.sqrt(resid_var)  # p90 - p10 of a normal spread is 2.56 sigma


def _find_edge(freqs: np.ndarray, spectrum: np.ndarray, floor: float) -> dict[str, float]:
    """The strongest edge with a flat band above it up to Nyquist.

    `spectrum` is a long-term spectrum in dB on a coarse grid (~43 Hz). For every
    candidate, everything above it must lie close to a nearly level line: a codec
    lowpass leaves only a floor (or AAC's gently sloping shelf) up there, while
    music and noise-shaped dither keep changing.
    """
    df = freqs[1] - freqs[0]
    n = len(spectrum)
    gap, side = max(1, int(150 / df)), max(2, int(650 / df))
    end = n - max(1, int(60 / df))
    lo = max(int(8000 / df), gap + side)
    hi = end - int(MIN_ABOVE_HZ / df) + gap
    if hi <= lo:
        return {}
    slope, spread = _suffix_line_fits(freqs[:end] / 1000, spectrum[:end])
    ks = np.arange(lo, hi)
    level = (spread[ks + gap] <= MAX_FLAT_DB) & (slope[ks + gap] >= SLOPE_RANGE_DB_KHZ[0]) & (
        slope[ks + gap] <= SLOPE_RANGE_DB_KHZ[1])
    ks = ks[level & (ks + gap + side <= n)]
    if len(ks) == 0:
        return {}
    windows = np.lib.stride_tricks.sliding_window_view(spectrum, side)
    # the loud part of the band under the edge: sparse music (bells, harmonics) has
    # partials there with little between them, and the partials are what a lowpass cuts
    below = np.percentile(windows[ks - gap - side], 75, axis=1)
    above = np.median(windows[ks + gap], axis=1)
    i = int(np.argmax(below - above))  # the first of equals, lowest in frequency
    k = int(ks[i])
    best = {"drop_db": float(below[i] - above[i]), "below_db": float(below[i]), "above_db": float(above[i]),
            "flat_db": float(spread[k + gap]), "slope_db_khz": float(slope[k + gap])}
    # transition width: from within 3 dB of the music to within 3 dB of the floor
    k_lo = k
    while k_lo > 0 and spectrum[k_lo] < best["below_db"] - 3:
        k_lo -= 1
    k_hi = k
    while k_hi < n - 1 and spectrum[k_hi] > best["above_db"] + 3:
        k_hi += 1
    return {
        "cutoff_hz": float(freqs[k]),
        "drop_db": best["drop_db"],
        "width_hz": float(freqs[k_hi] - freqs[k_lo]),
        "flat_db": best["flat_db"],
        "slope_db_khz": best["slope_db_khz"],
        "shelf_db": best["above_db"] - floor,
        "music_db": best["below_db"] - floor,
    }


def _under_edge(power: np.ndarray, freqs: np.ndarray, cutoff: float, floor: float) -> dict[str, float]:
    """How the band under the edge behaves frame by frame.

    holes: share of 250 Hz cells at the floor in frames where the music below is
    loud (encoders zero whole bands when bits run out; music fades, it does not
    switch off). variability: frame-to-frame spread (dB) of those cells relative
    to the music below, high where an encoder switches bands on and off.
    """
    df = freqs[1] - freqs[0]
    cell = max(1, int(250 / df))
    lo = int(max(cutoff - 3000, 11000) / df)
    hi = int((cutoff - 150) / df)
    count = (hi - lo) // cell
    ref_lo, ref_hi = int(max(cutoff - 6000, 4000) / df), int(max(cutoff - 3000, 6000) / df)
    if count < 1 or ref_hi <= ref_lo:
        return {}
    cells = to_db(power[:, lo:lo + count * cell].reshape(len(power), count, cell).mean(axis=2))
    ref = to_db(power[:, ref_lo:ref_hi].mean(axis=1))
    loud = ref > floor + 25
    if loud.sum() < 3:
        return {}
    rel = cells[loud] - ref[loud][:, None]
    return {
        "holes": float(np.mean(cells[loud] <= floor + 6)),
        "variability_db": float(np.mean(np.std(rel, axis=0))),
    }


def loud_moments(power: np.ndarray, q: float = 0.9) -> np.ndarray:
    """Per bin, the frame at quantile `q` of (frames, bins) power: exactly
    np.quantile(power, q, axis=0, method="closest_observation"), three times faster
    (one partition along contiguous rows instead of a strided one along columns)."""
    k = int(np.quantile(np.arange(len(power)), q, method="closest_observation"))
    return np.partition(np.ascontiguousarray(power.T), k, axis=1)[:, k]


def measure(excerpts: Sequence[np.ndarray], sample_rate: int) -> dict[str, float]:
    """Every feature the verdict uses, as plain floats."""
    return measure_power(*power_frames(excerpts, sample_rate), sample_rate)


def measure_power(freqs: np.ndarray, power: np.ndarray, sample_rate: int) -> dict[str, float]:
    """`measure` on power spectra already framed by `power_frames` (the caller may need them too)."""
    f: dict[str, float] = {"sample_rate": float(sample_rate), "frames": float(len(power))}
    if len(power) == 0:
        return f
    nyq = sample_rate / 2
    level = to_db(power[:, 20:].mean(axis=1))
    active = level > max(float(level.max()) - 40.0, -100.0)  # leave out silence and fade-outs
    f["active_frames"] = float(active.sum())
    if active.sum() < 3:
        return f
    power = power[active]
    # the loud moments per frequency (90th percentile over frames), not the average: a
    # struck bell or a cymbal shows its top only briefly, and a lowpass cuts it every time
    raw = to_db(loud_moments(power))
    spectrum = smooth(raw, 5)
    df = freqs[1]
    floor = float(np.percentile(spectrum[int(1000 / df):-int(60 / df)], 1))
    f["floor_db"] = floor
    # near Nyquist: is there music right up there (a genuine full-band file)? Above every
    # lossy lowpass and above Opus's 20 kHz wall with the resampler's fall after it (gone
    # by ~21 kHz in a 44.1 kHz file): a band starting lower also holds what those keep
    f["top_band_db"] = float(power_mean_db(spectrum[int((nyq - 1200) / df):int((nyq - 500) / df)]) - floor)
    # and where the music does stop (for the explanation where no edge shows)
    loud = np.nonzero(spectrum[:-int(60 / df)] >= floor + TOP_MUSIC_DB)[0]
    f["music_top_hz"] = float(freqs[loud[-1]]) if len(loud) else 0.0
    # the edge search runs on a ~43 Hz grid: as sharp as any lowpass, four times cheaper
    step = 4
    usable = len(spectrum) // step * step
    coarse = power_mean_db(spectrum[:usable].reshape(-1, step), axis=1)
    centres = freqs[:usable:step] + df * (step - 1) / 2
    edge = _find_edge(centres, coarse, floor)
    f.update(edge)
    if edge:
        f["above_hz"] = nyq - edge["cutoff_hz"]
        f.update(_final_fall(freqs, raw, edge["cutoff_hz"], sample_rate))
        if resample_wall(edge["cutoff_hz"], nyq) is None:
            f.update(_under_edge(power, freqs, edge["cutoff_hz"], floor))
        else:
            # the band under a wall, as 16 bits show it too (24 bits keep flicker under 16-bit rounding)
            at_16 = np.maximum(power, np.float32(10 ** (ROUNDING_16_MEAN_DB / 10)))
            f.update(_under_edge(at_16, freqs, edge["cutoff_hz"], max(floor, ROUNDING_16_MEAN_DB)))
            # upsampled; from a lossy file? (see ROUNDING_16_DB)
            top = int((edge["cutoff_hz"] - WALL_MARGIN_HZ) / (df * step))
            inner = _find_edge(centres[:top], np.maximum(coarse[:top], ROUNDING_16_DB), ROUNDING_16_DB)
            if inner:
                inner.update(_under_edge(power, freqs, inner["cutoff_hz"], ROUNDING_16_DB))
                f.update({f"source_{k}": v for k, v in inner.items()})
    return f


# where MP3 at 256-320 kbps and Opus both put their edge at 44.1 kHz
NEAR_20K_HZ = (19500.0, 21000.0)
# an edge there that fades out slower than this (Hz per dB, see _final_fall) is the
# music's own top, not a lowpass: every transcode on the corpus and in the 3-minute files
# ends at 30 or faster; a FluidSynth render's top at 20.6-20.8 kHz fades at 57-72, and
# with a drop of 19-23 dB it read as a LAME lowpass in 5 of 46 placements of intake's excerpts
SOFT_FALL_HZ_DB = 45.0
FALL_STAY_HZ = 40.0


def _final_fall(freqs: np.ndarray, raw_db: np.ndarray, cutoff: float, sample_rate: int) -> dict[str, float]:
    """How an edge near 20 kHz ends: Hz per dB from half to nine tenths of the way down
    (in dB) from the music under it to the floor over it, on the unsmoothed spectrum.

    MP3 at 256-320 kbps and Opus both stop near 20 kHz. LAME's lowpass lies in its
    polyphase filterbank and ends abruptly; Opus's wall reaches a 44.1 kHz file through
    a resampler (Opus always codes at 48 kHz) and ends softer. Measured at 44.1 kHz only.
    """
    if sample_rate != 44100 or not NEAR_20K_HZ[0] <= cutoff <= NEAR_20K_HZ[1]:
        return {}
    df = freqs[1] - freqs[0]
    music = float(np.median(raw_db[int((cutoff - 1500) / df):int((cutoff - 500) / df)]))
    floor = float(np.median(raw_db[int(21000 / df):int(21800 / df)]))
    span = music - floor
    if span < 15.0:
        return {}
    start = int((cutoff - 1000) / df)

    def reach(share: float, stay: int = 1) -> float:
        """Where the spectrum first goes under the level and stays under it for `stay` bins."""
        under = (raw_db[start:] < music - share * span).astype(np.int8)
        stays = np.convolve(under, np.ones(stay, dtype=np.int8), mode="valid") == stay
        return float(freqs[start + int(np.argmax(stays))])

    # the nine-tenths level can lie a dB or two under a shoulder of the fall (Opus's wall,
    # then the resampler's), where one bin's dip under it would end the fall early and make
    # it read as abrupt as LAME's; halfway down the fall is steep, and a dip moves nothing
    stay = max(1, int(round(FALL_STAY_HZ / df)))
    return {"fall_hz_db": (reach(0.9, stay) - reach(0.5)) / (0.4 * span)}


def check_lossless(excerpts: Sequence[np.ndarray], sample_rate: int,
                   starts: Sequence[int] | None = None) -> LosslessCheck:
    """Judge whether decoded lossless audio was once lossy (or upsampled). Each excerpt
    must start on a multiple of 1024 samples of the file (see codecgrid.py); `starts`:
    their first samples in the file (see mp3grid.py; by default one excerpt from the start)."""
    mono = [to_mono(x) for x in excerpts]  # every measure works on the mid channel
    f = measure(mono, sample_rate)
    f.update(grid_features(mono, sample_rate))
    f.update(mp3grid.grid_features(mono, sample_rate, starts if starts is not None else [0] * len(mono)))
    # JSON-friendly: plain rounded floats, nothing undefined
    f = {k: round(float(v), 3) for k, v in f.items() if np.isfinite(v)}
    return decide(f)


def _g(f: dict[str, float], key: str, default: float = 0.0) -> float:
    v = f.get(key)
    return default if v is None else float(v)


def resample_wall(fc: float, nyq: float) -> float | None:
    """The standard Nyquist (under the file's `nyq`) whose resampler wall an edge at `fc` sits at, if any."""
    for n in STANDARD_NYQUISTS:
        low, high = HIGH_WALL_SHARE if n >= 22050 else WALL_SHARE
        if n < nyq - 500 and low * n <= fc <= high * n:
            return n
    return None


def _is_edge(f: dict[str, float]) -> bool:
    """Do these features describe a codec's lowpass (or a resampler's wall)? (The edge
    search itself only considers edges with MIN_ABOVE_HZ of flat band above them.)"""
    drop, width = _g(f, "drop_db"), _g(f, "width_hz", 1e9)
    if _g(f, "fall_hz_db") > SOFT_FALL_HZ_DB:
        return False
    return _g(f, "cutoff_hz") > 0 and ((drop >= MIN_DROP_DB and width <= MAX_WIDTH_HZ) or (
        drop >= SILENT_DROP_DB and _g(f, "shelf_db", 99) <= SILENT_SHELF_DB and width <= SILENT_WIDTH_HZ))


def _edge_confidence(f: dict[str, float]) -> float:
    drop, width = _g(f, "drop_db"), _g(f, "width_hz", 1e9)
    return float(np.clip(0.6 + (drop - MIN_DROP_DB) / 50 + (MAX_WIDTH_HZ - width) / 3000, 0.6, 0.99))


def _source_edge(f: dict[str, float]) -> dict[str, float] | None:
    """The features as seen from a codec's edge under a resampler's wall, where one was found."""
    inner = {k.removeprefix("source_"): v for k, v in f.items() if k.startswith("source_")}
    if not inner:
        return None
    # what was measured at the wall (the band under it, how it ends) does not describe this edge
    source = {k: v for k, v in f.items() if k not in ("holes", "variability_db", "fall_hz_db")} | inner
    return source if _is_edge(source) else None


# Where LAME puts its lowpass at 44.1 kHz in stereo (kHz, middle of the transition as
# measured by bench/lossless_accuracy.py on the corpus's bright stereo sources), from 96k
# up to 320k. Other families' lowpasses overlap these (AAC 128k and MP3 160k both near
# 17.5 kHz); AAC and Vorbis are named by their grid instead.
LAME_CUTOFFS_KHZ = (15.2, 16.6, 17.5, 18.75, 19.44, 20.26)
# an edge near 20 kHz ending faster than this (Hz per dB, see _final_fall) is LAME's: on
# the corpus MP3 256/320k ends at 4-9 Hz/dB where it is measurable, Opus at 11 and over
MP3_FALL_HZ_DB = 10.0


def _grid_reason(f: dict[str, float], codec: str) -> str:
    window = {"aac": "AAC's Kaiser-Bessel-derived", "vorbis": "Vorbis's power-sine"}[codec]
    share = _g(f, f"grid_{codec}_excess")
    return (f"2048-point MDCT frames with {window} window, placed {_g(f, f'grid_{codec}_at'):.0f} samples "
            f"into the 1024-sample grid, find {share:.0%} more coefficients quantised to zero than "
            f"anywhere else ({_g(f, f'grid_{codec}_z'):.0f} sigma): "
            f"the {codec.upper() if codec == 'aac' else codec.capitalize()} encoder's frames")


def _mp3_grid_reason(f: dict[str, float]) -> str:
    return (f"MP3's hybrid filterbank, run at granules starting {_g(f, 'grid_mp3_at'):.0f} samples into the "
            f"576-sample grid, finds {_g(f, 'grid_mp3_excess'):.0%} more lines quantised to zero than at the "
            f"other positions ({_g(f, 'grid_mp3_z'):.0f} sigma): an MP3 encoder's granules")


def family(f: dict[str, float]) -> tuple[str, str]:
    """Name the encoder family from its transform grid if it shows, else from where the
    edge is and what happens around it."""
    grid = grid_codec(f)
    if grid is not None:
        return grid, _grid_reason(f, grid)
    if mp3grid.shows_grid(f):
        return "mp3", _mp3_grid_reason(f)
    fc = _g(f, "cutoff_hz") / 1000
    shelf, holes = _g(f, "shelf_db"), _g(f, "holes", -1)
    if 19.9 <= fc <= 20.7 and holes <= 0.01:
        fall = f.get("fall_hz_db")
        if fall is not None and fall < MP3_FALL_HZ_DB:
            return "mp3", (f"edge at {fc:.1f} kHz that ends as abruptly as LAME's lowpass ({fall:.0f} Hz per dB "
                           "into the floor; Opus's 20 kHz wall, resampled from 48 kHz, ends softer)")
        return "opus", "edge at 20 kHz, where Opus always stops, with no band dropouts under it"
    if shelf >= 3.0:
        return "aac", f"a flat shelf {shelf:.0f} dB over the floor past the edge, as AAC leaves"
    # AAC and Vorbis show their frame grid in most of their transcodes (codecgrid.py); an
    # edge without it is most likely LAME's, the commonest source of fake lossless files
    if fc < 16.0:
        return "mp3", f"edge at {fc:.1f} kHz, the LAME lowpass of low bitrates, and no AAC or Vorbis frame grid"
    dist = min(abs(fc - c) for c in LAME_CUTOFFS_KHZ)
    if dist <= 0.6:
        return "mp3", (f"the edge at {fc:.1f} kHz matches a LAME lowpass and no AAC or Vorbis frame grid "
                       "shows (a best guess)")
    return "unknown", f"the edge at {fc:.1f} kHz matches no known encoder lowpass, and no frame grid shows"


def decide(f: dict[str, float]) -> LosslessCheck:
    """Turn the measured features into a verdict (pure, so it can be tuned on saved features)."""
    sr = _g(f, "sample_rate")
    if sr < MIN_RATE:
        return LosslessCheck("not_applicable", None, None, 1.0, f,
                             [f"sample rate {sr / 1000:g} kHz is too low to show a codec lowpass"])
    if _g(f, "active_frames") < 3:
        return LosslessCheck("inconclusive", None, None, 0.5, f, ["too little sound to judge"])
    fc = _g(f, "cutoff_hz")
    drop, width = _g(f, "drop_db"), _g(f, "width_hz", 1e9)
    khz = fc / 1000
    if _is_edge(f):
        wall = resample_wall(fc, sr / 2)
        conf = _edge_confidence(f)
        shape = (f"the spectrum falls {drop:.0f} dB within {width:.0f} Hz at {khz:.1f} kHz "
                 f"and stays flat at the floor up to Nyquist")
        source = _source_edge(f) if wall is not None else None
        if source is not None:  # a codec's edge under the wall: made from a lossy file, then upsampled
            fam, why = family(source)
            sc = _g(source, "cutoff_hz")
            under = (f"under a resampler's wall at {khz:.1f} kHz (just under {wall * 2 / 1000:g} kHz's Nyquist: "
                     f"upsampled), the spectrum falls {_g(source, 'drop_db'):.0f} dB within "
                     f"{_g(source, 'width_hz'):.0f} Hz at {sc / 1000:.1f} kHz and stays flat at 16-bit rounding up to it")
            return LosslessCheck("transcoded", fam, sc, _edge_confidence(source), f, [under, why])
        grid = grid_codec(f) is not None or mp3grid.shows_grid(f)  # a codec's frames: no mere resampler
        if wall is not None and not grid and _g(f, "holes") < 0.02 and _g(f, "variability_db") < 6:
            return LosslessCheck("upsampled", None, fc, conf, f, [
                shape, f"a resampler's wall just under {wall * 2 / 1000:g} kHz's Nyquist, music intact below it"])
        fam, why = family(f)
        return LosslessCheck("transcoded", fam, fc, conf, f, [shape, why])
    grid = grid_codec(f)
    if grid is not None:
        # as sure as a clear edge: no music ever lined up on one codec's frames
        ratio = _g(f, f"grid_{grid}_ratio")
        conf = float(np.clip(0.6 + (ratio - MIN_RATIO) / 20 + (_g(f, f"grid_{grid}_excess") - MIN_EXCESS), 0.6, 0.99))
        return LosslessCheck("transcoded", grid, None, conf, f, [
            _grid_reason(f, grid), "no codec lowpass shows in the spectrum, but the codec's frame grid does"])
    if mp3grid.shows_grid(f):
        conf = float(np.clip(0.6 + (_g(f, "grid_mp3_z") - mp3grid.MIN_Z) / 50, 0.6, 0.99))
        return LosslessCheck("transcoded", "mp3", None, conf, f, [
            _mp3_grid_reason(f), "no codec lowpass shows in the spectrum, but MP3's granule grid does"])
    top = _g(f, "top_band_db")
    if top >= TOP_MUSIC_DB:
        conf = float(np.clip(0.6 + (top - TOP_MUSIC_DB) / 50, 0.6, 0.95))
        return LosslessCheck("lossless", None, None, conf, f, [
            f"content reaches {(sr / 2 - 500) / 1000:.1f} kHz ({top:.0f} dB over the floor) with no codec lowpass"])
    reach = _g(f, "music_top_hz")
    if fc > 0 and drop >= 10.0:
        why = f"a {drop:.0f} dB fall at {khz:.1f} kHz, too gentle or too small to be a codec's lowpass"
    elif reach >= HIGH_TOP_HZ:
        why = (f"the music reaches {reach / 1000:.1f} kHz and no further, with no codec's edge: "
               + ("Opus and LAME at 320 kbps stop about there too" if reach <= LOSSY_REACH_HZ
                  else "too faint up there to call it lossless"))
    else:
        why = "too little high-frequency content to tell (dull or quiet material)"
    return LosslessCheck("inconclusive", None, fc or None, 0.5, f, [why])
