"""MP3 granule-grid check: do the samples still sit on an MP3 encoder's granules?

An MP3 (MPEG-1 Layer III) encoder analyses its input with a hybrid filterbank: a
32-band polyphase filterbank (ISO/IEC 11172-3's 512-tap analysis window), then in
each band an 18-line MDCT over 36 subband samples (sine window, odd bands
frequency-inverted), then alias-reduction butterflies between neighbouring bands:
576 lines per granule of 576 samples. It quantises the lines, many of them to zero.
Run the same analysis over the decoded audio at the encoder's granule position and
the lines it zeroed come back at the level of the 16-bit file's rounding noise; at
any other of the 576 positions each line also collects its neighbours' energy and is
rarely that small. Music has no such grid, and AAC, Vorbis and Opus, which use other
transforms, do not line up with this one.

Like codecgrid.py's AAC and Vorbis check it needs no treble: it sees LAME at V0 or
320 kbps in material too dull to show a lowpass edge. Unlike theirs, the position is
searched in full, because MP3 decoders trim different amounts of priming (LAME's
576 + 529 samples where they read its gapless tag, nothing where they do not):

1. Search: on one granule per excerpt, the filterbank at all 576 positions (the
   polyphase filter at every sample, then the MDCT at each of its 18 phases). Per
   position, among the lines that are loud over the positions (music is there), the
   count that falls to the rounding noise. The counts drift slowly with the position,
   so a running median is taken off; the highest few positions are the candidates.
2. Confirm: on eight other granules per excerpt, each candidate, and the positions
   common decoders leave the grid at, against the 17 positions that share its
   polyphase phase but not its MDCT phase (the same subband samples, cut into the
   wrong granules). z = (candidate - median of those) / their robust spread.
   It reads three granules per excerpt first, and the other five only where z there
   leaves room for a grid (most music stops there: see CONTINUE_Z).

A grid is z over MIN_Z. Short blocks (transients) are not modelled: those granules
simply show no zeros. Excerpts must come with their first sample's index in the
file, so that all of them are searched on one grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.fft
from scipy.ndimage import median_filter

from .spectral import to_mono

GRANULE = 576
SUBBANDS = 32
BANDS = (1, 29)  # subbands examined: ~0.7-20 kHz at 44.1 kHz
SEARCH_GRANULES = 4  # over all excerpts
CONFIRM_GRANULES = 24
# the confirmation reads FIRST_CONFIRM_GRANULES first and goes on only where z
# reaches CONTINUE_Z there: on the corpus and the long files (bench/lossless_accuracy.py,
# bench/long_files.py) every MP3 transcode with a grid did, and 6 of the 40 genuine clips
FIRST_CONFIRM_GRANULES = 9  # over all excerpts, like CONFIRM_GRANULES
CONTINUE_Z = 2.0
CANDIDATES = 4
# where common decoder chains leave LAME's granules (file sample mod 576), confirmed
# whatever the search finds: 48 where the decoder trims the priming LAME's gapless tag
# declares (576 + 529 samples; FFmpeg, mpg123, foobar2000) or only its own 529, 1 where
# it trims nothing or only the 576
DECODER_POSITIONS = (48, 1)
TREND = 33  # positions in the running median taken off the search counts
ZERO_X_NOISE = 2.5  # a line under this many noise sigmas counts as quantised to zero
LOUD_X_NOISE = 4.0  # lines whose mean size over the positions is over this are music
MIN_CELLS = 300
# On the corpus (bench/lossless_accuracy.py) genuine files and AAC, Opus, Vorbis and
# resampled transcodes reach at most z = 3.8; MP3 transcodes up to several hundred,
# LAME V0 of dull sources 5-30
MIN_Z = 5.0
_RATE_RANGE = (32000, 48000)  # MPEG-1 rates; the filterbank does not depend on the rate

# ISO/IEC 11172-3 Table C.1, the analysis window C[0..256]; C[512 - i] = -C[i], except
# at multiples of 64, where they are equal
_C_HALF = (
     0.000000000, -0.000000477, -0.000000477, -0.000000477, -0.000000477, -0.000000477, -0.000000477, -0.000000954,
    -0.000000954, -0.000000954, -0.000000954, -0.000001431, -0.000001431, -0.000001907, -0.000001907, -0.000002384,
    -0.000002384, -0.000002861, -0.000003338, -0.000003338, -0.000003815, -0.000004292, -0.000004768, -0.000005245,
    -0.000006199, -0.000006676, -0.000007629, -0.000008106, -0.000009060, -0.000010014, -0.000011444, -0.000012398,
    -0.000013828, -0.000014782, -0.000016689, -0.000018120, -0.000019550, -0.000021458, -0.000023365, -0.000025272,
    -0.000027657, -0.000030041, -0.000032425, -0.000034809, -0.000037670, -0.000040531, -0.000043392, -0.000046253,
    -0.000049591, -0.000052929, -0.000055790, -0.000059605, -0.000062943, -0.000066280, -0.000070095, -0.000073433,
    -0.000076771, -0.000080585, -0.000083923, -0.000087261, -0.000090599, -0.000093460, -0.000096321, -0.000099182,
     0.000101566,  0.000103951,  0.000105858,  0.000107288,  0.000108242,  0.000108719,  0.000108719,  0.000108242,
     0.000106812,  0.000105381,  0.000102520,  0.000099182,  0.000095367,  0.000090122,  0.000084400,  0.000077724,
     0.000069618,  0.000060558,  0.000050545,  0.000039577,  0.000027180,  0.000013828, -0.000000954, -0.000017166,
    -0.000034332, -0.000052929, -0.000072956, -0.000093937, -0.000116348, -0.000140190, -0.000165462, -0.000191212,
    -0.000218868, -0.000247478, -0.000277042, -0.000307560, -0.000339031, -0.000371456, -0.000404358, -0.000438213,
    -0.000472546, -0.000507355, -0.000542164, -0.000576973, -0.000611782, -0.000646591, -0.000680923, -0.000714302,
    -0.000747204, -0.000779152, -0.000809669, -0.000838757, -0.000866413, -0.000891685, -0.000915051, -0.000935555,
    -0.000954151, -0.000968933, -0.000980854, -0.000989437, -0.000994205, -0.000995159, -0.000991821, -0.000983715,
     0.000971317,  0.000953674,  0.000930786,  0.000902653,  0.000868797,  0.000829220,  0.000783920,  0.000731945,
     0.000674248,  0.000610352,  0.000539303,  0.000462532,  0.000378609,  0.000288486,  0.000191689,  0.000088215,
    -0.000021458, -0.000137329, -0.000259876, -0.000388145, -0.000522137, -0.000661850, -0.000806808, -0.000956535,
    -0.001111031, -0.001269817, -0.001432419, -0.001597881, -0.001766682, -0.001937389, -0.002110004, -0.002283096,
    -0.002457142, -0.002630711, -0.002803326, -0.002974033, -0.003141880, -0.003306866, -0.003467083, -0.003622532,
    -0.003771782, -0.003914356, -0.004048824, -0.004174709, -0.004290581, -0.004395962, -0.004489899, -0.004570484,
    -0.004638195, -0.004691124, -0.004728317, -0.004748821, -0.004752159, -0.004737377, -0.004703045, -0.004649162,
    -0.004573822, -0.004477024, -0.004357815, -0.004215240, -0.004049301, -0.003858566, -0.003643036, -0.003401756,
     0.003134727,  0.002841473,  0.002521515,  0.002174854,  0.001800537,  0.001399517,  0.000971317,  0.000515938,
     0.000033379, -0.000475883, -0.001011848, -0.001573563, -0.002161503, -0.002774239, -0.003411293, -0.004072189,
    -0.004756451, -0.005462170, -0.006189346, -0.006937027, -0.007703304, -0.008487225, -0.009287834, -0.010103703,
    -0.010933399, -0.011775017, -0.012627602, -0.013489246, -0.014358521, -0.015233517, -0.016112804, -0.016994476,
    -0.017876148, -0.018756866, -0.019634247, -0.020506859, -0.021372318, -0.022228718, -0.023074150, -0.023907185,
    -0.024725437, -0.025527000, -0.026310921, -0.027073860, -0.027815342, -0.028532982, -0.029224873, -0.029890060,
    -0.030526638, -0.031132698, -0.031706810, -0.032248020, -0.032754898, -0.033225536, -0.033659935, -0.034055710,
    -0.034412861, -0.034730434, -0.035007000, -0.035242081, -0.035435200, -0.035586357, -0.035694122, -0.035758972,
     0.035780907,
)
_C = np.zeros(512)
_C[:257] = _C_HALF
_C[257:] = [_C[512 - i] if (512 - i) % 64 == 0 else -_C[512 - i] for i in range(257, 512)]
# window start s covers x[s:s+512], the newest sample (x[s+511]) weighted by C[0]
_C_REV = _C[::-1].astype(np.float32).copy()
# polyphase matrixing S[k] = sum_i cos((2k+1)(i-16)pi/64) Y[i], with Y's index reversed
# to match the windowed sum below
_i = np.arange(64)
_MATRIX = np.cos((2 * np.arange(SUBBANDS)[:, None] + 1) * (((63 - _i) % 64)[None, :] - 16) * np.pi / 64).T
_MATRIX = _MATRIX.astype(np.float32)

# the 36-point MDCT with its sine window, folded to an 18-point DCT-IV:
# u[m] = -z[26-m] - z[27+m] (m < 9), u[9+q] = z[q] - z[17-q]
_n = np.arange(36)
_SINE = np.sin(np.pi / 36 * (_n + 0.5))
_FOLD_A = np.array([26 - m for m in range(9)] + list(range(9)))
_FOLD_B = np.array([27 + m for m in range(9)] + [17 - q for q in range(9)])
_SIGN_A = np.array([-1.0] * 9 + [1.0] * 9)
_odd_band = np.arange(SUBBANDS) % 2 == 1


def _inversion(sample: int) -> np.ndarray:
    """Frequency inversion: odd subbands' odd samples change sign."""
    return np.where(_odd_band, (-1.0) ** sample, 1.0)


