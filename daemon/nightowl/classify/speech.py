"""Speech features: how much of a file is talk, how it is paced, who takes turns, what lies under it.

Pure functions on decoded samples, used to tell podcasts and voice memos from music.

* Voice activity comes from Silero VAD (the ONNX model shipped inside the `silero_vad`
  wheel, run with onnxruntime on the CPU; its Python package imports torch, so only
  its data file is used). The model sees 512-sample windows at 16 kHz (32 ms) with a
  64-sample context and a recurrent state. The wheel's "sequence" export runs a whole
  block of windows in one call, carrying the state inside the graph: the same
  probabilities, bit for bit, as the streaming model fed window by window, at under
  half the cost (the streaming model spends more on each call than on a window).
* Music is told from speech by what happens *between* the words (a music bed keeps
  sounding in the pauses, a lone voice leaves silence or a flat noise floor) and by
  tonal persistence: a held note keeps its spectral peaks for hundreds of
  milliseconds, a talking voice's harmonics glide with its pitch.
* Singing is not speech even though the VAD mostly believes it is: a singer holds
  steady pitches where a speaker glides (and the model is sometimes less sure).
* Voices are told apart per ~1.5 s block of speech by median pitch and timbre (MFCC
  means); podcasts show two or more voices taking turns, a voice memo shows one.
  Telling apart two voices of the same sex needs timbre, which is rough here: the
  count is a cue, not a diarisation.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import soxr
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.fft import dct, irfft, rfft
from scipy.ndimage import uniform_filter1d
from scipy.spatial.distance import pdist

from .spectral import to_mono

VAD_RATE = 16000
WINDOW = 512  # samples per VAD decision at 16 kHz (32 ms)
MONO_BLOCK = 1 << 20  # frames a block when making the 16 kHz mono (mono16k)
CONTEXT = 64  # samples of the previous window the model sees in front of each window
WINDOW_S = WINDOW / VAD_RATE

# speech segments, as silero's get_speech_timestamps defaults make them
ON_THRESHOLD = 0.5
OFF_THRESHOLD = 0.35
MIN_SPEECH_S = 0.25
MIN_SILENCE_S = 0.1
# a pause shorter than this sits inside a sentence; only longer ones count as pauses
MIN_PAUSE_S = 0.2
# segments this long carry enough voiced frames for a pitch and timbre estimate; longer
# ones are cut into blocks of about VOICE_BLOCK_S, each assigned to a voice
MIN_VOICE_SEGMENT_S = 0.6
VOICE_BLOCK_S = 1.5
MIN_VOICED_FRAMES = 6
AUDIBLE_DB = 30.0  # within this of the loud parts (95th percentile of frame level) counts as sounding

BLOCK_WINDOWS = 512  # windows per call to the sequence model (16 s), as silero's own front-end runs it

# analysis frames for timbre and tonality (16 kHz) and for pitch (8 kHz is plenty for a voice)
FRAME = 512  # 32 ms
HOP = 512  # 32 ms: one analysis frame per VAD window
PITCH_RATE = 8000
PITCH_FRAME = 384  # 48 ms: two periods of a 42 Hz voice
PITCH_HOP = HOP * PITCH_RATE // VAD_RATE
F0_RANGE = (60.0, 420.0)
# a pitch held this steady this long is a sung note: spoken vowels glide (speech here scores
# <= 0.05 of voiced time, festival's singing 0.35-0.52)
HOLD_S = 0.3
HOLD_RANGE_ST = 0.7
YIN_THRESHOLD = 0.2
MEL_BANDS = 26
MFCCS = 12
# distance (in units of typical within-speaker spread) above which two segments are two voices
VOICE_DISTANCE = 1.1  # chosen on the test clips and the bench corpus: 17 of 18 voice counts exact
VOICE_MIN_SHARE = 0.15
F0_SPREAD_ST = 2.5  # a speaker's per-segment median pitch wanders about this many semitones
TIMBRE_SPREAD = 20.0  # ... and their MFCC means (c1..c12 of dB mel bands) about this far, Euclidean


@lru_cache(maxsize=1)
def _vad_session() -> Any:
    """Silero VAD's sequence ONNX session, loaded once per process (CPU, one thread)."""
    import onnxruntime

    spec = importlib.util.find_spec("silero_vad")  # locate without importing (its __init__ imports torch)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("silero-vad is not installed")
    model = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad_16k_sequence.onnx"
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return onnxruntime.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


