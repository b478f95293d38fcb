"""Audience-recording ("concert") cues from decoded audio.

Pure functions on numpy arrays. A recording made from the audience differs from a
studio or soundboard file in ways that are physical, not stylistic:

* the room: every note ends in the hall's reverberation, so even the *fastest*
  decays in the file are only as fast as the room lets them be (a dry mix has
  notes that stop dead); onsets rise out of the previous note's tail, and the
  gaps between notes are filled (heard only where the music pauses: a
  continuous wall of sound leaves the room nothing to fill);
* the crowd: a noise-like bed (talk, shuffling, cheering) under and between the
  songs, and applause or cheering, broadband and dense, at the start and the end:
  claps and cheers are bright (1-5 kHz well over the low-mids), where a wall of
  distorted guitars, as noise-like in 1-5 kHz, keeps its bass and drums as loud;
* the microphone: a distant or handheld microphone picks up room boom below
  ~150 Hz and loses the top octave to distance and air;
* the pair: two microphones in a diffuse field hear different reverberation, so
  the channels decorrelate above a few hundred hertz, where a mix stays coherent.

A soundboard (SBD) recording is a concert too, but with little room and crowd in
it: `is_roomy()` (from `reverb_s` and `applause_mid`) tells it apart from an
audience (AUD) recording that could use de-rooming; lineage files and etree names
(taper.py) say which more reliably where they exist.

Every threshold below comes from physics first and was checked on the benchmark
corpus's simulated shows, the genuine studio clips and its real studio metal songs
(see the comments).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

# one Cue type for every classifier's evidence (name, value, weight, text); here a
# positive weight points towards "live recording"
from .podcast import Cue
from .spectral import power_mean_db

__all__ = ["Cue", "audio_cues", "concert_features", "concert_score", "end_features", "is_roomy", "score_with_applause_at_ends"]

HOP_S = 0.01  # 10 ms envelope frames
DECAY_BANDS = ((250.0, 500.0), (500.0, 1000.0), (1000.0, 2000.0), (2000.0, 4000.0))
DECAY_WINDOW_S = 0.15  # how far ahead a fall is measured
CROWD_BAND = (1000.0, 5000.0)  # applause and crowd are flat here (and survive an 11 kHz source)
APPLAUSE_FLATNESS = 0.2  # crowd recordings: ~0.3; tonal music: < 0.05; drum loops: up to 0.4
APPLAUSE_MAX_SWING_DB = 12.0  # sparse clapping (a few dozen people) swings up to ~10 dB
APPLAUSE_RHYTHM = 0.3  # periodicity: crowd and applause 0.05-0.26; drum loops, arpeggios 0.3-0.8
MUSIC_BAND = (150.0, 1000.0)  # where music's fundamentals and low harmonics live
# Claps and cheers are bright: at the ends of the corpus's shows the crowd band (1-5 kHz)
# of 97% of the crowd-like blocks lies 8 dB and more over the low-mids (stadium crowd
# recordings: 14-20 dB, market chatter: 6 dB under). A wall of distorted guitars is as
# flat and as steady in 1-5 kHz as a crowd, but its bass and drums keep the low-mids as
# loud: in 16 studio metal files (mixes and guitar stems), 98% of such blocks do not pass
LOW_MIDS = (100.0, 400.0)
CLAP_BRIGHT_DB = -8.0
COHERENCE_BANDS = {"low": (100.0, 500.0), "mid": (500.0, 2000.0), "high": (2000.0, 8000.0)}

# neutral values reported where a feature cannot be measured (mono, too short, silent)
NEUTRAL = {
    "reverb_s": 0.7, "fastest_drop_db": 13.0, "gap_db": -25.0,
    "bed_db": -40.0, "bed_flatness": 0.2, "bed_crowd": 0.0, "music_flatness": 0.1, "music_range_db": 10.0,
    "applause_head": 0.0, "applause_tail": 0.0, "applause_mid": 0.0,
    "boom_db": 0.0, "hf_db": -25.0, "coh_low": 0.6, "coh_mid": 0.4, "coh_high": 0.3,
}
END_KEYS = ("applause_head", "applause_tail")  # the features heard at the ends (see end_features)

# Cost (intake runs this on every file, on 3 x 3 s of stereo, plus 5 s at each end where
# the ends could change the class):
# everything but `hf_db` lives below 8 kHz, so 32 kHz and faster audio is first halved
# in rate (a 3-tap [1 2 1]/4 filter, its droop undone per bin, levels rescaled to the
# full-rate frames') and analysed with frames of the same length in time (23 ms) on the
# same 10 ms grid, all in one transform. `hf_db` comes from every HF_STRIDE-th
# full-rate frame of the middle excerpts (a denser pick costs more; sparser ones miss a
# loop's few cymbal hits). The pair's coherence needs only sums over frames: the side
# channel is transformed on every COH_STRIDE-th frame (the mid channel, which every
# other cue uses, on all of them). Only the crowd band of the head and tail is looked at.
TOP_HZ = 8000.0
HF_STRIDE = 4
COH_STRIDE = 3
END_STRIDE = 1  # head and tail (applause only): 2 would halve their cost, but moves applause_* by up to 0.27


class _Grid:
    """Frames for one sample rate: the full-rate hop and frame length, and the working rate."""

    def __init__(self, sr: int) -> None:
        self.sr = sr
        self.hop = max(1, int(round(sr * HOP_S)))  # in full-rate samples
        self.n_fft_full = 1 << int(round(np.log2(2.32 * self.hop)))  # ~23 ms: 1024 at 44.1 and 48 kHz
        self.down = 2 if sr >= 32000 and self.n_fft_full >= 8 else 1
        self.n_fft = self.n_fft_full // self.down
        freqs = np.fft.rfftfreq(self.n_fft_full, 1.0 / sr)
        self.nb = int(np.searchsorted(freqs, TOP_HZ))  # bins below 8 kHz (all of them at <= 16 kHz)
        self.freqs = freqs[: self.nb]
        self.window = np.hanning(self.n_fft).astype(np.float32)
        # power gain: back to full-rate frame levels, and the filter's droop undone
        droop = np.cos(np.pi * self.freqs / sr) ** 4 if self.down == 2 else np.ones(self.nb)
        self.gain = (self.down**2 / droop).astype(np.float32)
        self.hop_s = self.hop / sr

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """1-D signal at the working rate."""
        if self.down == 1 or len(x) < 3:
            return np.ascontiguousarray(x, dtype=np.float32)
        m = (len(x) - 1) // 2
        pairs = x[: 2 * m + 1]
        y = pairs[0:-2:2] + pairs[2::2]
        y += pairs[1:-1:2]
        y += pairs[1:-1:2]
        y *= 0.25
        return y

    def reduce_pair(self, x: np.ndarray, side: bool) -> list[np.ndarray]:
        """Mid (and side) channel of a stereo pair (frames, 2) at the working rate."""
        if self.down == 1 or len(x) < 4:
            out = [0.5 * (x[:, 0] + x[:, 1])]
            return out + [0.5 * (x[:, 0] - x[:, 1])] if side else out
        # the pair read as one complex signal, L + iR, is filtered in one go (no matrix
        # product: numpy hands those to a multi-threaded BLAS, whose idle threads spin
        # and cost more CPU than the product itself)
        z = self.reduce(np.ascontiguousarray(x, dtype=np.float32).view(np.complex64)[:, 0])
        mid = z.real + z.imag
        mid *= np.float32(0.5)
        if not side:
            return [mid]
        sd = z.real - z.imag
        sd *= np.float32(0.5)
        return [mid, sd]

    def count(self, n_full: int, n_work: int, stride: int = 1) -> int:
        """How many frames on the full-rate 10 ms grid (every `stride`-th) fit: frame q starts
        at working sample (q * stride * hop) // down."""
        if n_full < self.n_fft_full:
            return 0
        k = -(-((n_full - self.n_fft_full) // self.hop + 1) // stride)
        while k and ((k - 1) * stride * self.hop) // self.down + self.n_fft > n_work:
            k -= 1
        return k

    def spectra(self, jobs: list[tuple[np.ndarray, int, int, int, int]]) -> list[np.ndarray]:
        """Complex spectra (frames, bins lo..hi below 8 kHz) of Hann frames of 1-D signals
        on the 10 ms grid: jobs of (signal, frames, stride, lo, hi); one transform for all."""
        n = self.n_fft
        buf = np.empty((sum(j[1] for j in jobs), n), np.float32)
        pos = 0
        for y, c, stride, _, _ in jobs:
            if not c:
                continue
            view = np.lib.stride_tricks.sliding_window_view(y, n)
            step = stride * self.hop
            if self.down == 1:
                np.multiply(view[::step][:c], self.window, out=buf[pos : pos + c])
            else:  # (q * step) // 2: every other frame is on a grid of its own
                for r in (0, 1):
                    k = (c + 1 - r) // 2
                    if k:
                        np.multiply(view[(r * step) // 2 :: step][:k], self.window, out=buf[pos + r : pos + c : 2])
            pos += c
        spec = scipy.fft.rfft(buf, axis=1)
        out, pos = [], 0
        for _, c, _, lo, hi in jobs:
            out.append(spec[pos : pos + c, lo:hi])
            pos += c
        return out

    def power(self, s: np.ndarray, lo: int = 0) -> np.ndarray:
        """|s|^2 at full-rate levels (s: spectra of bins lo.. from `spectra`)."""
        p = s.real**2
        p += s.imag**2
        if self.down != 1:
            p *= self.gain[lo : lo + s.shape[1]]
        return p


def _bins(freqs: np.ndarray, lo: float, hi: float) -> slice:
    return slice(int(np.searchsorted(freqs, lo)), int(np.searchsorted(freqs, hi)))


def _db(x: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.asarray(x, dtype=np.float64) + 1e-20)


def _band_levels(power: np.ndarray, freqs: np.ndarray, bands: Sequence[tuple[float, float]]) -> np.ndarray:
    """Level (dB) per frame in each band: (frames, bands); -200 for an empty band."""
    out = np.full((len(power), len(bands)), -200.0)
    for i, (lo, hi) in enumerate(bands):
        b = _bins(freqs, lo, hi)
        if b.stop > b.start:  # (no matrix product: see _Grid.reduce_pair)
            out[:, i] = _db(power[:, b].sum(axis=1, dtype=np.float64))
    return out


def _flatness(power: np.ndarray, band: slice) -> np.ndarray:
    """Spectral flatness (geometric / arithmetic mean) per frame in a band: 1 = white noise."""
    if band.stop - band.start < 4:
        return np.zeros(len(power))
    p = power[:, band] + np.float32(1e-20)
    return np.exp(np.mean(np.log(p), axis=1, dtype=np.float64)) / np.mean(p, axis=1, dtype=np.float64)


def _decay_drops(env_db: np.ndarray, hop_s: float) -> np.ndarray:
    """How far the level falls within DECAY_WINDOW_S, from every loud frame (dB).

    A room cannot let sound die faster than its own decay (60 dB per RT60): in a
    dry mix the steepest of these falls are tens of dB (a note stops dead), in a
    hall only a few. The steady bed (crowd, hiss) is taken out first, so a fall
    into it still counts at its full depth. `env_db`: (frames, bands), bands apart.
    """
    k = max(2, int(round(DECAY_WINDOW_S / hop_s)))
    if len(env_db) < k + 2 or not env_db.shape[1]:
        return np.zeros(0)
    floor, top = np.percentile(env_db, [5, 95], axis=0)
    lin = 10.0 ** (env_db / 10.0) - 10.0 ** (floor / 10.0)
    env = 10.0 * np.log10(np.maximum(lin, 10.0 ** ((floor - 20) / 10.0)))
    start = env[:-k]
    ok = (start > floor + 15) & (start > top - 35) & (top - floor >= 15)
    return (start - env[k:]).T[ok.T]


def _periodicity(level_db: np.ndarray, hop_s: float, centres: np.ndarray) -> np.ndarray:
    """Rhythm around each centre frame: the highest autocorrelation of the level's fast
    fluctuations (slow swells taken out) at lags of 0.15-1.5 s, in a 3 s window.

    Drums repeat (0.3-0.8 here); applause is thousands of unsynchronised claps (< 0.3).
    """
    k = max(3, int(round(0.3 / hop_s)))
    resid = level_db - np.convolve(level_db, np.ones(k) / k, mode="same")
    w = int(round(3.0 / hop_s))
    lo, hi = int(round(0.15 / hop_s)), int(round(1.5 / hop_s))
    n_fft = 1 << int(np.ceil(np.log2(2 * w)))
    n = min(w, len(resid))  # a short segment: all of it
    top = min(hi, n - 10)
    if top <= lo:
        return np.zeros(len(centres))
    a = np.clip(centres.astype(np.intp) - w // 2, 0, len(resid) - n)
    x = resid[a[:, None] + np.arange(n)]
    x = x - x.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(x, n_fft, axis=1)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2, n_fft, axis=1)[:, :top]
    return ac[:, lo:].max(axis=1) / (ac[:, 0] + 1e-12)


def _blocks(level_all: np.ndarray, flat_frames: np.ndarray, hop_s: float,
            low_all: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Half-second blocks from per-frame crowd-band (1-5 kHz) level (dB) and flatness, and
    the low-mids' (LOW_MIDS) level: (crowd-like, level dB, flatness, applause-like).

    A crowd-like block is broadband and noise-like (flat in 1-5 kHz) and without
    rhythm: claps and voices are not in time with each other, while drums and
    dense reverberant arpeggios, which can be as flat, repeat. An applause-like one
    is also bright (CLAP_BRIGHT_DB: distorted guitars are flat and steady too; a
    crowd's murmur under the music need not be).
    """
    b = max(2, int(round(0.5 / hop_s)))
    n = len(level_all) // b
    if n == 0:
        return np.zeros(0, bool), np.zeros(0), np.zeros(0), np.zeros(0, bool)
    flat = flat_frames[: n * b].reshape(n, b).mean(axis=1)
    level = level_all[: n * b].reshape(n, b)
    swing = level.std(axis=1)
    mean = power_mean_db(level, axis=1)
    crowd = (flat > APPLAUSE_FLATNESS) & (swing < APPLAUSE_MAX_SWING_DB) & (mean > -100)
    if crowd.any():
        centres = (np.flatnonzero(crowd) + 0.5) * b
        crowd[crowd] = _periodicity(level_all, hop_s, centres) < APPLAUSE_RHYTHM
    clapping = crowd & (power_mean_db(low_all[: n * b].reshape(n, b), axis=1) - mean <= CLAP_BRIGHT_DB)
    return crowd, mean, flat, clapping


def _applause(clapping: np.ndarray, level: np.ndarray, loud_ref: float) -> float:
    """Share of blocks that are applause-like and loud (within 20 dB of the music)."""
    return float(np.mean(clapping & (level > loud_ref - 20))) if len(clapping) else 0.0


def _coherence(sxx: np.ndarray, syy: np.ndarray, sxy: np.ndarray, freqs: np.ndarray, sr: int) -> dict[str, float]:
    """Magnitude-squared coherence between the channels, power-weighted per band."""
    if not len(sxx):
        return {}
    if np.allclose(sxx, syy, rtol=1e-3) and np.abs(sxy).sum() >= 0.999 * np.sqrt(sxx * syy).sum():
        return {}  # dual mono: nothing to learn
    coh = np.abs(sxy) ** 2 / (sxx * syy + 1e-30)
    weight = np.sqrt(sxx * syy)
    out = {}
    for name, (lo, hi) in COHERENCE_BANDS.items():
        sel = (freqs >= lo) & (freqs < min(hi, sr / 2))
        if sel.sum() >= 2 and weight[sel].sum() > 0:
            out[f"coh_{name}"] = float(np.sum(coh[sel] * weight[sel]) / np.sum(weight[sel]))
    return out


def _hf_db(excerpts: list[np.ndarray], g: _Grid) -> float | None:
    """Top octave (10-16 kHz) over 1-4 kHz in the long-term spectrum of full-rate frames."""
    freqs = np.fft.rfftfreq(g.n_fft_full, 1.0 / g.sr)
    hi, ref = _bins(freqs, 10000, 16000), _bins(freqs, 1000, 4000)
    window = np.hanning(g.n_fft_full).astype(np.float32)
    top = low = 0.0
    for x in excerpts:
        if len(x) < g.n_fft_full:
            continue
        if x.ndim == 2:  # a pair, read as one complex signal L + iR: the mid channel of the frames
            z = np.ascontiguousarray(x, dtype=np.float32).view(np.complex64)[:, 0]
            view = np.lib.stride_tricks.sliding_window_view(z, g.n_fft_full)[:: g.hop * HF_STRIDE]
            frames = view.real + view.imag
            frames *= 0.5 * window
        else:
            frames = np.lib.stride_tricks.sliding_window_view(x, g.n_fft_full)[:: g.hop * HF_STRIDE] * window
        s = scipy.fft.rfft(frames, axis=1)[:, : hi.stop]
        p = s.real**2 + s.imag**2
        top += float(p[:, hi].sum(dtype=np.float64))
        low += float(p[:, ref].sum(dtype=np.float64))
    return None if low <= 0 and top <= 0 else float(10 * np.log10((top + 1e-20) / (low + 1e-20)))


def concert_features(
    excerpts: Sequence[np.ndarray], sample_rate: int, head: np.ndarray | None = None, tail: np.ndarray | None = None
) -> dict[str, float]:
    """Measure room, crowd, microphone and stereo cues (plain floats, JSON-friendly).

    `excerpts`: a few excerpts (~6 s) from the middle of the file; `head`/`tail`: the
    first and last ~10 s. All float32, shaped (frames, channels) or (frames,). Without
    head and tail the ends are not heard: `applause_head` and `applause_tail` are left
    out (`end_features` adds them later, from `loud_db`).
    """
    f = _middle_features(excerpts, int(sample_rate))
    if head is None and tail is None:
        return f
    return f | end_features(head, tail, sample_rate, f)


def _middle_features(excerpts: Sequence[np.ndarray], sr: int) -> dict[str, float]:
    """Every feature but those of the ends (see concert_features)."""
    g = _Grid(sr)
    freqs, hop_s = g.freqs, g.hop_s
    f: dict[str, float] = {k: v for k, v in NEUTRAL.items() if k not in END_KEYS}
    # the same keys every time: counts start at zero, measures at their neutral values
    f.update(stereo=0.0, seconds=0.0, decay_frames=0.0)
    mids: list[tuple[np.ndarray, int]] = []  # working-rate mid channel, frames
    sides: list[tuple[np.ndarray, int]] = []  # side channel, every COH_STRIDE-th frame
    full: list[np.ndarray] = []  # full-rate excerpts, for hf_db
    stereo = True
    seconds = 0.0
    for ex in excerpts:
        ex = np.asarray(ex, dtype=np.float32)
        if not len(ex):
            continue
        seconds += len(ex) / sr
        if not (ex.ndim == 2 and ex.shape[1] >= 2):
            stereo = False
        if stereo:
            m, side = g.reduce_pair(ex[:, :2], side=True)
            mids.append((m, g.count(len(ex), len(m))))
            sides.append((side, g.count(len(ex), len(m), COH_STRIDE)))
            full.append(ex[:, :2])
        else:
            x = ex.mean(axis=1) if ex.ndim == 2 else ex
            m = g.reduce(x)
            mids.append((m, g.count(len(x), len(m))))
            full.append(x)
    f["seconds"] = float(seconds)
    if not sum(c for _, c in mids):
        return {k: round(float(v), 4) for k, v in f.items()}
    if not stereo:  # a mono excerpt after stereo ones: the mid channel of them all
        full = [x if x.ndim == 1 else 0.5 * (x[:, 0] + x[:, 1]) for x in full]
    jobs = [(y, c, 1, 0, g.nb) for y, c in mids] + [(y, c, COH_STRIDE, 0, g.nb) for y, c in sides]
    out = g.spectra(jobs)
    specs = [g.power(s) for s in out[: len(mids)]]
    side_specs = out[len(mids) : len(mids) + len(sides)]
    # the pair: sums over frames of |L|^2, |R|^2 and L R*, with L = M + S, R = M - S:
    # |M|^2 + |S|^2 +- 2 Re(M S*) and |M|^2 - |S|^2 - 2i Im(M S*)
    mm = ss = re = im = 0.0
    for mid_s, mid_p, side_s in zip(out, specs, side_specs):
        if len(side_s):
            m = mid_s[::COH_STRIDE]
            mr, mi, sr_, si = m.real, m.imag, side_s.real, side_s.imag
            mm = mm + mid_p[::COH_STRIDE].sum(0, dtype=np.float64) / g.gain
            ss = ss + (sr_**2 + si**2).sum(0, dtype=np.float64)
            re = re + (mr * sr_ + mi * si).sum(0, dtype=np.float64)
            im = im + (mi * sr_ - mr * si).sum(0, dtype=np.float64)
    pair = [np.zeros(0)] * 3
    if np.ndim(mm):
        pair = [(mm + ss + 2 * re) * g.gain, (mm + ss - 2 * re) * g.gain, (mm - ss - 2j * im) * g.gain]
    specs = [p for p in specs if len(p)]

    allp = np.concatenate(specs)
    edges = np.cumsum([len(p) for p in specs])[:-1]
    decay = [(lo, hi) for lo, hi in DECAY_BANDS if hi <= sr / 2]
    bands = decay + [(100.0, min(8000.0, sr / 2)), CROWD_BAND, MUSIC_BAND, LOW_MIDS]
    levels = np.split(_band_levels(allp, freqs, bands), edges)
    crowd_flat = np.split(_flatness(allp, _bins(freqs, *CROWD_BAND)), edges)
    music_flat = np.split(_flatness(allp, _bins(freqs, *MUSIC_BAND)), edges)
    nd = len(decay)

    # --- room: fastest free decays, filled gaps ---
    slopes, gaps = [], []
    for lv in levels:
        slopes.append(_decay_drops(lv[:, :nd], hop_s))
        p95, p10, p90 = np.percentile(lv[:, nd], [95, 10, 90])
        if p95 > -90:
            gaps.append(float(p10 - p90))
    drops = np.concatenate(slopes)
    f["decay_frames"] = float(len(drops))
    if len(drops) >= 50:
        # the steepest 5% of falls, as a reverberation time (60 dB at that rate)
        steep = float(np.percentile(drops, 95))
        f["fastest_drop_db"] = steep
        f["reverb_s"] = float(min(60.0 * DECAY_WINDOW_S / max(steep, 0.5), 10.0))
    if gaps:
        f["gap_db"] = float(np.median(gaps))

    # --- crowd: under the music in its quietest moments, and at both ends ---
    mid = [_blocks(lv[:, nd + 1], cf, hop_s, lv[:, nd + 3]) for lv, cf in zip(levels, crowd_flat)]
    crowd = np.concatenate([m[0] for m in mid])
    level = np.concatenate([m[1] for m in mid])
    flat = np.concatenate([m[2] for m in mid])
    clapping = np.concatenate([m[3] for m in mid])
    b = max(2, int(round(0.5 / hop_s)))
    tonal, low = [], []
    for lv, mf in zip(levels, music_flat):
        n = len(lv) // b
        tonal.append(mf[: n * b].reshape(n, b).mean(axis=1))
        low.append(power_mean_db(lv[: n * b, nd + 2].reshape(n, b), axis=1))
    tonal, low = np.concatenate(tonal), np.concatenate(low)
    audible = level > -100
    if audible.sum() >= 4:
        loud_ref = float(np.percentile(level[audible], 90))
        order = np.argsort(level[audible])
        quiet = order[: max(2, len(order) // 5)]
        loud = order[len(order) // 2 :]
        f["bed_db"] = float(np.median(level[audible][quiet]) - loud_ref)
        f["bed_flatness"] = float(np.median(flat[audible][quiet]))
        f["bed_crowd"] = float(np.mean(crowd[audible][quiet]))
        # music is tonal: its loud moments are far from flat (noise, a drum roll, applause are not)
        f["music_flatness"] = float(np.median(tonal[audible][loud]))
        # music comes and goes (phrases, songs, pauses); noise and a drum roll hold steady
        f["music_range_db"] = float(np.percentile(low[audible], 90) - np.percentile(low[audible], 10))
        f["applause_mid"] = _applause(clapping, level, loud_ref)
        f["loud_db"] = loud_ref

    # --- microphone: boom and top-octave loss in the long-term spectrum ---
    lts = allp.mean(axis=0, dtype=np.float64)

    def band(lo: float, hi: float) -> float:
        sel = (freqs >= lo) & (freqs < hi)
        return float(lts[sel].sum()) + 1e-20

    if band(150, 600) > 1e-12:
        f["boom_db"] = float(10 * np.log10(band(20, 150) / band(150, 600)))
        if sr >= 32000:
            hf = _hf_db(full, g)
            if hf is not None:
                f["hf_db"] = hf

    # --- stereo pair ---
    coh = _coherence(*pair, freqs, sr) if stereo else {}
    if coh:
        f["stereo"] = 1.0
        f.update(coh)
    return {k: round(float(v), 4) for k, v in f.items() if np.isfinite(v)}


def end_features(head: np.ndarray | None, tail: np.ndarray | None, sample_rate: int,
                 middle: dict[str, float]) -> dict[str, float]:
    """`applause_head` and `applause_tail`: the share of the first and last seconds that
    is crowd-like and within 20 dB of the music's loud level in the middle (`loud_db`
    of `concert_features`; without it, where the middle was silent, both are 0)."""
    out = dict.fromkeys(END_KEYS, 0.0)
    if "loud_db" not in middle:
        return out
    g = _Grid(int(sample_rate))
    cb = _bins(g.freqs, *CROWD_BAND)  # only the crowd band of the ends is looked at,
    lo = _bins(g.freqs, *LOW_MIDS).start  # and the low-mids, which applause leaves quiet
    jobs = []
    for seg in (head, tail):
        x = np.asarray(seg if seg is not None else np.zeros(0), dtype=np.float32)
        if x.ndim == 2 and x.shape[1] >= 2:  # the first two channels' mid, as in the middle
            y = g.reduce_pair(x[:, :2], side=False)[0]
        else:
            y = g.reduce(x[:, 0] if x.ndim == 2 else x)
        jobs.append((y, g.count(len(x), len(y), END_STRIDE), END_STRIDE, lo, cb.stop))
    crowd_bins = slice(cb.start - lo, cb.stop - lo)
    for key, s in zip(END_KEYS, g.spectra(jobs)):
        p = g.power(s, lo)
        lv = _band_levels(p, g.freqs[lo:cb.stop], [CROWD_BAND, LOW_MIDS]) if len(p) else np.zeros((0, 2))
        _, level, _, clapping = _blocks(lv[:, 0], _flatness(p, crowd_bins), g.hop_s * END_STRIDE, lv[:, 1])
        out[key] = round(_applause(clapping, level, middle["loud_db"]), 4)
    return out


# --- the score -------------------------------------------------------------
# log-odds of "audience (or soundboard) recording of a live show"; every cue adds its weight
BIAS = -2.5
REVERB_SPLIT_S = 0.75  # reverb_s: dry mixes 0.3-0.5 (studio reverb included), halls above 0.9
MUSIC_FLATNESS = 0.15  # 150-1000 Hz, loud blocks: tonal music < 0.15; drum roll 0.22, noise 0.6
MUSIC_RANGE_DB = 5.0  # p90-p10 of 150-1000 Hz block levels: steady noise < 1, drum roll ~3, shows 6+
ROOMY_REVERB_S = 0.9  # above this the room dominates: worth de-rooming (an AUD, not an SBD)
CROWDED = 0.5  # applause_mid: the crowd is as loud as the band in 1-5 kHz half the time
ROOMY_CROWD_SHARE = 0.6  # crowd-like share of the music's blocks: AUD renders 0.69-1.0, SBD 0-0.35
# An audience recording has an audience: where no crowd cue is heard at all (with the
# first and last seconds heard, or ruled out), the room alone counts for less
AUDIENCE_CUES = ("crowd_bed", "applause", "crowd_in_music")
NO_AUDIENCE_WEIGHT = -1.0
# The room is heard between the notes: where the music's level never dips more than this
# (gap_db: p10 - p90 within an excerpt) it is a continuous wall (dense distorted guitars),
# whose slow falls and filled pauses are the music's own, not a hall's: the reverb and gap
# cues are left out. The corpus's shows dip 6.1-17 dB, studio rock walls 2.7-4.9.
CONTINUOUS_GAP_DB = -5.5
# A bed lies under the music: its quietest moments this far under the loud ones at least
# (bed_db); closer, the "bed" is the music itself (the corpus's shows: 4.9-16.7 dB under)
BED_UNDER_DB = -5.5


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def is_roomy(features: dict[str, float]) -> bool:
    """Heard from the floor: the room or the crowd is a large part of the sound.

    Meant for files already judged live: an audience (AUD) recording, worth de-rooming,
    rather than a soundboard (SBD) feed. Either the notes ring on like in a hall, or the
    crowd is about as loud as the band in the 1-5 kHz band for most of the music (on a
    board feed the crowd only leaks in through the vocal microphones).
    """
    g = lambda k: float(features.get(k, NEUTRAL.get(k, 0.0)))  # noqa: E731
    ringing = g("reverb_s") >= ROOMY_REVERB_S and g("gap_db") <= CONTINUOUS_GAP_DB  # see audio_cues
    return ringing or g("applause_mid") >= ROOMY_CROWD_SHARE


def audio_cues(f: dict[str, float]) -> list[Cue]:
    """Turn measured features into cues (pure, so it can be tuned on saved features)."""
    g = lambda k: float(f.get(k, NEUTRAL.get(k, 0.0)))  # noqa: E731
    cues: list[Cue] = []
    # crowd cues need music to be heard with: music comes and goes over a crowd's steady
    # bed (phrases, songs, pauses) or is clearly tonal; noise and a drum roll are neither
    music = g("music_range_db") >= MUSIC_RANGE_DB or g("music_flatness") < MUSIC_FLATNESS
    rev = g("reverb_s")
    w = round(float(np.clip((rev - REVERB_SPLIT_S) * 3.0, -1.5, 2.0)), 2)
    gap = g("gap_db")
    if gap > CONTINUOUS_GAP_DB:
        cues.append(Cue("reverb", round(rev, 2), 0.0, f"the music never pauses (its level dips {-gap:.0f} dB at most): "
                                                      "no room can be heard between its notes"))
    elif rev >= REVERB_SPLIT_S:
        cues.append(Cue("reverb", round(rev, 2), w, f"notes die away slowly, like in a hall (~{rev:.1f} s)"))
    elif music and g("applause_mid") >= CROWDED:
        # a crowd next to the microphone has sharp, dry sounds of its own (claps, shouts):
        # under it, fast decays say little about the room the band is playing in
        cues.append(Cue("reverb", round(rev, 2), round(w / 3, 2),
                        f"some sounds stop quickly (~{rev:.1f} s of decay), but a crowd is close to the microphone"))
    else:
        cues.append(Cue("reverb", round(rev, 2), w, f"notes stop cleanly (~{rev:.1f} s of decay): a dry, close sound"))
    if gap <= CONTINUOUS_GAP_DB:  # a continuous wall has no pauses to fill (said with the reverb cue)
        w = round(float(np.clip((gap + 22.0) / 8.0, -1.0, 0.6)), 2)
        if w > 0.2:
            cues.append(Cue("filled_gaps", round(gap, 1), w,
                            "the pauses between notes are filled with room sound or crowd"))
        elif w < -0.2:
            cues.append(Cue("filled_gaps", round(gap, 1), w, "the pauses between notes are quiet"))
    if music and g("bed_crowd") >= 0.5 and -35 < g("bed_db") <= BED_UNDER_DB:
        cues.append(Cue("crowd_bed", round(g("bed_crowd"), 2), 1.5, "a crowd-like noise runs under the music"))
    elif g("bed_flatness") < 0.05:
        cues.append(Cue("crowd_bed", round(g("bed_flatness"), 2), -0.5, "no crowd noise under the music"))
    head, tail = g("applause_head"), g("applause_tail")
    if music and max(head, tail) >= 0.25:
        where = "start and end" if min(head, tail) >= 0.25 else ("start" if head >= tail else "end")
        cues.append(Cue("applause", round(max(head, tail), 2), 1.5 if min(head, tail) >= 0.25 else 1.0,
                        f"applause or cheering at the {where}"))
    if music and g("applause_mid") >= CROWDED:
        # a crowd as loud as the band half the time or more: no studio or board mix has that
        # (on the corpus and the test clips no music but the shows reaches even 0.3)
        cues.append(Cue("crowd_in_music", round(g("applause_mid"), 2), 1.0,
                        "crowd noise as loud as the band for much of the music"))
    elif music and g("applause_mid") >= 0.3:
        cues.append(Cue("crowd_in_music", round(g("applause_mid"), 2), 0.5, "crowd noise heard through the music"))
    if music and not any(c.name in AUDIENCE_CUES and c.weight > 0 for c in cues):
        # a hall alone is what a studio orchestra or a reverberant mix has too
        ends = "no applause at the ends, " if all(k in f for k in END_KEYS) else ""
        cues.append(Cue("no_audience", 0.0, NO_AUDIENCE_WEIGHT,
                        f"no audience heard: {ends}no crowd under or through the music"))
    if g("hf_db") < -35:
        cues.append(Cue("dull_top", round(g("hf_db"), 1), 0.4, "the top octave is dull, as from a distant microphone"))
    if g("boom_db") > 3:
        cues.append(Cue("boom", round(g("boom_db"), 1), 0.4, "boomy low end, as from a room or handheld microphone"))
    if g("stereo") >= 1:
        if g("coh_high") < 0.15 and g("coh_low") > g("coh_high") + 0.3:
            cues.append(Cue("spaced_pair", round(g("coh_high"), 2), 0.4,
                            "the channels differ in the highs, as a microphone pair in a hall hears"))
        elif g("coh_high") > 0.7:
            cues.append(Cue("spaced_pair", round(g("coh_high"), 2), -0.3, "the channels agree closely, as in a mix"))
    return cues


def concert_score(features: dict[str, float], cues: list[Cue] | None = None) -> tuple[float, list[Cue]]:
    """Probability-like score (0..1) that this is a live recording, and the cues behind it.

    `cues` are other evidence to weigh in (folder names, lineage files: see taper.py).
    """
    all_cues = audio_cues(features) + list(cues or [])
    total = BIAS + sum(c.weight for c in all_cues)
    return round(_sigmoid(total), 3), sorted(all_cues, key=lambda c: -abs(c.weight))


def score_with_applause_at_ends(features: dict[str, float], cues: list[Cue] | None = None) -> float:
    """The score these features would reach with applause all through the first and last
    seconds: the most that hearing the ends can add (no other cue comes from them)."""
    return concert_score(features | dict.fromkeys(END_KEYS, 1.0), cues)[0]
