"""Lossy copies for players that want them: MP3 (LAME) and Opus, through PyAV's FFmpeg."""

from __future__ import annotations

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
    import av

    codec, container, rates = CODECS[kind]
    x = audio[:, None] if audio.ndim == 1 else audio
    channels = min(x.shape[1], 2)
    x = x[:, :channels]
    rate = 48000 if codec == "libopus" else sample_rate  # libopus takes 8/12/16/24/48 kHz only
    with av.open(str(dest), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=_layout(channels))
        stream.codec_context.bit_rate = rates[channels]
        step = sample_rate * 10  # ten seconds per frame handed over: bounded memory
        for start in range(0, len(x), step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[start:start + step].T, dtype=np.float32),
                                               format="fltp", layout=_layout(channels))
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):  # PyAV resamples to the codec's rate and frame size
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
