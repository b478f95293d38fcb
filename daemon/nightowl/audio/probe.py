"""Probe a file: container, codec, format, duration, tags and cover (PyAV + mutagen)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import mutagen
import soundfile as sf

# codecs whose samples are exactly the source's (so a fake-lossless check applies)
LOSSLESS_CODECS = {
    "flac", "alac", "wavpack", "ape", "tta", "mlp", "truehd", "tak", "shorten", "wmalossless",
}
LOSSY_CODECS = {
    "mp3", "mp3float", "mp2", "aac", "aac_latm", "opus", "vorbis", "wmav1", "wmav2", "wmapro",
    "ac3", "eac3", "dts", "amrnb", "amrwb", "speex", "gsm", "mpc7", "mpc8", "atrac3", "ra_144", "ra_288",
}


# FFmpeg decoder names -> the codec's own name
CODEC_NAMES = {"mp3float": "mp3", "mp2float": "mp2", "wmalossless": "wmalossless"}


class ProbeError(Exception):
    """The file is not readable audio."""


class NoAudio(ProbeError):
    """The file opens but holds no sound at all (a video without a soundtrack): not an
    error in the file, simply not audio."""


@dataclass(frozen=True)
class Probe:
    container: str
    codec: str
    sample_rate: int
    channels: int
    bit_depth: int | None
    bitrate: int | None
    duration: float
    lossless: bool
    tags: dict[str, str] = field(default_factory=dict)
    has_cover: bool = False
    # a moving picture beside the audio (a music video, a filmed show); cover art that
    # FFmpeg shows as a video stream (an attached picture) does not count
    video: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_pcm(codec: str) -> bool:
    return codec.startswith("pcm_")


def _bit_depth(stream: av.audio.stream.AudioStream) -> int | None:
    ctx = stream.codec_context
    raw = getattr(ctx, "bits_per_raw_sample", 0) or 0
    if raw:
        return int(raw)
    fmt = ctx.format
    if fmt is not None and not fmt.name.startswith("flt") and not fmt.name.startswith("dbl"):
        return fmt.bytes * 8
    return None


def _stored_bits(handle: Any) -> int | None:
    """The bits per sample the file stores (FLAC, WAV, AIFF, ALAC, WavPack...), as mutagen
    reads them from its header: FFmpeg decodes 24-bit audio into 32-bit samples and no
    longer says how many of those bits are the file's."""
    bits = getattr(getattr(handle, "info", None), "bits_per_sample", None)
    return int(bits) if isinstance(bits, int) and 0 < bits <= 32 else None


def _lossy_wavpack(path: Path) -> bool:
    """A WavPack file in hybrid mode (its first block's HYBRID flag, WavPack 4/5 block
    header) without the correction file (.wvc) that makes it lossless: on its own it is
    a lossy file, and that is all FFmpeg decodes of it either way."""
    try:
        with path.open("rb") as fh:
            head = fh.read(32)
    except OSError:
        return False
    hybrid = len(head) == 32 and head[:4] == b"wvpk" and bool(int.from_bytes(head[24:28], "little") & 0x8)
    return hybrid and not path.with_suffix(".wvc").exists() and not path.with_suffix(".WVC").exists()


def _tags(path: Path) -> tuple[dict[str, str], bool, int | None]:
    """Tag values as text (first value of each key), whether a cover picture is embedded,
    and the bits per sample the file stores (see _stored_bits)."""
    try:
        handle = mutagen.File(str(path), easy=False)
    except Exception:  # mutagen raises many types for odd files; tags are optional
        return {}, False, None
    bits = _stored_bits(handle)
    if handle is None or handle.tags is None:
        pictures = getattr(handle, "pictures", None) if handle is not None else None
        return {}, bool(pictures), bits
    tags: dict[str, str] = {}
    has_cover = bool(getattr(handle, "pictures", None))
    for key, value in handle.tags.items():
        name = str(key)
        if name.startswith(("APIC", "covr", "METADATA_BLOCK_PICTURE")):
            has_cover = True
            continue
        text = value
        if hasattr(value, "text"):
            text = value.text
        elif hasattr(value, "value"):  # ID3 PCST and similar flag frames
            text = value.value
        elif hasattr(value, "url"):  # ID3 WFED/W*** link frames
            text = value.url
        if isinstance(text, list):
            text = text[0] if text else ""
        if isinstance(text, (bytes, bytearray)):
            continue
        # long descriptions matter for being there, not for their full text
        tags[name.lower()] = str(text)[:500]
    return tags, has_cover, bits


