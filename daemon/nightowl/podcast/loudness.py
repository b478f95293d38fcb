"""Loudness normalisation for the master: ITU-R BS.1770 integrated loudness (pyloudnorm)
and true peak from 4x oversampling, with a look-ahead true-peak limiter.

Podcast apps and platforms ask for -16 LUFS for stereo and -19 LUFS for mono (the same
perceived level, as a mono file plays on both speakers), with true peaks at or below
-1 dBTP so that lossy encoding does not clip. Gain alone reaches the loudness; the
limiter then holds the peaks, which lowers loudness a little, so the two alternate
until both hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soxr
from scipy.ndimage import minimum_filter1d, uniform_filter1d

STEREO_TARGET_LUFS = -16.0
MONO_TARGET_LUFS = -19.0
TRUE_PEAK_DBTP = -1.0
OVERSAMPLE = 4
BLOCK = 1 << 18  # samples per oversampling block: bounds memory on hour-long masters
EDGE = 2048  # samples of overlap so the resampler's filter sees context at block edges
# limiter: gain changes ramp over 2 ms and are held 5 ms around each peak
RAMP_S = 0.002
HOLD_S = 0.005
# the master's gain curve holds one value per STEP_S or so (a power of two of samples,
# 16 at 44.1 and 48 kHz), read back per sample by linear interpolation: a value per sample
# would cost 0.6 GB an hour at 44.1 kHz for the curve and as much for its envelope, one per
# 16 costs 40 MB, and the limiter's 2 ms ramps are still drawn through five points or more
STEP_S = 0.0004
SILENT_LUFS = -70.0  # the BS.1770 absolute gate: below it there is nothing to measure
MAX_TRIES = 10
MAX_GAIN_DB = 60.0  # beyond this the "speech" is noise floor; the report shows the target was missed


def default_target(channels: int) -> float:
    return MONO_TARGET_LUFS if channels == 1 else STEREO_TARGET_LUFS


def _2d(audio: np.ndarray) -> np.ndarray:
    return audio[:, None] if audio.ndim == 1 else audio


def gain_step(sample_rate: int) -> int:
    """Samples per point of the master's gain curve: the largest power of two within STEP_S."""
    return 1 << max(0, int(np.log2(max(1.0, STEP_S * sample_rate))))


@dataclass(frozen=True)
class GainCurve:
    """A gain for `frames` samples, one value per `step` of them, each standing at the
    middle of its step; between those middles the gain runs in a straight line (and
    holds at the first and last value before and after them)."""

    values: np.ndarray
    step: int
    frames: int

    def at(self, start: int, stop: int) -> np.ndarray:
        """The gain of samples start..stop-1, float32."""
        stop = min(stop, self.frames)
        if self.step == 1 or stop <= start:
            return np.asarray(self.values[start:stop], dtype=np.float32)
        # the steps covering start..stop, each with its neighbours (the ends repeated)
        first, last = start // self.step, -(-stop // self.step)
        v = np.pad(self.values[max(0, first - 1):last + 1], (int(first == 0), int(last >= len(self.values))),
                   mode="edge")
        left, mid, right = v[:-2, None], v[1:-1, None], v[2:, None]
        # where each sample of a step lies from the step's middle, in steps (-0.5..0.5)
        where = (np.arange(self.step, dtype=np.float32) + np.float32(0.5)) / self.step - np.float32(0.5)
        g = mid * (1 - np.abs(where)) + left * np.maximum(-where, 0) + right * np.maximum(where, 0)
        return g.ravel()[start - first * self.step:stop - first * self.step]


def _k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """BS.1770's K-weighting as pyloudnorm designs it: (b, a, passband gain) per stage."""
    import pyloudnorm

    return [(np.asarray(f.b, dtype=np.float64), np.asarray(f.a, dtype=np.float64), float(f.passband_gain))
            for f in pyloudnorm.Meter(sample_rate)._filters.values()]


