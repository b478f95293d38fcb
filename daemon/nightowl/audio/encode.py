"""Lossy copies for players that want them: MP3 (LAME) and Opus, through PyAV's FFmpeg."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

# (codec, container, bit rate per channel count): speech needs less than music
CODECS = {
    "mp3": ("libmp3lame", "mp3", {1: 96_000, 2: 128_000}),
    "opus": ("libopus", "ogg", {1: 48_000, 2: 64_000}),
}


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def encode(audio: np.ndarray, sample_rate: int, dest: Path, kind: str) -> None:
    """Write `audio` (frames, channels) float to `dest` as MP3 or Opus."""
    x = audio[:, None] if audio.ndim == 1 else audio
    step = sample_rate * 10
    encode_blocks((x[s:s + step] for s in range(0, len(x), step)), sample_rate, x.shape[1], dest, kind)


def encode_blocks(blocks: Iterable[np.ndarray], sample_rate: int, channels: int, dest: Path, kind: str) -> None:
    """Write audio handed over a block at a time ((frames,) or (frames, channels) float) as MP3
    or Opus: an hour of audio need not be in memory at once."""
    import av

    codec, container, rates = CODECS[kind]
    channels = min(channels, 2)
    rate = 48000 if codec == "libopus" else sample_rate  # libopus takes 8/12/16/24/48 kHz only
    with av.open(str(dest), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=_layout(channels))
        stream.codec_context.bit_rate = rates[channels]
        pts = 0
        for block in blocks:
            x = block[:, None] if block.ndim == 1 else block
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, :channels].T, dtype=np.float32),
                                               format="fltp", layout=_layout(channels))
            frame.sample_rate = sample_rate
            frame.pts = pts
            pts += len(x)
            for packet in stream.encode(frame):  # PyAV resamples to the codec's rate and frame size
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
