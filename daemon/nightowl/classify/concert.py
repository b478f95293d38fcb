"""Audience-recording ("concert") cues from decoded audio.

Pure functions on numpy arrays. A recording made from the audience differs from a
studio or soundboard file in ways that are physical, not stylistic:

* the room: every note ends in the hall's reverberation, so even the *fastest*
  decays in the file are only as fast as the room lets them be (a dry mix has
  notes that stop dead); onsets rise out of the previous note's tail, and the
  gaps between notes are filled;
* the crowd: a noise-like bed (talk, shuffling, cheering) under and between the
  songs, and applause or cheering, broadband and dense, at the start and the end;
* the microphone: a distant or handheld microphone picks up room boom below
  ~150 Hz and loses the top octave to distance and air;
* the pair: two microphones in a diffuse field hear different reverberation, so
  the channels decorrelate above a few hundred hertz, where a mix stays coherent.

A soundboard (SBD) recording is a concert too, but with little room in it: the
`reverb_s` and `room_db` features let a rule tell it apart from an audience
(AUD) recording that could use de-rooming.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

HOP_S = 0.01  # 10 ms envelope frames
DECAY_BANDS = ((250.0, 500.0), (500.0, 1000.0), (1000.0, 2000.0), (2000.0, 4000.0))
DECAY_WINDOW_S = 0.2  # length of the line fitted to a decay
CROWD_BAND = (1000.0, 5000.0)  # applause and crowd are flat here (and survive an 11 kHz source)
COHERENCE_BANDS = {"low": (100.0, 500.0), "mid": (500.0, 2000.0), "high": (2000.0, 8000.0)}

# neutral values reported where a feature cannot be measured (mono, too short, silent)
NEUTRAL = {
    "reverb_s": 0.7, "room_db": -6.0, "onset_jump_db": 15.0, "gap_db": -25.0,
    "bed_flatness": 0.2, "applause_head": 0.0, "applause_tail": 0.0, "applause_mid": 0.0,
    "boom_db": 0.0, "hf_db": -25.0, "coh_low": 0.6, "coh_mid": 0.4, "coh_high": 0.3,
}


@dataclass(frozen=True)
class Cue:
    """One piece of evidence: positive weight points towards "audience recording"."""

    name: str
    value: float | str
    weight: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def _stft(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Complex spectra of Hann frames (10 ms hop); returns (freqs, spectra, hop seconds)."""
    hop = max(1, int(round(sr * HOP_S)))
    n_fft = 1 << int(np.ceil(np.log2(2.3 * hop)))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    if len(x) < n_fft:
        return freqs, np.zeros((0, len(freqs)), np.complex64), hop / sr
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1).astype(np.complex64)
    return freqs, spec, hop / sr


