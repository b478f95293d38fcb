"""Real encoded files for tests, through the benchmark corpus's own encoder."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from bench.transcode import encode_av


def encode(path: Path, samples: np.ndarray, sr: int, codec: str, fmt: str, *, setting: str = "128k") -> Path:
    """Write (frames, channels) float32 `samples` with `codec` in container `fmt` to `path`."""
    path.write_bytes(encode_av(samples, sr, codec, fmt, setting))
    return path


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid PNG image, built by hand (no imaging library needed)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
