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

A soundboard (SBD) recording is a concert too, but with little room and crowd in
it: `is_roomy()` (from `reverb_s` and `applause_mid`) tells it apart from an
audience (AUD) recording that could use de-rooming; lineage files and etree names
(taper.py) say which more reliably where they exist.

Every threshold below comes from physics first and was checked on the benchmark
corpus's simulated shows and the genuine studio clips (see the comments).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

# one Cue type for every classifier's evidence (name, value, weight, text); here a
# positive weight points towards "live recording"
from .podcast import Cue

__all__ = ["Cue", "concert_features", "concert_score", "audio_cues", "is_roomy"]

HOP_S = 0.01  # 10 ms envelope frames
DECAY_BANDS = ((250.0, 500.0), (500.0, 1000.0), (1000.0, 2000.0), (2000.0, 4000.0))
DECAY_WINDOW_S = 0.15  # how far ahead a fall is measured
CROWD_BAND = (1000.0, 5000.0)  # applause and crowd are flat here (and survive an 11 kHz source)
APPLAUSE_FLATNESS = 0.2  # crowd recordings: ~0.3; tonal music: < 0.05; drum loops: up to 0.4
APPLAUSE_MAX_SWING_DB = 12.0  # sparse clapping (a few dozen people) swings up to ~10 dB
APPLAUSE_RHYTHM = 0.3  # periodicity: crowd and applause 0.05-0.26; drum loops, arpeggios 0.3-0.8
MUSIC_BAND = (150.0, 1000.0)  # where music's fundamentals and low harmonics live
COHERENCE_BANDS = {"low": (100.0, 500.0), "mid": (500.0, 2000.0), "high": (2000.0, 8000.0)}

# neutral values reported where a feature cannot be measured (mono, too short, silent)
NEUTRAL = {
    "reverb_s": 0.7, "fastest_drop_db": 13.0, "room_db": -6.0, "onset_jump_db": 15.0, "gap_db": -25.0,
    "bed_db": -40.0, "bed_flatness": 0.2, "bed_crowd": 0.0, "music_flatness": 0.1, "music_range_db": 10.0,
    "applause_head": 0.0, "applause_tail": 0.0, "applause_mid": 0.0,
    "boom_db": 0.0, "hf_db": -25.0, "coh_low": 0.6, "coh_mid": 0.4, "coh_high": 0.3,
}


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
    # single precision throughout: twice as fast, and 24 bits are plenty for levels
    spec = scipy.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)
    return freqs, spec, hop / sr


def _bins(freqs: np.ndarray, lo: float, hi: float) -> slice:
    return slice(int(np.searchsorted(freqs, lo)), int(np.searchsorted(freqs, hi)))