_WEIGHT_A = np.stack([_SIGN_A[m] * _SINE[_FOLD_A[m]] * _inversion(_FOLD_A[m]) for m in range(18)]).astype(np.float32)
_WEIGHT_B = np.stack([-_SINE[_FOLD_B[m]] * _inversion(_FOLD_B[m]) for m in range(18)]).astype(np.float32)
_m = np.arange(18)
_DCT4 = np.cos(np.pi / 18 * (_m[:, None] + 0.5) * (_m[None, :] + 0.5)).astype(np.float32)
# alias-reduction butterflies
_ALIAS = np.array([-0.6, -0.535, -0.33, -0.185, -0.095, -0.041, -0.0142, -0.0037])
_CS = (1.0 / np.sqrt(1.0 + _ALIAS**2)).astype(np.float32)[:, None, None, None]  # (line, band, time, phase)
_CA = (_ALIAS / np.sqrt(1.0 + _ALIAS**2)).astype(np.float32)[:, None, None, None]

# 16-bit rounding noise (an LSB of 2^-15 on full scale 1.0, uniform) as it comes out in
# a line: the filterbank passes 0.5304 of white noise's sigma into each (tests recompute it)
LINE_NOISE_GAIN = 0.5304
_NOISE = np.float32(2.0**-15 / np.sqrt(12.0) * LINE_NOISE_GAIN)


