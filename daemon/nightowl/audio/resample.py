"""Sample-rate conversion for the speech models' rates (soxr, high quality)."""

from __future__ import annotations

import numpy as np


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """(frames,) or (frames, channels) float32 at `rate_out`, contiguous; the input itself
    (as float32) when the rates match."""
    if int(rate_in) == int(rate_out):
        return np.ascontiguousarray(x, dtype=np.float32)
    import soxr

    y = np.asarray(soxr.resample(np.ascontiguousarray(x, dtype=np.float32), rate_in, rate_out, quality="HQ"),
                   dtype=np.float32)
    return y.reshape(-1, x.shape[1]) if x.ndim == 2 else y