def integrated_lufs(audio: np.ndarray, sample_rate: int, gain: GainCurve | float = 1.0) -> float:
    """BS.1770-4 integrated loudness of `audio * gain` (`gain` a number or a curve);
    -inf for silence or audio shorter than one 400 ms block.

    The same filters, blocks and gates as pyloudnorm's `Meter.integrated_loudness`, but
    streamed: the signal is filtered in chunks with the filter state carried across, and
    only the running sum of squares is kept, so an hour of stereo costs a few megabytes
    instead of several copies of the audio (and the gained signal is never built).
    """
    from scipy.signal import lfilter, lfilter_zi

    x = _2d(audio)
    frames, channels = x.shape
    block = 0.4  # seconds, stepped by a quarter
    if frames < int(block * sample_rate) + 1:
        return float("-inf")
    seconds = frames / sample_rate
    count = int(np.round((seconds - block) / (block * 0.25))) + 1
    j = np.arange(count)
    lower = (block * (j * 0.25) * sample_rate).astype(np.int64)
    upper = np.minimum((block * (j * 0.25 + 1) * sample_rate).astype(np.int64), frames)
    marks = np.unique(np.concatenate([lower, upper]))
    stages = _k_weighting(sample_rate)
    gains = [1.0, 1.0, 1.0, 1.41, 1.41]  # BS.1770 channel weights (surrounds louder)
    z = np.zeros((channels, count))
    for ch in range(channels):
        states = [lfilter_zi(b, a) * 0.0 for b, a, _ in stages]
        cum_at = np.zeros(len(marks))
        total = 0.0
        for start in range(0, frames, BLOCK):
            seg = np.asarray(x[start:start + BLOCK, ch], dtype=np.float64)
            if isinstance(gain, GainCurve):
                seg = seg * gain.at(start, start + len(seg)).astype(np.float64)
            elif gain != 1.0:
                seg = seg * float(gain)  # type: ignore[arg-type]
            for k, (b, a, passband) in enumerate(stages):
                seg, states[k] = lfilter(b, a, seg, zi=states[k])
                # pyloudnorm scales each stage's output by its passband gain (1.0 for K-weighting)
                seg = seg * passband if passband != 1.0 else seg
            c = np.cumsum(seg * seg) + total
            inside = (marks > start) & (marks <= start + len(seg))
            cum_at[inside] = c[marks[inside] - start - 1]
            total = float(c[-1])
        at = dict(zip(marks.tolist(), cum_at.tolist(), strict=True))
        z[ch] = [(at[int(u)] - at[int(lo)]) / (block * sample_rate) for lo, u in zip(lower, upper, strict=True)]
    weighted = np.sum(z * np.asarray(gains[:channels])[:, None], axis=0)
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(weighted)
    absolute = loud >= SILENT_LUFS
    if not absolute.any():
        return float("-inf")
    relative = -0.691 + 10 * np.log10(np.sum(np.asarray(gains[:channels]) * z[:, absolute].mean(axis=1))) - 10
    kept = (loud > relative) & (loud > SILENT_LUFS)
    if not kept.any():
        return float("-inf")
    with np.errstate(divide="ignore"):
        return float(-0.691 + 10 * np.log10(np.sum(np.asarray(gains[:channels]) * z[:, kept].mean(axis=1))))