def _run_vad(stream: np.ndarray, pad: bool = False) -> np.ndarray:
    """Speech probability per window of a 16 kHz stream (1-D float32), from a fresh state;
    the last, partial window zero-padded where `pad` (else left out). Every window is fed
    with the CONTEXT samples before it (zeros before the first), as silero's sequence
    front-end does. The stream is framed a block at a time: an hour of it is 230 MB,
    and a framed or padded copy of it all would be as much again."""
    session = _vad_session()
    windows = -(-len(stream) // WINDOW) if pad else len(stream) // WINDOW
    out = np.empty(windows, dtype=np.float32)
    h = np.zeros((1, 1, 128), dtype=np.float32)
    c = np.zeros((1, 1, 128), dtype=np.float32)
    for first in range(0, windows, BLOCK_WINDOWS):
        count = min(BLOCK_WINDOWS, windows - first)
        begin, stop = first * WINDOW - CONTEXT, (first + count) * WINDOW
        seg = np.zeros(stop - begin, dtype=np.float32)
        got = stream[max(0, begin):stop]
        seg[max(0, -begin):max(0, -begin) + len(got)] = got
        block = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(seg, CONTEXT + WINDOW)[::WINDOW])
        probs, h, c = session.run(None, {"input": block, "h": h, "c": c})
        out[first:first + count] = probs.reshape(-1)
    return out


def speech_probabilities(audio16k: np.ndarray) -> np.ndarray:
    """Silero's speech probability (0..1) for each 32 ms window of 16 kHz audio (mono, or
    (frames, channels), which is mixed down).

    The last partial window is zero-padded, as silero does. One stream, state carried
    from the first window to the last.
    """
    return _run_vad(to_mono(audio16k), pad=True)  # (frames, channels) is mixed down


def speech_segments(probs: np.ndarray) -> list[tuple[int, int]]:
    """Speech segments as (first window, end window) with silero's hysteresis and minimum lengths."""
    min_speech = int(round(MIN_SPEECH_S / WINDOW_S))
    min_silence = int(round(MIN_SILENCE_S / WINDOW_S))
    segments: list[tuple[int, int]] = []
    start: int | None = None
    quiet_since: int | None = None
    for i, p in enumerate(probs):
        if start is None:
            if p >= ON_THRESHOLD:
                start, quiet_since = i, None
            continue
        if p >= OFF_THRESHOLD:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = i
        elif i - quiet_since >= min_silence:
            if quiet_since - start >= min_speech:
                segments.append((start, quiet_since))
            start, quiet_since = None, None
    if start is not None:
        end = quiet_since if quiet_since is not None else len(probs)
        if end - start >= min_speech:
            segments.append((start, end))
    return segments


def _frames(x: np.ndarray, frame: int, hop: int, count: int) -> np.ndarray:
    need = (count - 1) * hop + frame
    if len(x) < need:
        x = np.pad(x, (0, need - len(x)))
    return np.lib.stride_tricks.sliding_window_view(x, frame)[::hop][:count]


def _pitch(frames: np.ndarray) -> np.ndarray:
    """F0 in Hz per 8 kHz frame (YIN's cumulative-mean-normalised difference), NaN where unvoiced."""
    n = frames.shape[1]
    lo, hi = int(PITCH_RATE / F0_RANGE[1]), int(PITCH_RATE / F0_RANGE[0])
    f0 = np.full(len(frames), np.nan)
    if len(frames) == 0:
        return f0
    x = frames - frames.mean(axis=1, keepdims=True)
    r = _autocorrelation(x)[:, :hi + 2]
    sq = np.cumsum(x * x, axis=1)
    total = sq[:, -1:]
    taus = np.arange(1, hi + 2)
    head = np.concatenate([total, sq[:, n - 1 - taus]], axis=1)  # sum of x[0:n-tau]^2
    tail = total - np.concatenate([np.zeros((len(x), 1)), sq[:, taus - 1]], axis=1)  # sum of x[tau:n]^2
    d = np.maximum(head + tail - 2 * r, 0.0)
    cum = np.cumsum(d[:, 1:], axis=1) / taus
    cmnd = d[:, 1:] / np.maximum(cum, 1e-12)  # cmnd[:, t - 1] is lag t
    band = cmnd[:, lo - 1:hi]
    below = band < YIN_THRESHOLD
    first = np.where(below.any(axis=1), below.argmax(axis=1), -1)
    for i in np.flatnonzero(first >= 0):
        k = first[i]
        while k + 1 < band.shape[1] and band[i, k + 1] < band[i, k]:
            k += 1
        tau = float(k + lo)
        if 0 < k < band.shape[1] - 1:  # parabolic interpolation of the dip
            a, b, c = band[i, k - 1], band[i, k], band[i, k + 1]
            den = a - 2 * b + c
            if den > 0:
                tau += 0.5 * (a - c) / den
        f0[i] = PITCH_RATE / tau
    return f0


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """Linear autocorrelation of each row (zero-padded FFT)."""
    spec = rfft(x, 2 * x.shape[1], axis=1)
    return irfft(spec.real ** 2 + spec.imag ** 2, axis=1)