# the window and matrixing as 32 filters of 512 taps, h[i, k] = C_REV[i] * MATRIX[i % 64, k]:
# subband k at every sample is x correlated with h[:, k]
_FILTERS = _C_REV.astype(np.float64)[:, None] * np.tile(_MATRIX.astype(np.float64), (8, 1))


@lru_cache(maxsize=8)
def _filter_spectra(n_fft: int) -> np.ndarray:
    """The 32 filters, reversed (correlation as a convolution), transformed: (32, n_fft // 2 + 1)."""
    return scipy.fft.rfft(_FILTERS[::-1].T, n_fft, axis=1)


def polyphase(x: np.ndarray, first: int, starts: np.ndarray) -> np.ndarray:
    """The 32 subband samples of the windows starting at x[first + s] for s in `starts`:
    (len(starts), 32). x must reach 512 samples past the last start."""
    span = x[first:first + int(starts.max()) + 512]
    if len(starts) == starts[-1] - starts[0] + 1:  # every sample: 32 FIR filters, by FFT
        s0, n = int(starts[0]), len(starts)
        seg = span[s0:s0 + n + 511].astype(np.float64)
        n_fft = scipy.fft.next_fast_len(len(seg), real=True)
        conv = scipy.fft.irfft(scipy.fft.rfft(seg, n_fft) * _filter_spectra(n_fft), n_fft, axis=1)
        return conv[:, 511:511 + n].T.astype(np.float32)
    w = np.lib.stride_tricks.sliding_window_view(span, 64)
    y = w[starts] * _C_REV[:64]
    for j in range(1, 8):
        y += w[starts + 64 * j] * _C_REV[64 * j:64 * j + 64]
    return y @ _MATRIX


