"""Fake-lossless check: does a lossless file carry the fingerprints of a lossy encoder?

Pure functions on decoded samples. A lossy encoder leaves, above all, a *lowpass*
that music itself never has: an edge that is steep (tens of dB within a few
hundred Hz), fixed in frequency for the whole file, with only the requantisation
floor above it. Around that edge each family leaves its own marks:

* MP3 (LAME): lowpass by bitrate (96k ~15.1, 128k ~16.7, 160k ~17.4, 192k ~18.7,
  256k ~19.5, 320k ~20.2 kHz; V5/V2/V0 ~16.5/18.7/19.5 kHz) and, above 16 kHz, the
  "sfb21" band that has no scalefactor: its energy switches on and off frame by frame.
* AAC (FFmpeg native): cutoff 96k ~16.0, 128k ~17.3, 160k ~18.6, 192k ~19.4 kHz,
  with whole bands zeroed in some frames and not others (spectral holes).
* Vorbis (libvorbis): q2 ~16.6, q4 ~19.0 kHz, full band from ~q6; holes as well.
* Opus: always 20 kHz (CELT's last band ends there) at every bitrate.
* Upsampling: a brick wall just under a standard rate's Nyquist (11.025, 16,
  22.05, 24 kHz) in a file at a higher rate, with a clean spectrum below it.

Quiet or dull material hides all of this, so the answer there is `inconclusive`.
The decision is deliberately conservative: calling a genuine file `transcoded`
is the worst mistake this check can make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from nightowl.classify.spectral import smooth, spectrum_frames

VERDICTS = ("lossless", "transcoded", "upsampled", "inconclusive", "not_applicable")
STANDARD_NYQUISTS = (11025.0, 16000.0, 22050.0, 24000.0)
MIN_RATE = 32000  # below this nothing lossy-looking is left to find


@dataclass(frozen=True)
class LosslessCheck:
    verdict: str  # one of VERDICTS
    source_codec: str | None  # "mp3" | "aac" | "opus" | "vorbis" | "unknown"
    cutoff_hz: float | None
    confidence: float  # 0..1, confidence in the verdict
    features: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _band(freqs: np.ndarray, lo: float, hi: float) -> slice:
    a, b = np.searchsorted(freqs, [lo, hi])
    return slice(int(a), int(max(b, a + 1)))


def _lin_mean_db(db: np.ndarray, axis: int = -1) -> np.ndarray:
    return 10.0 * np.log10(np.mean(10.0 ** (db / 10.0), axis=axis) + 1e-20)


def _find_edge(freqs: np.ndarray, avg_db: np.ndarray, floor_db: float) -> dict[str, float]:
    """Top of the content and the shape of the fall there.

    The top is the highest frequency where the long-term spectrum stands 10 dB
    over the floor. A codec lowpass makes the fall there steep (>100 dB/kHz) and
    leaves a wide, flat band of nothing but the requantisation floor above it; a
    recording's own anti-alias filter ends at Nyquist, dull music fades slowly.
    """
    df = freqs[1]
    nyq = freqs[-1]
    lvl = avg_db - floor_db
    k0 = int(2000 / df)
    above = np.nonzero(lvl[k0:] > 10.0)[0]
    if len(above) == 0:
        return {"cutoff_hz": 0.0}
    k = k0 + int(above.max())
    fc = float(freqs[k])
    out = {"cutoff_hz": fc}
    out["edge_contrast_db"] = float(np.median(lvl[_band(freqs, fc - 1200, fc - 200)]))
    # steepest fall over 200 Hz in the last kHz before the top, in dB per kHz
    step = max(1, int(200 / df))
    seg = lvl[max(k - int(1000 / df), 0): k + int(200 / df)]
    out["edge_steep_db_khz"] = float(np.max(seg[:-step] - seg[step:]) / 0.2) if len(seg) > step else 0.0
    out["edge_tail_db"] = float(_lin_mean_db(lvl[_band(freqs, fc + 100, fc + 500)])) if fc + 150 < nyq else 0.0
    out["floor_band_hz"] = float(max(nyq - 50 - (fc + 400), 0.0))
    out["floor_band_db"] = float(_lin_mean_db(lvl[_band(freqs, fc + 400, nyq - 50)])) if fc + 500 < nyq else 99.0
    return out


def measure(excerpts: Sequence[np.ndarray], sample_rate: int) -> dict[str, float]:
    """Every feature the verdict uses, as plain floats."""
    freqs, db = spectrum_frames(excerpts, sample_rate)
    f: dict[str, float] = {"sample_rate": float(sample_rate), "frames": float(len(db))}
    if len(db) == 0:
        return f
    df = freqs[1]
    nyq = sample_rate / 2
    frame_lvl = _lin_mean_db(db[:, _band(freqs, 200, nyq)])
    active = frame_lvl > max(frame_lvl.max() - 40.0, -95.0)  # drop silence and fades
    f["active_frames"] = float(active.sum())
    if active.sum() < 3:
        return f
    db = db[active]
    sdb = smooth(db, 5)  # ~54 Hz: per-frame view without single-bin noise
    avg = smooth(_lin_mean_db(db, axis=0), 5)
    hi = _band(freqs, 2000, nyq - 100)
    floor = float(np.percentile(avg[hi], 2))  # the quietest part of the spectrum
    f["floor_db"] = floor
    avg100 = smooth(avg, 9)  # ~100 Hz: the edge shape without the music's partials
    f.update(_find_edge(freqs, avg100, floor))
    fc = f["cutoff_hz"]
    if fc <= 0:
        return f
    under = _band(freqs, fc - 1500, fc - 200)
    over = _band(freqs, fc + 300, min(fc + 1300, nyq - 50))
    # top-band content: how far above the floor is the music near Nyquist
    f["top_band_db"] = float(_lin_mean_db(avg[_band(freqs, nyq * 0.9, nyq * 0.97)]) - floor)
    f["hf_level_db"] = float(_lin_mean_db(avg[_band(freqs, 12000, 16000)]) - floor) if nyq > 16000 else 0.0

    # frame-by-frame cutoff track: the highest bin > floor + 12 dB in each frame
    above_floor = sdb > floor + 12.0
    last = np.where(above_floor[:, hi].any(axis=1),
                    hi.start + (above_floor[:, hi].shape[1] - 1 - np.argmax(above_floor[:, hi][:, ::-1], axis=1)),
                    0)
    track = freqs[last]
    # frames that have music right under the edge tell us where their top is
    inf = _lin_mean_db(db[:, under]) > floor + 20.0
    f["informative_frames"] = float(inf.mean())
    if inf.sum() >= 3:
        f["track_stable"] = float(np.mean(np.abs(track[inf] - fc) < 400.0))
        f["track_over"] = float(np.mean(track[inf] > fc + 400.0))
        f["track_std_hz"] = float(np.std(track[inf]))
    else:
        f["track_stable"], f["track_over"], f["track_std_hz"] = 0.0, 0.0, 0.0
    # frames with energy above the edge: a codec never lets any through
    if fc + 300 < nyq:
        over_lvl = _lin_mean_db(db[:, over])
        f["frames_over_edge"] = float(np.mean(over_lvl > floor + 10.0))
    else:
        f["frames_over_edge"] = 0.0

    # band flicker just under the edge: at low bitrates encoders switch whole bands off and
    # on from frame to frame; music (and a resampler's wall) keeps the top band steady
    # relative to the band below it. Measured as extra spread against a reference pair.
    if fc > 6000:
        e_top = _lin_mean_db(db[:, _band(freqs, fc - 1500, fc - 150)])
        e_mid = _lin_mean_db(db[:, _band(freqs, fc - 3800, fc - 1600)])
        e_low = _lin_mean_db(db[:, _band(freqs, fc - 6000, fc - 3900)])
        ok = e_mid > floor + 25.0
        f["flicker_frames"] = float(ok.sum())
        if ok.sum() >= 3:
            d_top, d_ref = (e_top - e_mid)[ok], (e_mid - e_low)[ok]
            f["edge_flicker_db"] = float(np.std(d_top) - np.std(d_ref))
            f["edge_off"] = float(np.mean(d_top < np.median(d_top) - 15.0))

    # MP3 sfb21 (> 16 kHz at 44.1/48 kHz): its level relative to the band under it flickers
    if fc > 17300 and nyq > 17500:  # needs >= 1 kHz of sfb21 under the edge
        e21 = _lin_mean_db(db[:, _band(freqs, 16100, fc - 150)])
        e20 = _lin_mean_db(db[:, _band(freqs, 13600, 15900)])
        e19 = _lin_mean_db(db[:, _band(freqs, 11100, 13400)])
        ok = e20 > floor + 15.0
        if ok.sum() >= 3:
            f["sfb21_std_db"] = float(np.std((e21 - e20)[ok]) - np.std((e20 - e19)[ok]))
            f["sfb21_off"] = float(np.mean((e21 - e20)[ok] < (e20 - e19)[ok] - 20.0))
            f["step16_db"] = float(
                _lin_mean_db(avg[_band(freqs, 15300, 15900)]) - _lin_mean_db(avg[_band(freqs, 16100, 16700)])
                - (_lin_mean_db(avg[_band(freqs, 14500, 15100)]) - _lin_mean_db(avg[_band(freqs, 15300, 15900)])))
    return f


def check_lossless(excerpts: Sequence[np.ndarray], sample_rate: int) -> LosslessCheck:
    """Judge whether decoded lossless audio was once lossy (or upsampled)."""
    f = measure(excerpts, sample_rate)
    # JSON-friendly: plain rounded floats, nothing undefined
    f = {k: round(float(v), 4) for k, v in f.items() if np.isfinite(v)}
    return decide(f)


# Where each family puts its lowpass at 44.1/48 kHz (kHz), as measured on music
# decoded back from each encoder; used only to name the family, never to detect.
KNOWN_CUTOFFS = {
    "mp3": (15.4, 16.7, 17.5, 18.8, 19.5, 20.2),
    "aac": (16.0, 16.8, 17.3, 18.6, 19.4),
    "vorbis": (16.7, 19.2, 19.8),
    "opus": (20.2,),
}


def _g(f: dict[str, float], key: str, default: float = 0.0) -> float:
    v = f.get(key, default)
    return default if v is None or np.isnan(v) else float(v)


def _family(f: dict[str, float]) -> tuple[str, str]:
    """Name the encoder family from the edge and what happens around it."""
    fc = _g(f, "cutoff_hz") / 1000
    tail, flicker = _g(f, "edge_tail_db"), _g(f, "edge_flicker_db")
    sfb21, sfb21_off = _g(f, "sfb21_std_db"), _g(f, "sfb21_off")
    if sfb21 >= 3.0 or sfb21_off >= 0.1:
        return "mp3", "energy above 16 kHz switches on and off frame by frame (MP3 sfb21)"
    if 19.85 <= fc <= 20.8 and tail >= 0.7:
        return "opus", "edge at 20 kHz with a short tail, where Opus always stops"
    if 18.9 <= fc <= 19.95 and flicker >= 5.0:
        return "vorbis", "the top band under a ~19 kHz edge comes and goes, as Vorbis floor coding does"
    if tail >= 2.0:
        return "aac", "a low shelf of leftover energy just past the edge, typical of AAC"
    if fc < 17.2 and flicker >= 1.5:
        return "mp3", "bands under the edge drop out frame by frame, typical of low-rate MP3"
    if 16.4 <= fc <= 17.2 and flicker < 1.5:
        return "vorbis", "steady edge near 16.7 kHz without MP3-style band dropouts: Vorbis q2-q3"
    best = min(((abs(fc - c), fam) for fam, cs in KNOWN_CUTOFFS.items() for c in cs), default=(9, "unknown"))
    if best[0] > 0.35:
        return "unknown", "the edge matches no known encoder lowpass"
    return best[1], f"edge matches the {best[1]} lowpass near {fc:.1f} kHz"


def decide(f: dict[str, float]) -> LosslessCheck:
    """Turn the measured features into a verdict (pure, so it can be tuned on saved features)."""
    sr = _g(f, "sample_rate")
    nyq = sr / 2
    if sr < MIN_RATE:
        return LosslessCheck("not_applicable", None, None, 1.0, f,
                             [f"sample rate {sr / 1000:g} kHz is too low to show a codec lowpass"])
    if _g(f, "active_frames") < 3 or _g(f, "cutoff_hz") <= 0:
        return LosslessCheck("inconclusive", None, None, 0.5, f, ["too little sound to judge"])
    fc = _g(f, "cutoff_hz")
    contrast, steep = _g(f, "edge_contrast_db"), _g(f, "edge_steep_db_khz")
    floor_band, over = _g(f, "floor_band_db", 99.0), _g(f, "frames_over_edge")
    khz = fc / 1000
    reasons = []
    # an edge worth judging: clear of the music below, nothing but the floor above, never crossed
    walled = (contrast >= 10.0 and floor_band <= 3.0 and over <= 0.02 and fc + 1300 <= nyq and fc >= 9500)
    if walled:
        for n in STANDARD_NYQUISTS:
            if n <= nyq - 900 and 0.9 * n <= fc <= n + 60 and steep >= 35.0 \
                    and _g(f, "edge_flicker_db") < 1.0 and _g(f, "sfb21_std_db") < 3.0 and _g(f, "edge_tail_db") < 1.5:
                conf = float(np.clip(0.5 + contrast / 80 + (1.0 - over * 50) * 0.1, 0.5, 0.99))
                return LosslessCheck("upsampled", None, fc, conf, f, [
                    f"brick wall at {khz:.1f} kHz, just under the {n * 2 / 1000:g} kHz rate's limit",
                    f"nothing above it in any frame; the spectrum below is clean (no band dropouts)"])
        # 60 dB/kHz: twice what a recording's own roll-off reaches in the corpus; near 20 kHz
        # (where anti-alias filters start) ask for more
        if steep >= (75.0 if fc >= 19800 else 60.0):
            fam, why = _family(f)
            conf = float(np.clip(0.55 + (contrast - 15) / 60 + (steep - 60) / 400, 0.55, 0.99))
            reasons = [f"steep cutoff at {khz:.1f} kHz ({steep:.0f} dB/kHz, {contrast:.0f} dB over the floor)",
                       f"no energy above it in {100 * (1 - over):.0f}% of frames", why]
            return LosslessCheck("transcoded", fam, fc, conf, f, reasons)
    top = _g(f, "top_band_db")
    if fc >= nyq - 1300 and contrast >= 10.0 or top >= 10.0:
        conf = float(np.clip(0.5 + min(contrast, top + 10) / 60, 0.5, 0.95))
        return LosslessCheck("lossless", None, None, conf, f, [
            f"music reaches {khz:.1f} kHz with no codec lowpass"])
    if contrast < 15.0:
        reasons.append(f"too little high-frequency content to judge (top of the music at {khz:.1f} kHz)")
    else:
        reasons.append(f"the music fades out at {khz:.1f} kHz without a codec-like edge")
    return LosslessCheck("inconclusive", None, fc, 0.5, f, reasons)