def _hold_mask(st: np.ndarray) -> np.ndarray:
    """Frames inside a steady-pitch stretch: HOLD_S of voiced frames within HOLD_RANGE_ST semitones."""
    width = max(2, int(round(HOLD_S * VAD_RATE / HOP)))
    out = np.zeros(len(st), dtype=bool)
    if len(st) < width:
        return out
    win = np.lib.stride_tricks.sliding_window_view(st, width)
    spread = np.ptp(np.nan_to_num(win), axis=1)
    spread[~np.isfinite(win).all(axis=1)] = np.inf  # every frame of a hold is voiced
    for i in np.flatnonzero(spread <= HOLD_RANGE_ST):
        out[i:i + width] = True
    return out


@lru_cache(maxsize=1)
def _mel_matrix() -> np.ndarray:
    def mel(f: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + f / 700)

    edges_mel = np.linspace(mel(np.array(60.0)), mel(np.array(7600.0)), MEL_BANDS + 2)
    edges = 700 * (10 ** (edges_mel / 2595) - 1)
    freqs = np.fft.rfftfreq(FRAME, 1 / VAD_RATE)
    m = np.zeros((MEL_BANDS, len(freqs)))
    for b in range(MEL_BANDS):
        lo, mid, hi = edges[b:b + 3]
        m[b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    return m


def _spectral_frames(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame power (dB), MFCCs, centroid, peak map and flux from one FFT per frame."""
    spec = rfft(frames * np.hanning(FRAME), axis=1)
    spec = spec.real ** 2 + spec.imag ** 2
    freqs = np.fft.rfftfreq(FRAME, 1 / VAD_RATE)
    power = spec.sum(axis=1)
    level_db = 10 * np.log10(power / FRAME + 1e-12)
    mel_db = 10 * np.log10(spec @ _mel_matrix().T + 1e-10)
    mfcc = dct(mel_db, type=2, norm="ortho", axis=1)[:, 1:MFCCS + 1]
    centroid = (spec * freqs).sum(axis=1) / np.maximum(power, 1e-12)
    # tonal peaks between 100 Hz and 4 kHz: bins 8 dB above their neighbourhood and local maxima
    band = slice(int(100 / freqs[1]), int(4000 / freqs[1]))
    log_spec = 10 * np.log10(spec[:, band] + 1e-12)
    smooth = uniform_filter1d(log_spec, 9, axis=1, mode="nearest")
    peaks = (log_spec - smooth > 8.0)
    peaks[:, 1:-1] &= (log_spec[:, 1:-1] >= log_spec[:, :-2]) & (log_spec[:, 1:-1] >= log_spec[:, 2:])
    # half-wave rectified flux of the log mel spectrum (onsets), in dB per frame
    flux = np.zeros(len(frames))
    flux[1:] = np.maximum(np.diff(mel_db, axis=0), 0).mean(axis=1)
    return {"level_db": level_db, "mfcc": mfcc, "centroid": centroid, "peaks": peaks, "flux": flux}


def _persistence(peaks: np.ndarray, mask: np.ndarray, lag: int) -> float:
    """Share of tonal peaks (±1 bin) in frame t that are still there at t + lag, over masked frames."""
    if len(peaks) <= lag:
        return float("nan")
    wide = peaks.copy()
    wide[:, 1:] |= peaks[:, :-1]
    wide[:, :-1] |= peaks[:, 1:]
    a, b = peaks[:-lag], wide[lag:]
    use = mask[:-lag] & mask[lag:]
    total = a[use].sum()
    if total < 20:
        return float("nan")  # too few peaks to say
    return float((a[use] & b[use]).sum() / total)


def _cluster_voices(vectors: list[np.ndarray]) -> list[int]:
    """Average-linkage clustering of block voice vectors (semitone pitch, MFCC means); a label per
    block, 0 for the biggest cluster. Distances are in units of a speaker's own typical spread."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    v = np.array(vectors, dtype=float)
    scaled = np.concatenate([v[:, :1] / F0_SPREAD_ST, v[:, 1:] / TIMBRE_SPREAD], axis=1) / np.sqrt(2)
    raw = fcluster(linkage(pdist(scaled), method="average"), t=VOICE_DISTANCE, criterion="distance")
    sizes = np.bincount(raw)
    order = {c: rank for rank, c in enumerate(sorted(set(raw.tolist()), key=lambda c: (-sizes[c], c)))}
    return [order[c] for c in raw.tolist()]


def _voices_and_turns(vectors: list[np.ndarray], excerpt_of: list[int]) -> tuple[int, int]:
    """Distinct voices among the speech blocks, and voice changes between consecutive blocks
    of the same excerpt."""
    labels = _cluster_voices(vectors)
    counts = np.bincount(labels) if labels else np.zeros(0, dtype=int)
    # a voice counts when it holds at least two blocks and a sizeable share of them; stray
    # blocks (a laugh, a cough, a sung jingle) are left out of the turn count too
    counted = set(np.flatnonzero(counts >= max(2, VOICE_MIN_SHARE * len(labels))).tolist())
    changes = 0
    previous: tuple[int, int] | None = None  # (excerpt, label) of the last counted block
    for excerpt, label in zip(excerpt_of, labels):
        if label not in counted:
            continue
        if previous is not None and previous[0] == excerpt and previous[1] != label:
            changes += 1
        previous = (excerpt, label)
    return len(counted), changes


def mono16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at the voice-activity detector's (and the speech models') 16 kHz.

    Made a block at a time through one resampler stream (the same samples as resampling
    the whole): the mid channel of an hour at 44.1 kHz would be 0.6 GB on its own."""
    if sample_rate == VAD_RATE:
        return np.ascontiguousarray(to_mono(audio), dtype=np.float32)
    n = len(audio)
    stream = soxr.ResampleStream(sample_rate, VAD_RATE, 1, dtype="float32", quality="HQ")
    out = np.empty(int(np.ceil(n * VAD_RATE / sample_rate)) + 64, dtype=np.float32)
    pos = 0
    for s in range(0, max(n, 1), MONO_BLOCK):
        y = stream.resample_chunk(to_mono(audio[s:s + MONO_BLOCK]), last=s + MONO_BLOCK >= n)
        if pos + len(y) > len(out):  # (never seen: soxr gives the rounded-up length)
            out = np.concatenate([out[:pos], np.empty(len(y), dtype=np.float32)])
        out[pos:pos + len(y)] = y
        pos += len(y)
    return out[:pos]


def _stereo_width(excerpts: Sequence[np.ndarray]) -> float:
    """Side energy relative to mid energy in dB (very low for mono or dual-mono talk)."""
    mid = side = 0.0
    for a in excerpts:
        if a.ndim == 2 and a.shape[1] >= 2:
            mid += float(np.sum(((a[:, 0] + a[:, 1]) / 2) ** 2))
            side += float(np.sum(((a[:, 0] - a[:, 1]) / 2) ** 2))
    if mid <= 0:
        return -120.0
    return float(10 * np.log10(side / mid + 1e-12))


def _nanmedian(values: Sequence[float] | np.ndarray, default: float = 0.0) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else default


def speech_features(excerpts: Sequence[np.ndarray], sample_rate: int) -> dict[str, float]:
    """Speech, pacing, voice-turn, music and channel features of a few excerpts of one file.

    `excerpts` are float32 arrays (frames, channels) at `sample_rate`. Every value is a
    plain float; see FEATURE_KEYS for what each means.
    """
    # an excerpt past the end of a cut-short file is empty: it holds nothing to hear
    excerpts = [np.asarray(a, dtype=np.float32).reshape(len(a), -1) for a in excerpts if np.size(a)]
    signals = [mono16k(a, sample_rate) for a in excerpts]
    probs = [speech_probabilities(x) for x in signals]
    channels = float(max((a.shape[1] for a in excerpts), default=0))

    total_windows = sum(len(p) for p in probs)
    minutes = total_windows * WINDOW_S / 60
    speech_windows = 0
    seg_lengths: list[float] = []
    pauses: list[float] = []
    in_speech_probs: list[np.ndarray] = []
    speech_level: list[np.ndarray] = []
    gap_level: list[np.ndarray] = []
    gap_flux: list[np.ndarray] = []
    speech_flux: list[np.ndarray] = []
    pers_gap: list[tuple[float, float]] = []  # (value, weight)
    pers_speech: list[tuple[float, float]] = []
    voiced_f0: list[np.ndarray] = []
    hold_frames = voiced_frames = 0
    audible_nonspeech = frames_seen = 0
    voiced_runs: list[float] = []
    segment_vectors: list[np.ndarray] = []
    segment_excerpt: list[int] = []
    segment_centroids: list[float] = []
    lag = int(round(0.25 * VAD_RATE / HOP))  # 250 ms

    for k, (x, p) in enumerate(zip(signals, probs)):
        segs = speech_segments(p)
        mask_w = np.zeros(len(p), dtype=bool)
        for s, e in segs:
            mask_w[s:e] = True
            seg_lengths.append((e - s) * WINDOW_S)
            in_speech_probs.append(p[s:e])
        speech_windows += int(mask_w.sum())
        for (_, e0), (s1, _) in zip(segs, segs[1:]):
            if (s1 - e0) * WINDOW_S >= MIN_PAUSE_S:
                pauses.append((s1 - e0) * WINDOW_S)
        if len(x) < FRAME:
            continue
        count = 1 + (len(x) - FRAME) // HOP
        feats = _spectral_frames(_frames(x, FRAME, HOP, count))
        # frame -> VAD window (frame centre)
        centre_w = np.minimum((np.arange(count) * HOP + FRAME // 2) // WINDOW, max(len(p) - 1, 0))
        speech_f = mask_w[centre_w] if len(p) else np.zeros(count, dtype=bool)
        # a frame well inside a pause (not the tails of words next to it)
        near_speech = mask_w.copy()
        near_speech[1:] |= mask_w[:-1]
        near_speech[:-1] |= mask_w[1:]
        gap_w = ~near_speech
        gap_f = gap_w[centre_w] if len(p) else np.zeros(count, dtype=bool)
        level = feats["level_db"]
        audible = level > level.max() - 60
        loud = np.percentile(level, 95)
        audible_nonspeech += int(np.sum(~speech_f & (level > loud - AUDIBLE_DB)))
        frames_seen += count
        speech_level.append(level[speech_f])
        gap_level.append(level[gap_f])
        gap_flux.append(feats["flux"][gap_f & audible])
        speech_flux.append(feats["flux"][speech_f])
        for mask, out in ((gap_f & audible, pers_gap), (speech_f, pers_speech)):
            v = _persistence(feats["peaks"], mask, lag)
            if np.isfinite(v):
                out.append((v, float(mask.sum())))
        # pitch only where there is loud enough speech
        f0 = np.full(count, np.nan)
        want = np.flatnonzero(speech_f & (level > level.max() - 45))
        if len(want):
            x8 = soxr.resample(x, VAD_RATE, PITCH_RATE, quality="LQ")
            # pitch frame i is centred where analysis frame i is
            x8 = np.pad(x8, ((PITCH_FRAME - FRAME * PITCH_RATE // VAD_RATE) // 2, PITCH_FRAME))
            f0[want] = _pitch(_frames(x8, PITCH_FRAME, PITCH_HOP, count)[want])
        voiced = np.isfinite(f0)
        voiced_f0.append(f0[voiced])
        st = 12 * np.log2(np.where(voiced, f0, np.nan) / 100.0)
        hold_frames += int((_hold_mask(st) & voiced).sum())
        voiced_frames += int(voiced.sum())
        edges = np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]]))
        voiced_runs.extend(((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)) * HOP / VAD_RATE).tolist())
        for s, e in segs:
            if (e - s) * WINDOW_S < MIN_VOICE_SEGMENT_S:
                continue
            # long segments may hold several turns (people talk over each other): cut into blocks
            pieces = max(1, int(round((e - s) * WINDOW_S / VOICE_BLOCK_S)))
            bounds = np.linspace(s, e, pieces + 1).round().astype(int)
            for b0, b1 in zip(bounds, bounds[1:]):
                sel = (centre_w >= b0) & (centre_w < b1) & np.isfinite(f0)
                if sel.sum() < MIN_VOICED_FRAMES:
                    continue
                pitch_st = 12 * np.log2(np.median(f0[sel]) / 100.0)
                segment_vectors.append(np.concatenate([[pitch_st], feats["mfcc"][sel].mean(axis=0)]))
                segment_excerpt.append(k)
                segment_centroids.append(float(np.median(feats["centroid"][sel])))

    voices, changes = _voices_and_turns(segment_vectors, segment_excerpt)
    all_probs = np.concatenate(in_speech_probs) if in_speech_probs else np.zeros(0)
    all_f0 = np.concatenate(voiced_f0) if voiced_f0 else np.zeros(0)
    sp_level = np.concatenate(speech_level) if speech_level else np.zeros(0)
    gp_level = np.concatenate(gap_level) if gap_level else np.zeros(0)
    speech_ratio = speech_windows / total_windows if total_windows else 0.0
    speech_minutes = speech_windows * WINDOW_S / 60

    def weighted(values: list[tuple[float, float]]) -> float:
        if not values:
            return 0.0
        v, w = np.array(values).T
        return float(np.sum(v * w) / np.sum(w))

    # no speech, or speech without pauses: nothing to compare, reported as silence between words
    gap_db = _nanmedian(gp_level) - _nanmedian(sp_level) if len(gp_level) and len(sp_level) else -120.0
    total_voiced = voiced_frames * HOP / VAD_RATE
    features = {
        "duration_s": total_windows * WINDOW_S,
        "speech_ratio": speech_ratio,
        "speech_confidence": float(np.mean(all_probs)) if len(all_probs) else 0.0,
        "speech_patchiness": float(np.mean((all_probs > 0.15) & (all_probs < 0.85))) if len(all_probs) else 0.0,
        "segments_per_minute": len(seg_lengths) / minutes if minutes else 0.0,
        "median_segment_s": _nanmedian(seg_lengths),
        "longest_speech_s": float(max(seg_lengths, default=0.0)),
        "pauses_per_minute": len(pauses) / minutes if minutes else 0.0,
        "median_pause_s": _nanmedian(pauses),
        "audible_nonspeech_ratio": audible_nonspeech / frames_seen if frames_seen else 0.0,
        "gap_level_db": float(np.clip(gap_db, -120.0, 20.0)),
        "gap_flux_db": _nanmedian(np.concatenate(gap_flux) if gap_flux else []),
        "speech_flux_db": _nanmedian(np.concatenate(speech_flux) if speech_flux else []),
        "gap_tonal_persistence": weighted(pers_gap),
        "speech_tonal_persistence": weighted(pers_speech),
        "voiced_ratio": total_voiced / (speech_windows * WINDOW_S) if speech_windows else 0.0,
        "median_voiced_run_s": _nanmedian(voiced_runs),
        "pitch_hold_ratio": hold_frames / voiced_frames if voiced_frames else 0.0,
        "median_f0_hz": _nanmedian(all_f0),
        "f0_spread_st": float(np.subtract(*np.percentile(12 * np.log2(all_f0 / 100), [90, 10]))) if len(all_f0) > 10 else 0.0,
        "voice_segments": float(len(segment_vectors)),
        "voices": float(voices),
        "turn_changes_per_minute": changes / speech_minutes if speech_minutes > 0 else 0.0,
        "median_centroid_hz": _nanmedian(segment_centroids),
        "channels": channels,
        "stereo_width_db": _stereo_width(excerpts),
    }
    features["music_presence"] = music_presence(features)
    return {k: float(v) for k, v in features.items()}


def music_presence(f: dict[str, float]) -> float:
    """0..1: how strongly the excerpts sound like music is playing (alone, under or between speech).

    Music is what keeps sounding when nobody talks *and* holds its tones; a noise floor
    sounds too, but its spectral peaks do not persist.
    """
    tonal = float(np.clip((f.get("gap_tonal_persistence", 0.0) - 0.08) / 0.15, 0, 1))
    sounding = float(np.clip(f.get("audible_nonspeech_ratio", 0.0) / 0.3, 0, 1))
    # a bed under the talk: pauses within 15-30 dB of the voices
    sounding = max(sounding, float(np.clip((f.get("gap_level_db", -120.0) + 30) / 15, 0, 1)))
    return tonal * sounding


FEATURE_KEYS = {
    "duration_s": "seconds of audio analysed (all excerpts)",
    "speech_ratio": "share of that time inside speech segments (0..1)",
    "speech_confidence": "mean VAD probability inside speech segments; singing scores lower than talk",
    "speech_patchiness": "share of windows inside speech segments with an undecided probability (0.15..0.85)",
    "segments_per_minute": "speech segments per minute of audio",
    "median_segment_s": "median speech segment length (s)",
    "longest_speech_s": "longest speech segment (s)",
    "pauses_per_minute": "pauses of 0.2 s or more between speech segments, per minute of audio",
    "median_pause_s": "median length of those pauses (s)",
    "audible_nonspeech_ratio": "share of the time that is not speech yet within 30 dB of the loud parts (music, beds, noise)",
    "gap_level_db": "level in the pauses minus level of the speech (dB): silence ~ -35 or lower, a music bed "
                    "~ -30..0; -120 when there is no speech or no pause",
    "gap_flux_db": "median spectral flux in audible pauses (dB/frame); rhythm and onsets raise it",
    "speech_flux_db": "median spectral flux during speech (dB/frame)",
    "gap_tonal_persistence": "share of tonal peaks in audible non-speech still present 250 ms later (music "
                             "sustains, noise and room tone do not); 0 when there are too few peaks",
    "speech_tonal_persistence": "the same during speech (talk alone ~0.15-0.35; a weak cue, beds barely move it)",
    "voiced_ratio": "voiced (pitched) share of speech time",
    "median_voiced_run_s": "median length of voiced stretches (s); syllables are short, sung notes long",
    "pitch_hold_ratio": "share of voiced time in notes held 0.3 s within 0.7 semitone (speech <= 0.05, singing 0.3+)",
    "median_f0_hz": "median pitch of voiced speech (Hz)",
    "f0_spread_st": "pitch range of voiced speech, p90 - p10 in semitones",
    "voice_segments": "speech blocks (~1.5 s, from segments of 0.6 s or more) assigned to a voice",
    "voices": "distinct voices (clusters of block pitch + timbre holding >= 2 blocks and >= 15% of them)",
    "turn_changes_per_minute": "voice changes between consecutive blocks, per minute of speech",
    "median_centroid_hz": "median spectral centroid of the voice blocks (Hz)",
    "channels": "channel count of the decoded audio",
    "stereo_width_db": "side/mid energy (dB); -120 for mono, very low for dual-mono talk, music is wider",
    "music_presence": "0..1: something tonal keeps sounding where nobody talks (music alone, a bed, an intro)",
}


# the least of an excerpt the quick listen hears (0.26 s): a short file's parts may be
# shorter than `seconds`, and are heard whole
MIN_LISTEN_WINDOWS = 8


# A second from each excerpt: on the corpus every podcast's share is 0.5 or more heard
# this way (at 1.5 s too), and no file's reading fell on the other side of the features'
# threshold (analyse.py's SCREEN_SPEECH_SHARE, 0.2) against 1.5 s, which cost 2.5 ms a file more
QUICK_LISTEN_S = 1.0


def speech_share(excerpts: Sequence[np.ndarray], sample_rate: int, seconds: float = QUICK_LISTEN_S) -> float:
    """A quick listen: the share of 32 ms windows the VAD hears as speech in `seconds`
    taken from the middle of each excerpt (all of a shorter one), each from a fresh state.
    Cheap enough for every file (about 5 ms for three excerpts); the full features
    follow only where this hears talk."""
    n = int(seconds * VAD_RATE) // WINDOW * WINDOW
    streams = []
    for ex in excerpts:
        take = int(seconds * sample_rate) + 1
        start = max(0, (len(ex) - take) // 2)
        mono = to_mono(ex[start:start + take])
        if sample_rate != VAD_RATE:
            mono = soxr.resample(mono, sample_rate, VAD_RATE, quality="LQ")
        m = min(n, len(mono) // WINDOW * WINDOW)
        if m >= MIN_LISTEN_WINDOWS * WINDOW:
            streams.append(np.asarray(mono[:m], dtype=np.float32))
    if not streams:
        return 0.0
    probs = np.concatenate([_run_vad(x) for x in streams])
    return float(np.mean(probs > 0.5))
