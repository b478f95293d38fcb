"""Transform-grid check: do the samples still sit on an AAC or Vorbis MDCT grid?

An AAC or Vorbis decoder builds its output from MDCT frames (2048 samples long, a
new one every 1024 at 44.1 and 48 kHz). Run the same MDCT over the decoded audio
at the encoder's frame positions, with the encoder's window, and the coefficients
the encoder quantised to zero come back as zero, to within the rounding of the
16-bit file; at any other position each coefficient also collects leakage from
its neighbours and is rarely that small. Music has no such grid, and neither do
MP3 (a hybrid polyphase filterbank: mp3grid.py looks for its granules) or Opus
(coded at 48 kHz and resampled) at 44.1 kHz: for those this check finds nothing,
which is why it only ever adds evidence, never clears a file.

Unlike the lowpass edge this needs no treble: it sees AAC at 256 kbps and Vorbis
at q8 in material too dull to show a cutoff. It needs the grid's position. The
frames are tried at 16 positions 64 samples apart, counted from the file's first
sample (excerpts are decoded from multiples of 1024 samples): where encoders and
decoders in use leave it -- FFmpeg with its priming trimmed at 0, iTunes's 2112
priming samples at 960, Nero's 2624 at 448, Vorbis's long/short block changes at
multiples of 64. A file cut at some other sample after decoding is not seen.

The measure, per window: among coefficients well above the rounding noise at most
positions (the music is there), the share that falls to the noise at each position.
One position far above the other fifteen is a grid, and the window that shows it
names the codec: AAC's Kaiser-Bessel-derived window, Vorbis's power-sine window.
"Far above" is read two ways: the share there against what the others make of that
position (excess and ratio, on 16 frames), and, where that hints at a grid, against
the others' spread (a robust z, on 48 frames): dull or sparse music zeroes many
coefficients at every position, which hides a grid from the ratio but not from the
spread. What the others make of it is a smooth curve through them, their mean and
the first harmonic over the 16 positions (which wrap around the 1024-sample frame),
not their median: the music's own share swells and fades over several positions (a
sparse loop's hits falling early or late in the frames), and its crest, read
against the median, looked like a grid in 5 of 736 placements of intake's excerpts
in genuine 3-minute files. A codec's grid is one position, which no such curve
through its neighbours reaches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

from .spectral import to_mono

N = 2048  # long-block MDCT length of AAC-LC and of Vorbis at 44.1/48 kHz
HOP = N // 2
STEP = 64  # grid positions tried, this far apart
PHASES = HOP // STEP
BAND_HZ = (1000.0, 19000.0)
# over the excerpts, 4 consecutive frames each. 24 cost half as much again and, on the
# corpus, named 3 fewer families right (6 gained, 3 lost, detections and genuine files alike)
MAX_FRAMES = 16
# the z is read on up to this many frames, where the 16 give it at least ESCALATE_Z; on
# the way, at MID_FRAMES, a window whose z has fallen under CONTINUE_Z is read no further.
# On the corpus and the 3-minute genuine files every window that reaches MIN_Z on 48
# frames is at 1.98 or more on 16 and at 2.16 or more on 32, while chance alignments in
# genuine music mostly fall under these (each window read no further saves a third of its cost)
Z_FRAMES = 48
MID_FRAMES = 32
ESCALATE_Z = 1.9
CONTINUE_Z = 2.0
# 16-bit rounding noise per coefficient (an LSB of 2^-15 on full scale 1.0, uniform)
_LSB_NOISE = 2.0**-15 / np.sqrt(12.0)
ZERO_X_NOISE = 2.5  # a coefficient under this many noise sigmas counts as quantised to zero
LOUD_X_NOISE = 8.0  # cells whose typical size over the positions (geometric mean) is over this are "music"
MIN_CELLS = 500
# A grid: the best position's share of zeros at least MIN_EXCESS over the others' curve
# there and at least MIN_RATIO times it. On the corpus (bench/lossless_accuracy.py) and
# intake's excerpts of the genuine 3-minute files (46 placements each) genuine files, MP3
# and Opus transcodes and resampled files reach a ratio of 1.5 at most where the excess
# is there; most AAC and Vorbis transcodes 3-80, the dullest of them under 1.5
MIN_EXCESS = 0.02
MIN_RATIO = 1.5
RATIO_FLOOR = 0.002  # keeps the ratio finite where no position has zeros, and the z where all agree
# ...or the best position's z at least MIN_Z: there genuine files, MP3 and Opus transcodes
# and resampled files reach 5.3 (7.7 against the others' median, 5 of them over MIN_Z);
# AAC and Vorbis transcodes that the ratio misses 5.5-28
MIN_Z = 5.5
_POS = 2 * np.pi * np.arange(PHASES) / PHASES
_CURVE = np.stack([np.ones(PHASES), np.cos(_POS), np.sin(_POS)], axis=1)  # mean and first harmonic
# read by ratio, a real grid shows far more clearly through its own codec's window than
# the other's; chance alignments in sparse material show through both alike (a z over
# MIN_Z is taken for no chance alignment, and there the stronger window simply names it:
# sparse or mono music shows a real grid through both windows too)
WINDOW_MARGIN = 1.15


def _kbd(n: int, alpha: float = 4.0) -> np.ndarray:
    w = np.kaiser(n // 2 + 1, np.pi * alpha)
    half = np.sqrt(np.cumsum(w[: n // 2]) / w.sum())
    return np.concatenate([half, half[::-1]])


def _vorbis(n: int) -> np.ndarray:
    return np.sin(np.pi / 2 * np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2)


WINDOWS = {"aac": _kbd(N).astype(np.float32), "vorbis": _vorbis(N).astype(np.float32)}
# the rounding noise each window passes into a coefficient
_NOISE = {codec: _LSB_NOISE * float(np.sqrt(np.sum(w.astype(np.float64) ** 2))) for codec, w in WINDOWS.items()}
_Q = N // 4


def mdct_magnitudes(frames: np.ndarray, window: np.ndarray) -> np.ndarray:
    """|MDCT| of frames (..., N) under `window` -> (..., N/2). The windowed frame's quarters
    a, b, c, d fold into u = (-c~ - d, a - b~) (~: reversed), whose DCT-IV is the MDCT; only
    magnitudes are kept, so u's sign is dropped: (c~ + d, b~ - a). `frames` may be a strided
    view of the signal."""
    f = frames * (np.float32(0.5) * window)  # at half height: scipy's DCT-IV (unnormalised) doubles
    u = np.empty(frames.shape[:-1] + (HOP,), dtype=np.float32)
    np.add(f[..., 3 * _Q - 1:2 * _Q - 1:-1], f[..., 3 * _Q:], out=u[..., :_Q])
    np.subtract(f[..., 2 * _Q - 1:_Q - 1:-1], f[..., :_Q], out=u[..., _Q:])
    y = scipy.fft.dct(u, type=4, axis=-1, overwrite_x=True)
    return np.abs(y, out=y)


def _frame_runs(lengths: Sequence[int], max_frames: int = MAX_FRAMES) -> list[tuple[int, int, int]]:
    """(excerpt, first frame, frames): a run of consecutive frames from the middle of each
    excerpt, with the last frame of the last position still inside. Consecutive, because
    Vorbis moves its grid by multiples of 64 samples wherever it switches to short blocks.
    Frame k starts at sample k * HOP of the excerpt (its own 1024-sample grid)."""
    out = []
    per = max(1, max_frames // max(1, len(lengths)))
    for i, n in enumerate(lengths):
        fit = (n - N - (PHASES - 1) * STEP) // HOP
        if fit < 1:
            continue
        k = min(per, fit)
        out.append((i, (fit - k) // 2, k))
    return out


def _runs_added(wide: list[tuple[int, int, int]], narrow: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The frames of `wide` that `narrow` does not hold: both are centred runs per excerpt,
    so the narrow one lies inside the wide one and what is left is a run on either side."""
    inner = {i: (first, first + k) for i, first, k in narrow}
    out = []
    for i, first, k in wide:
        lo, hi = inner.get(i, (first, first))
        for a, b in ((first, lo), (hi, first + k)):
            if b > a:
                out.append((i, a, b - a))
    return out