def _band_db(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Level (dB) per frame in a band."""
    band = _bins(freqs, lo, hi)
    if band.stop <= band.start:
        return np.full(len(power), -200.0)
    return 10.0 * np.log10(power[:, band].sum(axis=1, dtype=np.float64) + 1e-20)


def _flatness(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Spectral flatness (geometric / arithmetic mean) per frame in a band: 1 = white noise."""
    band = _bins(freqs, lo, hi)
    if band.stop - band.start < 4:
        return np.zeros(len(power))
    p = power[:, band] + np.float32(1e-20)
    return np.exp(np.mean(np.log(p), axis=1, dtype=np.float64)) / np.mean(p, axis=1, dtype=np.float64)


def _decay_drops(env_db: np.ndarray, hop_s: float) -> np.ndarray:
    """How far the level falls within DECAY_WINDOW_S, from every loud frame (dB).

    A room cannot let sound die faster than its own decay (60 dB per RT60): in a
    dry mix the steepest of these falls are tens of dB (a note stops dead), in a
    hall only a few. The steady bed (crowd, hiss) is taken out first, so a fall
    into it still counts at its full depth.
    """
    k = max(2, int(round(DECAY_WINDOW_S / hop_s)))
    if len(env_db) < k + 2:
        return np.zeros(0)
    floor = float(np.percentile(env_db, 5))
    top = float(np.percentile(env_db, 95))
    if top - floor < 15:
        return np.zeros(0)
    lin = 10.0 ** (env_db / 10.0) - 10.0 ** (floor / 10.0)
    env = 10.0 * np.log10(np.maximum(lin, 10.0 ** ((floor - 20) / 10.0)))
    start = env[:-k]
    ok = (start > floor + 15) & (start > top - 35)
    return (start - env[k:])[ok]


def _onset_profile(env_db: np.ndarray, hop_s: float) -> tuple[list[float], list[float]]:
    """Sharp onsets: their jumps (dB within 30 ms) and late/early energy (dB).

    late/early: energy 80-400 ms after the onset over its first 40 ms (a room keeps
    adding late energy to every note; a dry note can sustain too, so this is weak).
    A distant microphone smears transients: fewer and smaller jumps.
    """
    n = len(env_db)
    k3 = max(1, int(round(0.03 / hop_s)))
    e_early, l0, l1 = int(round(0.04 / hop_s)), int(round(0.08 / hop_s)), int(round(0.4 / hop_s))
    if n < l1 + k3 + 2:
        return [], []
    rise = env_db[k3:] - env_db[:-k3]
    top = float(np.percentile(env_db, 95))
    jumps, ratios = [], []
    last = -(10**9)
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
    out = np.zeros(len(centres))
    for i, c in enumerate(centres):
        a = max(0, min(int(c) - w // 2, len(resid) - w))
        x = resid[a : a + w]
        if len(x) < hi + 10:
            x = resid  # a short segment: use all of it
        x = x - x.mean()
        spec = np.fft.rfft(x, n_fft)
        ac = np.fft.irfft(spec.real**2 + spec.imag**2, n_fft)[: min(hi, len(x) - 10)]
        out[i] = float(ac[lo:].max() / (ac[0] + 1e-12)) if len(ac) > lo else 0.0
    return out


def _blocks(power: np.ndarray, freqs: np.ndarray, hop_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-second blocks: (crowd-like, level dB in 1-5 kHz, flatness).

    A crowd-like block is broadband and noise-like (flat in 1-5 kHz) and without
    rhythm: claps and voices are not in time with each other, while drums and
    dense reverberant arpeggios, which can be as flat, repeat.
    """
    b = max(2, int(round(0.5 / hop_s)))
    n = len(power) // b
    if n == 0:
        return np.zeros(0, bool), np.zeros(0), np.zeros(0)
    flat = _flatness(power[: n * b], freqs, *CROWD_BAND).reshape(n, b).mean(axis=1)
    level_all = _band_db(power, freqs, *CROWD_BAND)
    level = level_all[: n * b].reshape(n, b)
    swing = level.std(axis=1)
    mean = 10.0 * np.log10(np.mean(10.0 ** (level / 10.0), axis=1) + 1e-20)
    crowd = (flat > APPLAUSE_FLATNESS) & (swing < APPLAUSE_MAX_SWING_DB) & (mean > -100)
    if crowd.any():
        centres = (np.flatnonzero(crowd) + 0.5) * b
        crowd[crowd] = _periodicity(level_all, hop_s, centres) < APPLAUSE_RHYTHM
    return crowd, mean, flat


def _music_band(power: np.ndarray, freqs: np.ndarray, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Flatness and level (dB) per half-second block in 150-1000 Hz, where music's
    fundamentals and harmonics live."""
    b = max(2, int(round(0.5 / hop_s)))
    n = len(power) // b
    if not n:
        return np.zeros(0), np.zeros(0)
    p = power[: n * b]
    flat = _flatness(p, freqs, *MUSIC_BAND).reshape(n, b).mean(axis=1)
    level = 10.0 * np.log10(np.mean(10.0 ** (_band_db(p, freqs, *MUSIC_BAND) / 10.0).reshape(n, b), axis=1) + 1e-20)
    return flat, level


def _applause(blocks: tuple[np.ndarray, np.ndarray, np.ndarray], loud_ref: float) -> float:
    """Share of blocks that are crowd-like and loud (within 20 dB of the music)."""
    crowd, level, _ = blocks
    return float(np.mean(crowd & (level > loud_ref - 20))) if len(crowd) else 0.0


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
    specs = []
    hop_s = HOP_S
    freqs = np.fft.rfftfreq(2, 1.0 / sr)
    pair: list[np.ndarray] = [np.zeros(0), np.zeros(0), np.zeros(0)]  # sums of |L|^2, |R|^2, L R*
    stereo = True
    seconds = 0.0
    for ex in excerpts:
        ex = np.asarray(ex, dtype=np.float32)
        if not len(ex):
            continue
        seconds += len(ex) / sr
        if ex.ndim == 2 and ex.shape[1] >= 2 and stereo:
            freqs, a, hop_s = _stft(ex[:, 0], sr)
            _, b, _ = _stft(ex[:, 1], sr)
            if len(a):
                sums = ((a.real**2 + a.imag**2).sum(0), (b.real**2 + b.imag**2).sum(0), (a * np.conj(b)).sum(0))
                pair = [s if not len(p) else p + s for p, s in zip(pair, sums)]
            s = 0.5 * (a + b)  # the STFT is linear: this is the mid channel's
        else:
            stereo = False
            freqs, s, hop_s = _stft(_mono(ex), sr)
        if len(s):
            specs.append(s.real**2 + s.imag**2)
    f["seconds"] = float(seconds)
    if not specs:
        return {k: round(float(v), 4) for k, v in f.items()}

    # --- room: fastest free decays, onset jumps, late energy, filled gaps ---
    slopes, jumps, ratios, gaps = [], [], [], []
    for p in specs:
        for lo, hi in DECAY_BANDS:
            if hi > sr / 2:
                continue
            env = _band_db(p, freqs, lo, hi)
            slopes.append(_decay_drops(env, hop_s))
        broad = _band_db(p, freqs, 100.0, min(8000.0, sr / 2))
        j, r = _onset_profile(broad, hop_s)
        jumps += j
        ratios += r
        if np.percentile(broad, 95) > -90:
            gaps.append(float(np.percentile(broad, 10) - np.percentile(broad, 90)))
    drops = np.concatenate(slopes) if slopes else np.zeros(0)
    f["decay_frames"] = float(len(drops))
    if len(drops) >= 50:
        # the steepest 5% of falls, as a reverberation time (60 dB at that rate)
        steep = float(np.percentile(drops, 95))
        f["fastest_drop_db"] = steep
        f["reverb_s"] = float(min(60.0 * DECAY_WINDOW_S / max(steep, 0.5), 10.0))
    f["onsets"] = float(len(jumps))
    f["onset_rate"] = float(len(jumps) / max(f["seconds"], 1e-9))
    if len(jumps) >= 3:
        f["onset_jump_db"] = float(np.median(jumps))
        f["room_db"] = float(np.median(ratios))
    if gaps:
        f["gap_db"] = float(np.median(gaps))

    # --- crowd: under the music in its quietest moments, and at both ends ---
    mid = [_blocks(p, freqs, hop_s) for p in specs]
    crowd = np.concatenate([m[0] for m in mid])
    level = np.concatenate([m[1] for m in mid])
    flat = np.concatenate([m[2] for m in mid])
    mb = [_music_band(p, freqs, hop_s) for p in specs]
    tonal = np.concatenate([m[0] for m in mb])
    low = np.concatenate([m[1] for m in mb])
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
        f["applause_mid"] = _applause((crowd, level, flat), loud_ref)
        for name, seg in (("head", head), ("tail", tail)):
            x = _mono(seg) if seg is not None and len(seg) else np.zeros(0, np.float32)
            _, s, _ = _stft(x, sr)
            f[f"applause_{name}"] = _applause(_blocks(s.real**2 + s.imag**2, freqs, hop_s), loud_ref)
    allp = np.concatenate(specs)

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
    coh = _coherence(*pair, freqs, sr) if stereo else {}
    if coh:
        f["stereo"] = 1.0
        f.update(coh)
    return {k: round(float(v), 4) for k, v in f.items() if np.isfinite(v)}


# --- the score -------------------------------------------------------------
# log-odds of "audience (or soundboard) recording of a live show"; every cue adds its weight
BIAS = -2.5
REVERB_SPLIT_S = 0.75  # reverb_s: dry mixes 0.3-0.5 (studio reverb included), halls above 0.9
MUSIC_FLATNESS = 0.15  # 150-1000 Hz, loud blocks: tonal music < 0.15; drum roll 0.22, noise 0.6
MUSIC_RANGE_DB = 5.0  # p90-p10 of 150-1000 Hz block levels: steady noise < 1, drum roll ~3, shows 6+
ROOMY_REVERB_S = 0.9  # above this the room dominates: worth de-rooming (an AUD, not an SBD)
CROWDED = 0.5  # applause_mid: the crowd is as loud as the band in 1-5 kHz half the time
ROOMY_CROWD_SHARE = 0.6  # crowd-like share of the music's blocks: AUD renders 0.69-1.0, SBD 0-0.35


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
    return g("reverb_s") >= ROOMY_REVERB_S or g("applause_mid") >= ROOMY_CROWD_SHARE


def audio_cues(f: dict[str, float]) -> list[Cue]:
    """Turn measured features into cues (pure, so it can be tuned on saved features)."""
    g = lambda k: float(f.get(k, NEUTRAL.get(k, 0.0)))  # noqa: E731
    cues: list[Cue] = []
    # crowd cues need music to be heard with: music comes and goes over a crowd's steady
    # bed (phrases, songs, pauses) or is clearly tonal; noise and a drum roll are neither
    music = g("music_range_db") >= MUSIC_RANGE_DB or g("music_flatness") < MUSIC_FLATNESS
    rev = g("reverb_s")
    w = round(float(np.clip((rev - REVERB_SPLIT_S) * 3.0, -1.5, 2.0)), 2)
    if rev >= REVERB_SPLIT_S:
        cues.append(Cue("reverb", round(rev, 2), w, f"notes die away slowly, like in a hall (~{rev:.1f} s)"))
    elif music and g("applause_mid") >= CROWDED:
        # a crowd next to the microphone has sharp, dry sounds of its own (claps, shouts):
        # under it, fast decays say little about the room the band is playing in
        cues.append(Cue("reverb", round(rev, 2), round(w / 3, 2),
                        f"some sounds stop quickly (~{rev:.1f} s of decay), but a crowd is close to the microphone"))
    else:
        cues.append(Cue("reverb", round(rev, 2), w, f"notes stop cleanly (~{rev:.1f} s of decay): a dry, close sound"))
    gap = g("gap_db")
    w = round(float(np.clip((gap + 22.0) / 8.0, -1.0, 0.6)), 2)
    if w > 0.2:
        cues.append(Cue("filled_gaps", round(gap, 1), w,
                        "the pauses between notes are filled with room sound or crowd"))
    elif w < -0.2:
        cues.append(Cue("filled_gaps", round(gap, 1), w, "the pauses between notes are quiet"))
    if music and g("bed_crowd") >= 0.5 and g("bed_db") > -35:
        cues.append(Cue("crowd_bed", round(g("bed_crowd"), 2), 1.5, "a crowd-like noise runs under the music"))
    elif g("bed_flatness") < 0.05:
        cues.append(Cue("crowd_bed", round(g("bed_flatness"), 2), -0.5, "no crowd noise under the music"))
    head, tail = g("applause_head"), g("applause_tail")
    if music and max(head, tail) >= 0.25:
        where = "start and end" if min(head, tail) >= 0.25 else ("start" if head >= tail else "end")
        cues.append(Cue("applause", round(max(head, tail), 2), 1.5 if min(head, tail) >= 0.25 else 1.0,
                        f"applause or cheering at the {where}"))
    if music and g("applause_mid") >= 0.3:
        cues.append(Cue("crowd_in_music", round(g("applause_mid"), 2), 0.5, "crowd noise heard through the music"))
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
