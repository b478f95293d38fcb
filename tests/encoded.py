"""Real encoded files for tests, through the benchmark corpus's own encoder."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import av
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


def music_video(path: Path, audio: np.ndarray | None, sr: int = 44100) -> Path:
    """An MP4 with a few frames of moving picture and `audio` as AAC (no sound where None)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = None if audio is None else out.add_stream("aac", rate=sr, layout="stereo")
        for i in range(10):
            picture = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            for packet in video.encode(picture):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is None or audio is None:
            return path
        planar = np.ascontiguousarray(audio.T)
        for first in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, first:first + 1024]),
                                               format="fltp", layout="stereo")
            frame.sample_rate = sr
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    return path