def _zero_counts(mono: Sequence[np.ndarray], sample_rate: int, runs: list[tuple[int, int, int]],
                 codecs: Sequence[str] = tuple(WINDOWS)) -> dict[str, tuple[np.ndarray, int]]:
    """Per window of `codecs`, over the frames of `runs`: how many loud coefficients fall to
    the noise at each of the 16 positions, and how many loud ones there are. Both add up
    over frames."""
    if not runs:
        return {}
    # the 16 positions of a run's consecutive frames are every 64th sample over it: one
    # strided view per run (no copy), frames in (frame, position) order; run by run, as
    # the counts add up over frames (and a run's arrays stay in the cache)
    views = [np.lib.stride_tricks.sliding_window_view(mono[i], N)[first * HOP:(first + k) * HOP:STEP]
             for i, first, k in runs]
    b0, b1 = (int(hz / (sample_rate / N)) for hz in BAND_HZ)
    out: dict[str, tuple[np.ndarray, int]] = {}
    for codec in codecs:
        window, noise = WINDOWS[codec], _NOISE[codec]
        zeros, cells = np.zeros(PHASES, dtype=np.intp), 0
        for view in views:
            mags = mdct_magnitudes(view, window)[:, b0:b1].reshape(-1, PHASES, b1 - b0)  # (frames, positions, bins)
            # the geometric mean: one position's outlier does not make a cell loud. Read as
            # the product of the positions' ratios to the threshold, which is over 1 where
            # the mean is over it: a third of np.log's cost. Each ratio is at least
            # 1 / LOUD_X_NOISE (no underflow); a loud cell's product may overflow to inf,
            # which is over 1 all the same
            ratios = np.multiply(mags, np.float32(1.0 / (LOUD_X_NOISE * noise)))
            ratios += np.float32(1.0 / LOUD_X_NOISE)
            with np.errstate(over="ignore"):
                loud = np.multiply.reduce(ratios, axis=1) > 1.0
            # zeros under loud cells, per position: as products, (frames, positions, bins) by
            # (frames, bins, 1), cheaper than masking and counting
            at_noise = np.less(mags, ZERO_X_NOISE * noise).view(np.uint8).astype(np.float32)
            zeros += np.matmul(at_noise, loud.astype(np.float32)[:, :, None])[..., 0].sum(axis=0).astype(np.intp)
            cells += int(loud.sum())
        out[codec] = (zeros, cells)
    return out