def lines(subband: np.ndarray, granules: int, bands: tuple[int, int] = BANDS) -> np.ndarray:
    """Hybrid-filterbank lines from subband samples (time t, phase p, 32 bands), where the
    time axis steps by 32 samples: lines of the granule whose first window starts at
    32 * (18 j + g) + phase p, shaped (18 lines, j, g, p, bands). A view of an array laid
    out band by band (each band's samples together: the fold, the DCT and the butterflies
    then work on whole rows), which `_zero_counts` reads in that order."""
    b0, b1 = bands
    c0, c1 = max(0, b0 - 1), min(SUBBANDS, b1 + 1)  # the butterflies need one band either side
    steps = 18 * granules
    sub = np.ascontiguousarray(subband[:steps + 36, :, c0:c1].transpose(2, 0, 1))  # (band, time, phase)
    wa, wb = _WEIGHT_A[:, c0:c1, None, None], _WEIGHT_B[:, c0:c1, None, None]
    u = np.empty((18, c1 - c0, steps, sub.shape[2]), dtype=np.float32)
    scratch = np.empty(u.shape[1:], dtype=np.float32)
    for m in range(18):
        a, b = _FOLD_A[m], _FOLD_B[m]
        np.multiply(sub[:, a:a + steps], wa[m], out=u[m])
        u[m] += np.multiply(sub[:, b:b + steps], wb[m], out=scratch)
    out = (_DCT4 @ u.reshape(18, -1)).reshape(u.shape)
    # alias reduction, the encoder's direction: band b-1's line 17-i with band b's line i
    upper, lower = out[17:9:-1, :-1].copy(), out[0:8, 1:].copy()
    out[17:9:-1, :-1] *= _CS
    out[17:9:-1, :-1] += np.multiply(lower, _CA, out=lower)
    out[0:8, 1:] *= _CS
    out[0:8, 1:] -= np.multiply(upper, _CA, out=upper)
    out = out[:, b0 - c0:b1 - c0].reshape(18, b1 - b0, granules, 18, sub.shape[2])  # (k, band, j, g, p)
    return out.transpose(0, 2, 3, 4, 1)


