"""The neural estimate of the missing band: the U-Net's magnitudes with borrowed phases.

The network predicts log-magnitudes only. Below the cutoff the phase is the input's
own; at and above it, the phase of the DSP engine's band-replicated estimate, which is
already consistent from frame to frame (see stft.py). Long files are cut into chunks
that overlap by half and are cross-faded, so memory does not grow with the length.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from nightowl.models.checkpoint import load_checkpoint
from nightowl.models.unet import N_BINS
from nightowl.restore.stft import N_FFT

LOG_FLOOR = 1e-5  # log(|X| + LOG_FLOOR): the network's input and output scale
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """'auto' is CUDA when there is one, else the CPU; asking for CUDA without one is an error."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but CUDA is not available")
    return torch.device(device)


def chunk_starts(frames: int, chunk: int) -> list[int]:
    """Starts of chunks of `chunk` frames overlapping by half; the last one ends at the last frame."""
    if frames <= chunk:
        return [0]
    starts = list(range(0, frames - chunk, chunk // 2))
    return [*starts, frames - chunk]


def crossfade(length: int) -> np.ndarray:
    """Hann weights offset by half a frame: never zero, and two of them at half overlap sum to 1."""
    return (np.sin(np.pi * (np.arange(length) + 0.5) / length) ** 2).astype(np.float32)


class NeuralEstimator:
    """Estimates a spectrum with the missing band filled in by a U-Net."""

    name = "unet"

    def __init__(
        self,
        model: nn.Module,
        *,
        version: str,
        device: str = "auto",
        chunk_frames: int = 256,
        batch_size: int = 4,
        half: bool = True,
    ) -> None:
        """`batch_size` chunks of `chunk_frames` go through the network at once; `half`:
        half precision on CUDA (never on the CPU).

        A default chunk peaks at ~320 MB of activations in fp32 (measured on a CPU).
        """
        if chunk_frames < 2 or chunk_frames % 2:
            raise ValueError(f"chunk_frames must be even and at least 2, not {chunk_frames}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        self.version = version
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.chunk_frames = chunk_frames
        self.batch_size = batch_size
        self.half = half

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], device: str = "auto", **options: int
    ) -> NeuralEstimator:
        """Load a 'restore' checkpoint (CheckpointError if it is not one)."""
        resolved = resolve_device(device)
        model, meta = load_checkpoint(path, resolved, kind="restore")
        return cls(model, version=meta.version, device=resolved.type, **options)

    def estimate(
        self,
        spec: np.ndarray,
        cutoff_bin: int,
        replica: np.ndarray,
        *,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """(channels, 1025, frames) complex64 in, the same out: predicted magnitude x phase.

        The phase is `spec`'s below `cutoff_bin` and `replica`'s at and above it.
        `progress`, if given, is called with the fraction done after each batch.
        """
        bins = N_FFT // 2 + 1
        if spec.ndim != 3 or spec.shape[1] != bins:
            raise ValueError(f"expected a (channels, {bins}, frames) spectrum, got {spec.shape}")
        if replica.shape != spec.shape:
            raise ValueError(f"replica shape {replica.shape} differs from the spectrum's {spec.shape}")
        if not 0 <= cutoff_bin <= bins:
            raise ValueError(f"cutoff_bin must be 0..{bins}, not {cutoff_bin}")
        log_mag = np.log(np.abs(spec) + LOG_FLOOR).astype(np.float32)
        predicted = np.empty_like(log_mag)
        predicted[:, :N_BINS] = self._predict(log_mag[:, :N_BINS], progress)
        predicted[:, N_BINS:] = log_mag[:, N_BINS:]  # Nyquist passes through
        magnitude = np.maximum(np.exp(predicted) - LOG_FLOOR, 0.0)
        phase = _unit(spec)
        phase[:, cutoff_bin:] = _unit(replica[:, cutoff_bin:])
        return (magnitude * phase).astype(np.complex64)

    def _predict(self, log_mag: np.ndarray, progress: Callable[[float], None] | None) -> np.ndarray:
        """Run the network over (channels, 1024, frames) in cross-faded chunks."""
        channels, _, frames = log_mag.shape
        chunk = min(self.chunk_frames, frames)
        starts = chunk_starts(frames, chunk)
        weight = crossfade(chunk)
        out = np.zeros_like(log_mag)
        norm = np.zeros(frames, dtype=np.float32)
        for start in starts:
            norm[start:start + chunk] += weight
        pieces = [(c, s) for c in range(channels) for s in starts]
        done = 0
        with torch.inference_mode(), self._precision():
            for batch in _batches(pieces, self.batch_size):
                x = np.stack([log_mag[c, None, :, s:s + chunk] for c, s in batch])
                y = self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy()
                for (c, s), piece in zip(batch, y, strict=True):
                    out[c, :, s:s + chunk] += piece[0] * weight
                done += len(batch)
                if progress is not None:
                    progress(done / len(pieces))
        return out / norm

    def _precision(self) -> contextlib.AbstractContextManager[object]:
        # half precision only where it is fast and safe: CUDA (CPU fp16 is slow or emulated)
        if self.half and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()


def _unit(spec: np.ndarray) -> np.ndarray:
    """Unit phasors of a spectrum; 1 where it is exactly zero."""
    mag = np.abs(spec)
    safe = np.where(mag > 0, mag, 1.0)
    return np.where(mag > 0, spec / safe, 1.0).astype(np.complex64)


def _batches(items: list[tuple[int, int]], size: int) -> Iterator[list[tuple[int, int]]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
