"""Real encoded files for tests: PyAV's FFmpeg, the way bench/transcode.py encodes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import av
import numpy as np


def encode(path: Path, samples: np.ndarray, sr: int, codec: str, fmt: str, *, rate: int | None = None,
           bit_rate: int = 128_000) -> Path:
    """Write (frames, channels) float32 `samples` with `codec` in container `fmt` to `path`."""
    layout = "mono" if samples.shape[1] == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate or sr, layout=layout)
        stream.codec_context.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp", layout=layout)
        frame.sample_rate = sr
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
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