def _zero_counts(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Lines (k, j, g, p, band) -> per position (g, p), the count of loud cells (k, j, band)
    at the noise there; and the number of loud cells."""
    g, p = x.shape[2:4]
    mags = x.transpose(0, 4, 1, 2, 3)  # (k, band, j, g, p): the order lines() computes them in
    np.abs(mags, out=mags)
    # the mean over the positions as a product with ones: numpy's mean over two axes costs
    # several times more than this whole line
    sums = mags.reshape(-1, g * p) @ np.ones(g * p, dtype=np.float32)
    loud = (sums > np.float32(LOUD_X_NOISE * g * p) * _NOISE).astype(np.float32)  # (k, band, j), flat
    zero = np.less(mags, ZERO_X_NOISE * _NOISE).reshape(-1, g * p).view(np.uint8).astype(np.float32)
    return (loud @ zero).astype(np.float64).reshape(g, p), int(loud.sum())


def _spans(n: int, search: int, confirm: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(first sample, granules) for the search, in the middle of an excerpt of n samples,
    and for the confirmation, just before it (overlapping where the excerpt is short)."""
    def need(g: int) -> int:
        return GRANULE * (g + 1) + 35 * SUBBANDS + 512

    fit = (n - need(0)) // GRANULE
    if fit < 1:
        return None
    search = min(search, fit)
    first_search = (fit - search) // 2 * GRANULE
    confirm = min(confirm, fit)
    first_confirm = max(0, first_search - confirm * GRANULE)
    if first_confirm + need(confirm) > n:
        first_confirm = max(0, n - need(confirm)) // GRANULE * GRANULE
    return (first_search, search), (first_confirm, confirm)


def grid_features(excerpts: Sequence[np.ndarray], sample_rate: int, starts: Sequence[int]) -> dict[str, float]:
    """`grid_mp3_z` (see the module doc), `grid_mp3_excess` (the candidate's share of zeros
    over the median position's) and `grid_mp3_at` (the grid: file sample index mod 576
    where a granule's first polyphase window starts). `starts`: each excerpt's first
    sample in the file. Empty where there is too little music to tell."""
    if not _RATE_RANGE[0] <= sample_rate <= _RATE_RANGE[1] or len(starts) != len(excerpts):
        return {}
    mono = [to_mono(x) for x in excerpts]
    per = len(mono)
    plans = [_spans(len(x), max(1, SEARCH_GRANULES // per), max(1, CONFIRM_GRANULES // per)) for x in mono]
    if not any(plans):
        return {}

    # 1. search: every position on one granule or so per excerpt
    residual = np.zeros(GRANULE)
    cells = 0
    for x, start, plan in zip(mono, starts, plans):
        if plan is None:
            continue
        (first, g), _ = plan
        steps = 18 * g + 36
        sub = polyphase(x, first, np.arange(SUBBANDS * steps)).reshape(steps, SUBBANDS, SUBBANDS)
        counts, n = _zero_counts(lines(sub, g))
        counts = counts.reshape(-1)  # position 32 g + p in the span
        where = (np.arange(GRANULE) + start + first) % GRANULE
        residual[where] += counts - median_filter(counts, size=TREND, mode="nearest")
        cells += n
    if cells < MIN_CELLS // 4:
        return {}
    candidates = np.union1d(np.argsort(-residual)[:CANDIDATES], DECODER_POSITIONS)

    # 2. confirm: the candidates' polyphase phases, each at all 18 MDCT phases; first on
    # the first granules of each excerpt's span, on the rest where that leaves room for a grid
    classes = np.unique(candidates % SUBBANDS)
    confirm = [None if plan is None else plan[1] for plan in plans]
    head = max(1, FIRST_CONFIRM_GRANULES // per)
    first_part = [None if c is None else (c[0], min(c[1], head)) for c in confirm]
    totals, cells = _confirm(mono, starts, first_part, classes, candidates)
    found = _reading(totals, cells, candidates)
    granules = sum(c[1] for c in first_part if c is not None)
    rest = [None if c is None or c[1] <= head else (c[0] + head * GRANULE, c[1] - head) for c in confirm]
    if any(rest) and (not found or found["grid_mp3_z"] >= CONTINUE_Z):
        more, more_cells = _confirm(mono, starts, rest, classes, candidates)
        for pos, c in more.items():
            totals[pos] = totals.get(pos, 0.0) + c
        cells += more_cells
        granules += sum(c[1] for c in rest if c is not None)
        found = _reading(totals, cells, candidates)
    return found | {"grid_mp3_granules": float(granules)} if found else {}


def _confirm(mono: Sequence[np.ndarray], starts: Sequence[int], spans: Sequence[tuple[int, int] | None],
             classes: np.ndarray, candidates: np.ndarray) -> tuple[dict[int, float], int]:
    """Per grid position (file sample mod 576) of the `classes` (positions mod 32), the
    detrended count of loud lines at the noise over the granules of `spans` ((first
    sample, granules) per excerpt); and the number of loud cells."""
    totals: dict[int, float] = {}
    cells = 0
    for x, start, span in zip(mono, starts, spans):
        if span is None:
            continue
        first, g = span
        offset = start + first
        phases = (classes - offset) % SUBBANDS
        steps = 18 * g + 36
        at = (phases[None, :] + SUBBANDS * np.arange(steps)[:, None]).reshape(-1)
        sub = polyphase(x, first, at).reshape(steps, len(phases), SUBBANDS)
        counts, n = _zero_counts(lines(sub, g))
        shift = (SUBBANDS * np.arange(18)[:, None] + phases[None, :]).reshape(-1)
        where = (shift + offset) % GRANULE
        counts = counts.reshape(-1)
        # the counts drift with the shift (each covers slightly different music): take a
        # quadratic trend fitted to the controls off
        control = ~np.isin(where, candidates)
        trend = np.polyfit(shift[control] / GRANULE, counts[control], 2)
        counts = counts - np.polyval(trend, shift / GRANULE)
        for pos, c in zip(where.tolist(), counts.tolist()):
            totals[pos] = totals.get(pos, 0.0) + c
        cells += n
    return totals, cells


def _reading(totals: dict[int, float], cells: int, candidates: np.ndarray) -> dict[str, float]:
    """The best candidate against the other positions of its polyphase phases (see the
    module doc); empty where too few loud cells were read."""
    if cells < MIN_CELLS:
        return {}
    positions = np.array(sorted(totals))
    shares = np.array([totals[p] for p in positions.tolist()]) / cells
    is_candidate = np.isin(positions, candidates)
    control = shares[~is_candidate]
    median = float(np.median(control))
    spread = 1.4826 * float(np.median(np.abs(control - median))) + 0.5 / cells
    best = int(np.argmax(np.where(is_candidate, shares, -np.inf)))
    return {"grid_mp3_z": (float(shares[best]) - median) / spread,
            "grid_mp3_excess": float(shares[best]) - median,
            "grid_mp3_at": float(positions[best])}


def shows_grid(f: dict[str, float]) -> bool:
    return f.get("grid_mp3_z", 0.0) > MIN_Z