def _said(exc: Exception) -> str:
    """A decoder's own words for why it failed, without the error number and the path
    (an event names the file already): FFmpeg's "[Errno 1094995529] Invalid data found
    when processing input: '/music/a.flac'" is "Invalid data found when processing input"."""
    text = getattr(exc, "strerror", None) or getattr(exc, "error_string", None) or str(exc)
    return str(text).strip().rstrip(".")


def _probe_sndfile(path: Path, av_error: Exception) -> Probe:
    """libsndfile reads a few files FFmpeg refuses (some Ogg Vorbis variants)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        # FFmpeg's reason only: libsndfile's can mislead ("File does not exist or is not a
        # regular file" for a text file named .mp3)
        raise ProbeError(f"neither FFmpeg nor libsndfile can read it as audio (FFmpeg: {_said(av_error)}):"
                         " a damaged or incomplete file, or not audio") from exc
    codec = {"VORBIS": "vorbis", "OPUS": "opus", "MPEG_LAYER_III": "mp3", "FLAC": "flac"}.get(
        info.subtype, "pcm_" + info.subtype.lower()
    )
    bits = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "PCM_U8": 8, "PCM_S8": 8}.get(info.subtype)
    tags, has_cover, _ = _tags(path)
    return Probe(
        container=info.format.lower(), codec=codec, sample_rate=info.samplerate, channels=info.channels,
        bit_depth=bits, bitrate=None, duration=float(info.duration),
        lossless=codec == "flac" or codec.startswith("pcm_"), tags=tags, has_cover=has_cover,
    )


def probe(path: str | Path) -> Probe:
    """Read a file's audio format and tags without decoding it. Raises ProbeError for non-audio."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:  # a failed or not yet started copy, a placeholder
            raise ProbeError("the file is empty (0 bytes)")
        with av.open(str(path), metadata_errors="ignore") as container:
            streams = container.streams.audio
            if not streams:
                raise NoAudio("no audio stream (not an audio file)")
            stream = streams[0]
            ctx = stream.codec_context
            video = any(av.stream.Disposition.attached_pic not in v.disposition for v in container.streams.video)
            codec = CODEC_NAMES.get(ctx.name, ctx.name)
            duration = 0.0
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            bitrate = ctx.bit_rate or container.bit_rate or None
            result = dict(
                container=container.format.name.split(",")[0],
                codec=codec,
                sample_rate=int(ctx.sample_rate or 0),
                channels=int(ctx.channels or 0),
                bit_depth=_bit_depth(stream) if (codec in LOSSLESS_CODECS or _is_pcm(codec)) else None,
                bitrate=int(bitrate) if bitrate else None,
                duration=round(duration, 3),
                lossless=codec in LOSSLESS_CODECS or _is_pcm(codec),
                video=video,
            )
    except ProbeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise ProbeError(str(exc)) from exc
        return _probe_sndfile(path, exc)
    if result["sample_rate"] <= 0 or result["channels"] <= 0:
        raise ProbeError("not an audio file (no sample rate or channels in its stream)")
    if result["duration"] <= 0:
        # some containers carry no duration: count the decoded samples instead
        from .decode import decode

        audio, sr = decode(path)
        result["duration"] = round(audio.shape[0] / sr, 3)
    if result["codec"] == "wavpack" and _lossy_wavpack(path):
        result["lossless"] = False
    tags, has_cover, stored_bits = _tags(path)
    if result["bit_depth"] and stored_bits:  # integer samples: the file's own depth (float stays None)
        result["bit_depth"] = min(stored_bits, result["bit_depth"])
    return Probe(tags=tags, has_cover=has_cover, **result)