def _shares(counts: dict[str, tuple[np.ndarray, int]]) -> dict[str, np.ndarray]:
    """Per window with enough music: the share of loud coefficients at the noise, per position."""
    return {codec: zeros / cells for codec, (zeros, cells) in counts.items() if cells >= MIN_CELLS}


def _peak(zeros: np.ndarray) -> tuple[int, float, float, float]:
    """The best position, its share's excess over the others' curve there (see the module
    doc), that excess as a ratio of the curve, and in robust spreads of the others around it."""
    best = int(zeros.argmax())
    others = np.arange(PHASES) != best
    coef, *_ = np.linalg.lstsq(_CURVE[others], zeros[others], rcond=None)
    curve = _CURVE @ coef
    resid = zeros[others] - curve[others]
    spread = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    base = max(float(curve[best]), 0.0)
    excess = float(zeros[best]) - base
    return best, excess, excess / (base + RATIO_FLOOR), excess / (spread + RATIO_FLOOR)


def _z(zeros: np.ndarray) -> float:
    return _peak(zeros)[3]


def grid_features(excerpts: Sequence[np.ndarray], sample_rate: int) -> dict[str, float]:
    """Per window: `grid_<codec>_excess`, `grid_<codec>_ratio` and `grid_<codec>_z` (see
    the module doc), `grid_<codec>_at`, the position in samples, and `grid_<codec>_frames`,
    how many frames the z was read on. Each excerpt (mono
    or (frames, channels)) must start on a multiple of 1024 samples of the file. Empty
    where there is too little music to tell."""
    if not 32000 <= sample_rate <= 48000:
        return {}
    mono = [to_mono(x) for x in excerpts]
    lengths = [len(x) for x in mono]
    runs = _frame_runs(lengths, MAX_FRAMES)
    counts = _zero_counts(mono, sample_rate, runs)
    shares = _shares(counts)
    out: dict[str, float] = {}
    for codec, zeros in shares.items():
        best, excess, ratio, z = _peak(zeros)
        out[f"grid_{codec}_excess"] = excess
        out[f"grid_{codec}_ratio"] = ratio
        out[f"grid_{codec}_z"] = z
        out[f"grid_{codec}_at"] = float(best * STEP)
        out[f"grid_{codec}_frames"] = float(sum(k for _, _, k in runs))
    # only the windows whose z hints at a grid are read further; the other keeps its z from
    # the 16 frames (on the corpus this changed no verdict and no family, and it saves a
    # third of the grid's cost where one window hints)
    hinted = [codec for codec in shares if out[f"grid_{codec}_z"] >= ESCALATE_Z]
    for frames, keep_on in ((MID_FRAMES, CONTINUE_Z), (Z_FRAMES, None)):
        if not hinted:
            break
        # the longer runs hold the shorter ones (both are centred): count only the frames added
        wider = _frame_runs(lengths, frames)
        added = _zero_counts(mono, sample_rate, _runs_added(wider, runs), hinted)
        runs = wider
        counts = {c: (z + added[c][0], n + added[c][1]) for c, (z, n) in counts.items() if c in added}
        for codec, zeros in _shares(counts).items():
            out[f"grid_{codec}_z"] = _z(zeros)
            out[f"grid_{codec}_frames"] = float(sum(k for _, _, k in runs))
            if not _by_ratio(out, codec):
                out[f"grid_{codec}_at"] = float(int(zeros.argmax()) * STEP)
        hinted = [c for c in hinted if keep_on is not None and out[f"grid_{c}_z"] >= keep_on]
    return out