def _band_db(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    sel = (freqs >= lo) & (freqs < hi)
    if not sel.any():
        return np.full(len(power), -200.0)
    return 10.0 * np.log10(power[:, sel].sum(axis=1) + 1e-20)


def _flatness(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Spectral flatness (geometric / arithmetic mean) per frame in a band: 1 = white noise."""
    sel = (freqs >= lo) & (freqs < hi)
    if sel.sum() < 4:
        return np.zeros(len(power))
    p = power[:, sel].astype(np.float64) + 1e-20
    return np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)


def _fastest_decay(env_db: np.ndarray, hop_s: float) -> list[float]:
    """Slopes (dB/s) of every free decay in one band envelope.

    A line is fitted to each 200 ms stretch; only stretches that fall steadily
    (good fit, clearly above the floor) count.
    """
    w = max(4, int(round(DECAY_WINDOW_S / hop_s)))
    if len(env_db) < w + 2:
        return []
    floor = float(np.percentile(env_db, 5))
    top = float(np.percentile(env_db, 95))
    if top - floor < 12:
        return []
    win = np.lib.stride_tricks.sliding_window_view(env_db, w)
    t = (np.arange(w) - (w - 1) / 2) * hop_s
    slope = win @ t / float(t @ t)
    resid = win - win.mean(axis=1, keepdims=True) - slope[:, None] * t
    rms = np.sqrt(np.mean(resid**2, axis=1))
    ok = (
        (slope < 0)
        & (rms < 2.0)
        & (win[:, 0] > max(floor + 12, top - 30))
        & (win[:, -1] > floor + 3)
        & (win[:, 0] - win[:, -1] > 6)
    )
    return slope[ok].tolist()


def _onset_profile(env_db: np.ndarray, hop_s: float) -> tuple[list[float], list[float]]:
    """Onset jumps (dB over 30 ms) and, for each onset, late/early energy (dB).

    late/early: energy 80-400 ms after the onset's peak over the first 40 ms,
    against the level just before the onset (a dry note can sustain, but a room
    keeps adding late energy to every note).
    """
    n = len(env_db)
    k3 = max(1, int(round(0.03 / hop_s)))
    e_early, l0, l1 = int(round(0.04 / hop_s)), int(round(0.08 / hop_s)), int(round(0.4 / hop_s))
    if n < l1 + k3 + 2:
        return [], []
    rise = env_db[k3:] - env_db[:-k3]
    top = float(np.percentile(env_db, 95))
    jumps, ratios = [], []
    i, last = k3, -10**9
    cand = np.flatnonzero(rise > 6.0)
    for c in cand:
        p = c + k3  # frame at the top of the rise
        if p - last < l1 or p + l1 >= n or env_db[p] < top - 25:
            continue
        last = p
        jumps.append(float(rise[c]))
        lin = 10.0 ** (env_db[p : p + l1] / 10.0)
        ratios.append(float(10 * np.log10(lin[l0:].mean() / (lin[:e_early].mean() + 1e-20) + 1e-20)))
    return jumps, ratios


def _applause(power: np.ndarray, freqs: np.ndarray, loud_ref: float) -> float:
    """Share of frames that are loud, broadband and noise-like (applause, cheering)."""
    if len(power) == 0:
        return 0.0
    flat = _flatness(power, freqs, *CROWD_BAND)
    level = _band_db(power, freqs, *CROWD_BAND)
    # smooth over 100 ms: applause stays noise-like, a cymbal hit does not
    k = 10
    if len(flat) >= k:
        flat = np.convolve(flat, np.ones(k) / k, mode="same")
    return float(np.mean((flat > 0.3) & (level > loud_ref - 20)))


def _coherence(excerpts: Sequence[np.ndarray], sr: int) -> dict[str, float]:
    """Magnitude-squared coherence between the channels, averaged over bins per band."""
    sxx = syy = sxy = None
    freqs = None
    for ex in excerpts:
        if ex.ndim != 2 or ex.shape[1] < 2:
            return {}
        freqs, a, _ = _stft(ex[:, 0], sr)
        _, b, _ = _stft(ex[:, 1], sr)
        if len(a) == 0:
            continue
        pa, pb, pab = (np.abs(a) ** 2).sum(0), (np.abs(b) ** 2).sum(0), (a * np.conj(b)).sum(0)
        sxx, syy, sxy = (pa, pb, pab) if sxx is None else (sxx + pa, syy + pb, sxy + pab)
    if sxx is None or freqs is None:
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


def concert_features(
    excerpts: Sequence[np.ndarray], sample_rate: int, head: np.ndarray, tail: np.ndarray
) -> dict[str, float]:
    """Measure room, crowd, microphone and stereo cues (plain floats, JSON-friendly).

    `excerpts`: a few excerpts (~6 s) from the middle of the file; `head`/`tail`: the
    first and last ~10 s. All float32, shaped (frames, channels) or (frames,).
    """
    sr = int(sample_rate)
    f: dict[str, float] = dict(NEUTRAL)
    f["stereo"] = 0.0
    mids = [_mono(e) for e in excerpts if len(e)]
    specs = []
    hop_s = HOP_S
    freqs = np.fft.rfftfreq(2, 1.0 / sr)
    for x in mids:
        freqs, s, hop_s = _stft(x, sr)
        if len(s):
            specs.append(np.abs(s) ** 2)
    f["seconds"] = float(sum(len(x) for x in mids) / sr)
    if not specs:
        return {k: round(float(v), 4) for k, v in f.items()}

    # --- room: fastest free decays, onset jumps, late energy, filled gaps ---
    slopes, jumps, ratios, gaps = [], [], [], []
    for p in specs:
        for lo, hi in DECAY_BANDS:
            if hi > sr / 2:
                continue
            env = _band_db(p, freqs, lo, hi)
            slopes += _fastest_decay(env, hop_s)
        broad = _band_db(p, freqs, 100.0, min(8000.0, sr / 2))
        j, r = _onset_profile(broad, hop_s)
        jumps += j
        ratios += r
        if np.percentile(broad, 95) > -90:
            gaps.append(float(np.percentile(broad, 10) - np.percentile(broad, 90)))
    f["decays"] = float(len(slopes))
    if len(slopes) >= 5:
        # the 10% steepest: a room cannot let sound die faster than its own decay
        steep = float(np.percentile(slopes, 10))
        f["reverb_s"] = float(min(60.0 / -steep, 10.0))
    f["onsets"] = float(len(jumps))
    if len(jumps) >= 3:
        f["onset_jump_db"] = float(np.median(jumps))
        f["room_db"] = float(np.median(ratios))
    if gaps:
        f["gap_db"] = float(np.median(gaps))

    # --- crowd bed: what lies under the music in its quietest moments ---
    allp = np.concatenate(specs)
    crowd_level = _band_db(allp, freqs, *CROWD_BAND)
    quiet = crowd_level <= np.percentile(crowd_level, 15)
    flat = _flatness(allp, freqs, *CROWD_BAND)
    if quiet.sum() >= 10 and crowd_level.max() > -90:
        f["bed_flatness"] = float(np.median(flat[quiet]))
    loud_ref = float(np.percentile(crowd_level, 90))
    f["applause_mid"] = _applause(allp, freqs, loud_ref)
    for name, seg in (("head", head), ("tail", tail)):
        x = _mono(seg) if seg is not None and len(seg) else np.zeros(0, np.float32)
        _, s, _ = _stft(x, sr)
        f[f"applause_{name}"] = _applause(np.abs(s) ** 2, freqs, loud_ref)

    # --- microphone: boom and top-octave loss in the long-term spectrum ---
    lts = allp.mean(axis=0)

    def band(lo: float, hi: float) -> float:
        sel = (freqs >= lo) & (freqs < hi)
        return float(lts[sel].sum()) + 1e-20

    if band(150, 600) > 1e-12:
        f["boom_db"] = float(10 * np.log10(band(20, 150) / band(150, 600)))
        if sr >= 32000:
            f["hf_db"] = float(10 * np.log10(band(10000, 16000) / band(1000, 4000)))

    # --- stereo pair ---
    coh = _coherence([e for e in excerpts if len(e)], sr)
    if coh:
        f["stereo"] = 1.0
        f.update(coh)
    return {k: round(float(v), 4) for k, v in f.items() if np.isfinite(v)}
