"""Lossy round trips used by both the benchmark corpus and the tests.

Every function works on float32 arrays shaped (frames, channels) and returns the
decoded-back audio at the *source* sample rate, so the result can be written as
FLAC and looks exactly like a "fake lossless" file found in the wild.

Encoders: PyAV's bundled FFmpeg for MP3 (libmp3lame),
AAC (FFmpeg's native encoder) and Opus (libopus); libsndfile (soundfile) for
Ogg Vorbis, because PyAV has no libvorbis and its native vorbis encoder is broken.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf
import soxr

# libsndfile maps compression_level c (0..1) to Vorbis quality 1 - c, and libvorbis
# quality 0..1 is the `oggenc -q` scale 0..10 divided by ten. So q2 -> 0.8, q8 -> 0.2.
VORBIS_COMPRESSION = {"q2": 0.8, "q4": 0.6, "q6": 0.4, "q8": 0.2}


@dataclass(frozen=True)
class Setting:
    """One cell of the transcode grid: codec family plus encoder setting."""

    codec: str  # "mp3" | "aac" | "opus" | "vorbis"
    name: str  # "128k", "V2", "q4"

    @property
    def label(self) -> str:
        return f"{self.codec}_{self.name}"


GRID: tuple[Setting, ...] = (
    *(Setting("mp3", f"{k}k") for k in (96, 128, 160, 192, 256, 320)),
    *(Setting("mp3", v) for v in ("V0", "V2", "V5")),
    *(Setting("aac", f"{k}k") for k in (96, 128, 160, 192, 256)),
    *(Setting("opus", f"{k}k") for k in (48, 64, 96, 128, 160)),
    *(Setting("vorbis", q) for q in ("q2", "q4", "q6", "q8")),
)


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def encode_av(samples: np.ndarray, sr: int, codec: str, fmt: str, setting: str) -> bytes:
    """Encode with PyAV into an in-memory container; returns the file bytes."""
    channels = samples.shape[1]
    enc_rate = 48000 if codec == "libopus" else sr  # libopus only takes 8/12/16/24/48 kHz
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=enc_rate, layout=_layout(channels))
        cc = stream.codec_context
        if setting.startswith("V"):
            # LAME -V n: VBR through the qscale flag plus global_quality. Measured with this
            # PyAV/FFmpeg build: global_quality is taken as the LAME quality itself (0..9),
            # not multiplied by FF_QP2LAMBDA (118 gives V9), so pass n directly.
            cc.qscale = True
            cc.global_quality = int(setting[1:])
        else:
            cc.bit_rate = int(setting.rstrip("k")) * 1000
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.T, dtype=np.float32), format="fltp", layout=_layout(channels)
        )
        frame.sample_rate = sr
        frame.pts = 0
        # AudioCodecContext.encode resamples to the codec's format/rate and cuts frame_size chunks
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _decode_bytes(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        res = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
        chunks = [
            r.to_ndarray().T
            for pkt in container.demux(stream)
            for fr in pkt.decode()
            for r in res.resample(fr)
        ]
        chunks += [r.to_ndarray().T for r in res.resample(None)]
    return np.concatenate(chunks).astype(np.float32), rate


VORBIS_ONE_WRITE = 1_500_000  # frames: 34 s at 44.1 kHz (a 60 s write crashed)
VORBIS_BLOCK = 1 << 20


def encode_bytes(samples: np.ndarray, sr: int, setting: Setting) -> tuple[bytes, str]:
    """Encode to a lossy file; returns (bytes, file extension)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    if setting.codec == "mp3":
        return encode_av(samples, sr, "libmp3lame", "mp3", setting.name), "mp3"
    if setting.codec == "aac":
        return encode_av(samples, sr, "aac", "adts", setting.name), "aac"
    if setting.codec == "opus":
        return encode_av(samples, sr, "libopus", "ogg", setting.name), "opus"
    if setting.codec == "vorbis":
        buf = io.BytesIO()
        # libsndfile's Vorbis encoder crashes on one write of a minute or more: longer
        # audio goes in blocks (which encode slightly differently, so short clips, the
        # corpus's, keep their one write)
        block = len(samples) if len(samples) <= VORBIS_ONE_WRITE else VORBIS_BLOCK
        with sf.SoundFile(buf, "w", sr, samples.shape[1], format="OGG", subtype="VORBIS",
                          compression_level=VORBIS_COMPRESSION[setting.name]) as f:
            for i in range(0, len(samples), max(1, block)):
                f.write(samples[i:i + block])
        return buf.getvalue(), "ogg"
    raise ValueError(f"unknown codec {setting.codec}")


def roundtrip(samples: np.ndarray, sr: int, setting: Setting) -> np.ndarray:
    """Encode then decode back; the result has the source rate and channel count."""
    data, _ = encode_bytes(samples, sr, setting)
    if setting.codec == "vorbis":
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    else:
        audio, rate = _decode_bytes(data)
    if rate != sr:  # Opus decodes at 48 kHz; bring it back to the source rate
        audio = soxr.resample(audio, rate, sr, quality="VHQ").astype(np.float32)
    n = len(samples)
    audio = audio[:n] if len(audio) >= n else np.pad(audio, ((0, n - len(audio)), (0, 0)))
    return np.clip(audio, -1.0, 1.0)


def upsample(samples: np.ndarray, sr: int, low_rate: int) -> np.ndarray:
    """Fake a high-rate file: downsample to `low_rate` then back up to `sr` (soxr VHQ)."""
    low = soxr.resample(samples, sr, low_rate, quality="VHQ")
    up = soxr.resample(low, low_rate, sr, quality="VHQ")
    n = len(samples)
    up = up[:n] if len(up) >= n else np.pad(up, ((0, n - len(up)), (0, 0)))
    return np.clip(up, -1.0, 1.0).astype(np.float32)


def as_flac(samples: np.ndarray, sr: int, bits: int = 16) -> np.ndarray:
    """Store as FLAC of `bits` and read back: the requantisation a real fake-lossless file has."""
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="FLAC", subtype=f"PCM_{bits}")
    buf.seek(0)
    audio, _ = sf.read(buf, dtype="float32", always_2d=True)
    return audio


def as_flac16(samples: np.ndarray, sr: int) -> np.ndarray:
    return as_flac(samples, sr, 16)


def made_hi_res(samples: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """A "hi-res" fake: resampled (soxr VHQ) to `rate`, clipped to full scale."""
    return np.clip(soxr.resample(samples, sr, rate, quality="VHQ"), -1.0, 1.0).astype(np.float32)