def peak_envelope(audio: np.ndarray, step: int = 1) -> np.ndarray:
    """Per input sample, the largest |value| of the 4x oversampled signal (all channels) within
    one sample either side: the inter-sample peaks a DAC or a decoder would reconstruct.
    With `step` > 1 (a power of two), the largest of those per `step` samples."""
    x = _2d(np.asarray(audio, dtype=np.float32))
    n = len(x)
    env = np.zeros(-(-n // step), dtype=np.float32)
    for s in range(0, n, BLOCK):  # BLOCK is a multiple of any step: steps never straddle blocks
        a, b = max(0, s - EDGE), min(n, s + BLOCK + EDGE)
        up = soxr.resample(x[a:b], 1, OVERSAMPLE, quality="HQ")[: (b - a) * OVERSAMPLE]
        # reductions over short axes are slow in numpy: fold channels and phases pairwise
        per = np.zeros(b - a, dtype=np.float32)
        for ch in range(up.shape[1]):
            for phase in range(OVERSAMPLE):
                np.maximum(per, np.abs(up[phase::OVERSAMPLE, ch]), out=per)
        # the oversampled points between sample i and i+1 belong to both (the block's
        # margin holds the sample after its last)
        np.maximum(per[:-1], per[1:], out=per[:-1])
        mine = per[s - a:s - a + min(BLOCK, n - s)]
        if step > 1:
            whole = len(mine) // step * step
            tops = mine[:whole].reshape(-1, step).max(axis=1)
            if whole < len(mine):
                tops = np.append(tops, mine[whole:].max())
            mine = tops
        env[s // step:s // step + len(mine)] = mine
    return env


def true_peak_dbtp(audio: np.ndarray) -> float:
    if audio.size == 0:
        return float("-inf")
    peak = float(peak_envelope(audio).max())
    return float(20 * np.log10(peak)) if peak > 0 else float("-inf")


def limiter_gain(envelope: np.ndarray, ceiling: float, sample_rate: int, scale: float = 1.0,
                 out: np.ndarray | None = None, step: int = 1) -> np.ndarray:
    """A smooth gain (<= 1) that keeps envelope * scale * gain <= ceiling, written into `out`
    where given (float32). `envelope` and the gain hold one value per `step` samples, and
    the gain is read back as GainCurve does (in straight lines between the steps' middles).

    The needed gain is held (a minimum filter) over the ramp plus the hold time, then
    smoothed by a moving average over the ramp. Every average then only takes in values
    at or under the need at its centre and at the steps either side, so the guarantee
    survives the smoothing, and the line between two steps' gains, each under the need of
    both, stays under it. Worked out in blocks with enough margin that the filters see
    what they would see whole: an hour of audio costs the curve and a few block-sized
    temporaries.
    """
    ramp = max(1, -(-int(RAMP_S * sample_rate) // step))  # (in steps, rounded up)
    hold = -(-int(HOLD_S * sample_rate) // step)
    margin = 2 * (ramp + hold) + 2 * ramp
    n = len(envelope)
    out = np.empty(n, dtype=np.float32) if out is None else out
    for s in range(0, n, BLOCK):
        a, b = max(0, s - margin), min(n, s + BLOCK + margin)
        need = np.minimum(np.float32(1.0), np.float32(ceiling) / np.maximum(envelope[a:b] * np.float32(scale),
                                                                            np.float32(1e-12)))
        if need.min() < 1.0:
            held = minimum_filter1d(need, size=2 * (ramp + hold) + 1, mode="nearest")
            # (with steps, a step's gain must also suit its neighbours': see above)
            own = minimum_filter1d(need, size=3, mode="nearest") if step > 1 else need
            need = np.minimum(uniform_filter1d(held, size=2 * ramp + 1, mode="nearest"), own)
        out[s:min(n, s + BLOCK)] = need[s - a:s - a + min(BLOCK, n - s)]
    return out


@dataclass(frozen=True)
class Normalised:
    """The master's gain curve (limiter included) and what it achieves. `blocks` applies
    it a block at a time, so the normalised audio need never exist whole."""

    gain: GainCurve
    input_lufs: float
    lufs: float
    true_peak_dbtp: float
    gain_db: float
    limited_share: float  # share of the audio the limiter turned down (counted in the curve's steps)
    target_met: bool  # within 0.5 LU of the target (silence and near-silence cannot be)

    def blocks(self, audio: np.ndarray, size: int = BLOCK) -> Iterator[np.ndarray]:
        for s in range(0, len(audio), size):
            x = np.asarray(audio[s:s + size], dtype=np.float32)
            g = self.gain.at(s, s + len(x))
            yield x * (g[:, None] if x.ndim == 2 else g)

    def apply(self, audio: np.ndarray) -> np.ndarray:
        return np.concatenate(list(self.blocks(audio))) if len(audio) else np.asarray(audio, dtype=np.float32)

    def to_dict(self) -> dict[str, float | bool]:
        return {"target_met": self.target_met, "input_lufs": round(self.input_lufs, 2), "lufs": round(self.lufs, 2),
                "true_peak_dbtp": round(self.true_peak_dbtp, 2), "gain_db": round(self.gain_db, 2),
                "limited_share": round(self.limited_share, 5)}


def _true_peak_of(audio: np.ndarray, gain: GainCurve) -> float:
    """True peak of audio * gain, block by block (blocks overlap so no inter-sample peak is lost)."""
    peak = 0.0
    n = len(audio)
    for s in range(0, n, BLOCK):
        a, b = max(0, s - EDGE), min(n, s + BLOCK + EDGE)
        x = np.asarray(audio[a:b], dtype=np.float32)
        g = gain.at(a, b)
        env = peak_envelope(x * (g[:, None] if x.ndim == 2 else g))
        peak = max(peak, float(env[s - a:s - a + min(BLOCK, n - s)].max(initial=0.0)))
    return float(20 * np.log10(peak)) if peak > 0 else float("-inf")


def normalise(audio: np.ndarray, sample_rate: int, target_lufs: float | None = None,
              peak_dbtp: float = TRUE_PEAK_DBTP, tolerance: float = 0.1) -> Normalised:
    """The gain curve that brings `audio` to `target_lufs` (default by channel count) with true
    peaks held at `peak_dbtp`. `audio` is only read (a memory-mapped file will do)."""
    x = audio
    channels = 1 if x.ndim == 1 else x.shape[1]
    target = default_target(channels) if target_lufs is None else target_lufs
    step = gain_step(sample_rate)
    measured = integrated_lufs(x, sample_rate)
    if not np.isfinite(measured) or measured < SILENT_LUFS:
        ones = GainCurve(np.ones(-(-len(x) // step), dtype=np.float32), step, len(x))
        return Normalised(ones, measured, measured, _true_peak_of(x, ones), 0.0, 0.0, False)
    gain_db = target - measured
    ceiling = 10 ** ((peak_dbtp - 0.05) / 20)  # a hair under, for the float rounding of the output
    lufs = measured
    envelope = peak_envelope(x, step)  # the envelope scales with the gain: measure it once
    previous: tuple[float, float] | None = None  # (gain, loudness) of the last try
    # one gain curve, worked out again in place at each try
    applied, limited = gain_db, 0.0
    g = GainCurve(np.ones(len(envelope), dtype=np.float32), step, len(x))
    for _ in range(MAX_TRIES):
        applied = gain_db
        gain = np.float32(10 ** (gain_db / 20))
        limiter_gain(envelope, ceiling, sample_rate, scale=float(gain), out=g.values, step=step)
        limited = float(np.mean(g.values < 1.0))
        g.values[:] *= gain  # the limiter and the gain as one curve
        lufs = integrated_lufs(x, sample_rate, g)
        if abs(lufs - target) <= tolerance:
            break
        # the more the limiter works, the less a dB of gain adds: step by the slope seen so far
        slope = 1.0
        if previous is not None and gain_db != previous[0]:
            slope = float(np.clip((lufs - previous[1]) / (gain_db - previous[0]), 0.05, 1.0))
        previous = (gain_db, lufs)
        gain_db = min(gain_db + (target - lufs) / slope, MAX_GAIN_DB)
    del envelope
    return Normalised(g, measured, lufs, _true_peak_of(x, g), applied, limited, abs(lufs - target) <= 0.5)
