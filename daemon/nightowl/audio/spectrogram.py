"""Spectrogram PNGs for reports: log magnitude, kHz up, the detected cutoff marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nightowl.classify.spectral import spectrum_frames

MAX_COLUMNS = 1200  # enough for a readable image; keeps a long file at ~1 s


def render_spectrogram(samples: np.ndarray, sample_rate: int, out_path: Path, *,
                       cutoff_hz: float | None, title: str) -> None:
    """Write a PNG spectrogram of `samples` (frames[, channels]) to `out_path`."""
    import matplotlib  # lazy: importing this module must stay cheap

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    samples = np.asarray(samples, dtype=np.float32)
    n = len(samples)
    freqs, db = spectrum_frames(samples, sample_rate, n_fft=2048, hop=1024, max_frames=MAX_COLUMNS)
    duration = n / sample_rate if sample_rate else 0.0
    if len(db) == 0:
        db = np.full((1, len(freqs)), -140.0, dtype=np.float32)
    top = float(np.percentile(db, 99.5)) if db.size else 0.0
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        im = ax.imshow(db.T, origin="lower", aspect="auto", cmap="magma", vmin=top - 100, vmax=top,
                       extent=(0.0, max(duration, 1e-3), 0.0, freqs[-1] / 1000), interpolation="nearest")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (kHz)")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, label="level (dB)")
        if cutoff_hz:
            ax.axhline(cutoff_hz / 1000, color="cyan", linestyle="--", linewidth=1.2)
            ax.text(0.01, cutoff_hz / 1000, f" cutoff {cutoff_hz / 1000:.1f} kHz", color="cyan",
                    va="bottom", ha="left", fontsize=9, transform=ax.get_yaxis_transform())
        fig.tight_layout()
        fig.savefig(out_path, format="png")
    finally:
        plt.close(fig)