def _by_ratio(f: dict[str, float], codec: str) -> bool:
    """The ratio on 16 frames shows a grid, and more frames, where they were read, did not
    take it back: a few transients can crowd zeros into one or two positions of 16 frames,
    and read on, such a crest spreads out (a real grid's z only grows with the frames)."""
    if f.get(f"grid_{codec}_frames", 0.0) > MAX_FRAMES and f.get(f"grid_{codec}_z", 0.0) < CONTINUE_Z:
        return False
    return f.get(f"grid_{codec}_excess", 0.0) >= MIN_EXCESS and f.get(f"grid_{codec}_ratio", 0.0) >= MIN_RATIO


def grid_codec(f: dict[str, float]) -> str | None:
    """The codec whose grid the features show, if any (the stronger of the two)."""
    ratios = sorted(((f.get(f"grid_{c}_ratio", 0.0), c) for c in WINDOWS), reverse=True)
    (best, codec), (second, _) = ratios[0], ratios[1]
    if _by_ratio(f, codec) and best >= WINDOW_MARGIN * second:
        return codec
    # a z this high is no chance alignment even where both windows show it (sparse or mono
    # music shows a grid through either); the stronger one names it
    z, codec = max((f.get(f"grid_{c}_z", 0.0), c) for c in WINDOWS)
    return codec if z >= MIN_Z else None
