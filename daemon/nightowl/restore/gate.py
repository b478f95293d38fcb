"""The deficit gate: an engine may add sound only where the input measurably lacks it.

Over tiles of ~1 kHz x 5 frames (~1 kHz x 58 ms), deficit = estimate level - input
level in dB, and lambda = clip((deficit - threshold) / range, 0, 1): nothing below
a 10 dB deficit, all of it from 20 dB on. The output is the input plus a residual,

    residual = lambda * max(|estimate| - |input|, 0) * phase(estimate),

the form (1 - lambda) * input + lambda * max(input, estimate) takes when what is
added is written as something added to the untouched input. Where lambda is 0 the
residual is exactly zero, so those samples of the output are the input's samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter

TILE_BINS = 48  # 1.03 kHz at 44.1 kHz with 2048-point frames
TILE_FRAMES = 5  # 58 ms at a 512-sample hop


@dataclass(frozen=True)
class GateSettings:
    threshold_db: float = 10.0  # deficit under which nothing is added
    range_db: float = 10.0  # deficit above the threshold at which all of the estimate is used


def _tile_db(power: np.ndarray, t_bins: int, t_frames: int) -> np.ndarray:
    """Mean power per tile in dB; (channels, bins, frames) -> (channels, bin tiles, frame tiles)."""
    c, b, f = power.shape
    nb, nf = -(-b // t_bins), -(-f // t_frames)
    padded = np.zeros((c, nb * t_bins, nf * t_frames), dtype=np.float64)
    padded[:, :b, :f] = power
    # tiles that hang over the edge average only what they hold
    count = np.zeros((nb * t_bins, nf * t_frames))
    count[:b, :f] = 1
    sums = padded.reshape(c, nb, t_bins, nf, t_frames).sum(axis=(2, 4))
    n = count.reshape(nb, t_bins, nf, t_frames).sum(axis=(1, 3))
    return 10 * np.log10(sums / np.maximum(n, 1) + 1e-12)


def opening(deficit_db: np.ndarray, settings: GateSettings) -> np.ndarray:
    """lambda for a deficit (dB): 0 up to the threshold, rising to 1 over the range."""
    return np.clip((deficit_db - settings.threshold_db) / settings.range_db, 0.0, 1.0)


def gate_weights(spec: np.ndarray, estimate: np.ndarray, settings: GateSettings | None = None,
                 tile_origin: int = 0) -> np.ndarray:
    """lambda per bin and frame (float32, same shape as spec), from per-tile deficits.

    `tile_origin` is the index of the first frame within its tile, so blocks of one
    file processed apart share one tile grid. Between tile centres lambda is
    smoothed (a box filter over the tile-sized steps) so no seam shows between gated
    tiles; a tile the gate shut stays shut.
    """
    settings = settings or GateSettings()
    c, b, f = spec.shape
    if f == 0:
        return np.zeros(spec.shape, dtype=np.float32)
    pad_front = tile_origin % TILE_FRAMES
    p_in = np.abs(spec) ** 2
    p_est = np.abs(estimate) ** 2
    if pad_front:
        zeros = np.zeros((c, b, pad_front), dtype=p_in.dtype)
        p_in, p_est = np.concatenate([zeros, p_in], axis=2), np.concatenate([zeros, p_est], axis=2)
    deficit = _tile_db(p_est, TILE_BINS, TILE_FRAMES) - _tile_db(p_in, TILE_BINS, TILE_FRAMES)
    lam_tiles = opening(deficit, settings)
    blocky = np.repeat(np.repeat(lam_tiles, TILE_BINS, axis=1), TILE_FRAMES, axis=2)
    lam = uniform_filter(blocky, size=(1, TILE_BINS, TILE_FRAMES), mode="nearest")
    # smoothing softens steps inside the gated region but never opens a tile the gate shut
    lam[blocky == 0] = 0.0
    lam = lam[:, :b, pad_front:pad_front + f]
    lam[p_est[:, :, pad_front:] == 0] = 0.0
    return lam.astype(np.float32)


def residual(spec: np.ndarray, estimate: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """What is added to the input's spectrum: only the part of the estimate the input lacks."""
    mag_in = np.abs(spec)
    mag_est = np.abs(estimate)
    gain = lam * np.maximum(mag_est - mag_in, 0.0) / np.maximum(mag_est, 1e-12)
    return (estimate * gain).astype(np.complex64)
