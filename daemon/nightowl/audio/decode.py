"""Decode audio files into float32 numpy arrays (PyAV first, libsndfile as fallback)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf


class DecodeError(Exception):
    """The file could not be decoded as audio by any decoder."""


class _Samples:
    """Decoded chunks gathered into one array sized from the length the header gives, so
    that a whole file is held once: kept as chunks and joined at the end, an hour of stereo
    took 2.5 GB at the join instead of 1.3. Pages of the array past the real end are never
    written, so a header that promises too much costs address space, not memory; chunks
    past a length it promised too little of are joined on at the end."""

    def __init__(self, expected: int, channels: int) -> None:
        self.channels = channels
        self.length = 0
        self.rest: list[np.ndarray] = []
        self.array: np.ndarray | None = None
        if expected > 0:
            try:
                self.array = np.empty((expected, channels), dtype=np.float32)
            except MemoryError:  # a length no machine could hold: a broken header, or an enormous file
                self.array = None

    def add(self, chunk: np.ndarray) -> None:
        if self.length == 0 and chunk.shape[1] != self.channels:  # the stream's layout told otherwise
            self.array, self.channels = None, chunk.shape[1]
        if self.array is not None and not self.rest and self.length + len(chunk) <= len(self.array):
            self.array[self.length:self.length + len(chunk)] = chunk
        else:
            self.rest.append(chunk)
        self.length += len(chunk)

    def joined(self) -> np.ndarray:
        first = [] if self.array is None else [self.array[:self.length - sum(len(c) for c in self.rest)]]
        parts = first + self.rest
        if not parts:
            return np.zeros((0, self.channels), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _expected_frames(container: av.container.InputContainer, stream: av.audio.stream.AudioStream, sr: int,
                     start: float, duration: float | None) -> int:
    """How many frames the read should give, from the request or the header (0: unknown)."""
    if duration is not None:
        return int(round(duration * sr))
    if stream.duration is not None and stream.time_base is not None:
        total = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        total = container.duration / av.time_base
    else:
        return 0
    # a little over: headers round, and decoders add their padding
    return max(0, int((total - start) * sr * 1.01) + sr)


def _decode_av(path: Path, start: float, duration: float | None) -> tuple[np.ndarray, int]:
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = _audio_stream(container, path)
        return _read_av(container, stream, stream.codec_context, start, duration), _rate(stream)


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise DecodeError(f"{path.name}: no audio stream")
    return container.streams.audio[0]


def _rate(stream: av.audio.stream.AudioStream) -> int:
    return stream.codec_context.sample_rate or stream.rate


def _read_av(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
             decoder: av.CodecContext, start: float, duration: float | None) -> np.ndarray:
    """`duration` seconds from `start` of an open file's stream, through `decoder`."""
    sr = _rate(stream)
    channels = stream.codec_context.channels or 1
    # planar float keeps full resolution for 24-bit and float sources
    resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=sr)
    if start > 0:
        container.seek(int(start / stream.time_base), stream=stream, any_frame=False, backward=True)
    want = None if duration is None else int(round(duration * sr))
    first_sample = int(round(start * sr))
    # frames from the seek point on are cut to the start, until the first one past it
    # (timestamps are fractions: worked out for every frame they cost more than the copy)
    cutting = start > 0
    out = _Samples(_expected_frames(container, stream, sr, start, duration), channels)
    try:
        for packet in container.demux(stream):
            for frame in decoder.decode(packet):
                for res in resampler.resample(frame):
                    chunk = res.to_ndarray().T.astype(np.float32, copy=False)
                    if cutting and res.pts is not None and res.time_base is not None:
                        frame_start = int(round(float(res.pts * res.time_base) * sr))
                        skip = first_sample - frame_start
                        if skip >= chunk.shape[0]:
                            continue
                        if skip > 0:
                            chunk = chunk[skip:]
                    out.add(chunk)
                    cutting = False
                    if want is not None and out.length >= want:
                        return out.joined()[:want]
    except av.error.InvalidDataError as exc:
        # FFmpeg's own words ("Invalid data found when processing input") say nothing to a user
        if out.length:
            where = f"the audio breaks off after {(first_sample + out.length) / sr:.1f} s"
        elif start > 0:
            where = f"no audio can be decoded at {start:.1f} s"
        else:
            raise
        raise DecodeError(f"{where}; the file is damaged or cut short, perhaps by a copy or download"
                          " that did not finish") from exc
    for res in resampler.resample(None):
        out.add(res.to_ndarray().T.astype(np.float32, copy=False))
    audio = out.joined()
    return audio if want is None else audio[:want]


# decoders whose whole state comes from the sample rate, layout and extradata, so that one
# made afresh decodes as the stream's own does in a fresh opening (checked sample for
# sample on the corpus's MP3, AAC and Vorbis files; not Opus, whose pre-skip and seek
# pre-roll the stream carries besides); others keep one opening a span
_FRESH_DECODERS = {"mp3float", "mp3", "aac", "vorbis"}


def _fresh_decoder(stream: av.audio.stream.AudioStream) -> av.CodecContext:
    src = stream.codec_context
    ctx = av.CodecContext.create(src.name, "r")
    ctx.sample_rate, ctx.layout = src.sample_rate, src.layout
    if src.extradata:
        ctx.extradata = src.extradata
    return ctx


def _decode_av_spans(path: Path, spans: list[tuple[float, float | None]]) -> tuple[list[np.ndarray], int] | None:
    """The spans from one opening of the file, each through a fresh decoder (the stream's
    own keeps state across a seek: its first frames after one differ); None where the
    codec is not one of _FRESH_DECODERS."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = _audio_stream(container, path)
        if stream.codec_context.name not in _FRESH_DECODERS:
            return None
        decoded = [_read_av(container, stream, _fresh_decoder(stream), start, length) for start, length in spans]
        return decoded, _rate(stream)


# libsndfile's frame count for a file whose header does not say how long it is (a FLAC
# encoded to a pipe has no total in its STREAMINFO): read "to the end", it would size an
# array of that many frames. FFmpeg reads such files to their real end instead
_UNKNOWN_LENGTH = 2**62


def _frames_due(first: int, count: int | None, total: int) -> int:
    """How many frames a read of `count` frames (None: to the end) from frame `first`
    should give in a file whose header declares `total`."""
    return total - first if count is None else min(count, total - first)


def _read_sndfile(f: sf.SoundFile, start: float, duration: float | None) -> np.ndarray:
    sr = f.samplerate
    first = 0
    if start > 0:
        first = min(int(round(start * sr)), max(f.frames - 1, 0))
        f.seek(first)
    n = None if duration is None else int(round(duration * sr))
    audio = f.read(-1 if n is None else n, dtype="float32", always_2d=True)
    if len(audio) < _frames_due(first, n, f.frames):
        # fewer samples than the header promises there: the caller tries FFmpeg, which says where it breaks off
        raise DecodeError(f"the audio ends after {(first + len(audio)) / sr:.1f} s of the {f.frames / sr:.1f} s "
                          "its header declares")
    return audio


def _decode_sndfile_spans(path: Path, spans: list[tuple[float, float | None]]) -> tuple[list[np.ndarray], int]:
    """The spans from one opening of the file (libsndfile decodes the same samples after a
    seek as in a fresh opening)."""
    try:
        with sf.SoundFile(str(path)) as f:
            if not 0 <= f.frames < _UNKNOWN_LENGTH:
                raise DecodeError(f"{path.name}: its header does not say how long it is")
            return [_read_sndfile(f, start, length) for start, length in spans], f.samplerate
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DecodeError(f"{path.name}: {exc}") from exc


def _declared_frames(path: Path) -> int | None:
    """The length in samples that a libsndfile format's header declares, where it does."""
    try:
        frames = sf.info(str(path)).frames
    except (sf.LibsndfileError, RuntimeError):
        return None
    return frames if 0 < frames < _UNKNOWN_LENGTH else None


def _decode_sndfile(path: Path, start: float, duration: float | None) -> tuple[np.ndarray, int]:
    [audio], sr = _decode_sndfile_spans(path, [(start, duration)])
    return audio, sr


# lossless formats libsndfile reads exactly, and faster than FFmpeg through PyAV (about 1.4x on a 3-minute FLAC)
_SNDFILE_FIRST = {".flac", ".wav", ".aif", ".aiff", ".aifc", ".w64", ".caf"}


def decode(path: str | Path, *, start: float = 0.0, duration: float | None = None) -> tuple[np.ndarray, int]:
    """Decode `duration` seconds from `start` (all of it by default).

    Returns (samples, sample_rate) with samples float32, shape (frames, channels).
    Raises DecodeError when neither FFmpeg (PyAV) nor libsndfile can read the file.
    """
    path = Path(path)
    declared = None
    if path.suffix.lower() in _SNDFILE_FIRST:
        try:
            return _decode_sndfile(path, start, duration)
        except DecodeError:
            # e.g. a WAV holding a codec libsndfile does not know, or a FLAC without its
            # length: FFmpeg may read it. Or a file cut short, where it says where it breaks
            # off; but not always (an end cut at a frame's edge reads as a clean end), so
            # what it decodes is held to the length the header declares
            declared = _declared_frames(path)
    try:
        audio, sr = _decode_av(path, start, duration)
        _check_declared(path, audio, sr, start, duration, declared)
        return audio, sr
    except (av.error.FFmpegError, DecodeError, ValueError) as av_exc:
        try:
            return _decode_sndfile(path, start, duration)
        except DecodeError:
            raise DecodeError(f"{path.name}: not decodable as audio ({av_exc})") from av_exc


def _check_declared(path: Path, audio: np.ndarray, sr: int, start: float, duration: float | None,
                    declared: int | None) -> None:
    """Raise where FFmpeg decoded fewer samples than the header declares there."""
    if declared is None:
        return
    first = int(round(start * sr))
    if len(audio) < _frames_due(first, None if duration is None else int(round(duration * sr)), declared):
        raise DecodeError(f"the audio breaks off after {(first + len(audio)) / sr:.1f} s of the {declared / sr:.1f} s "
                          "its header declares; the file is damaged or cut short, perhaps by a copy or download "
                          "that did not finish")


def decode_spans(path: str | Path, spans: list[tuple[float, float | None]]) -> tuple[list[np.ndarray], int]:
    """Decode several (start, duration) spans of one file, in the order of the file: the
    same samples as `decode` of each (duration None: to the end).

    FFmpeg seeks in a file without a seek table (MP3) by reading it from the start, and
    keeps what it read for the next seek only within one opening: for the decoders that
    allow it (see _FRESH_DECODERS) the spans come from one opening, which makes an MP3's
    excerpts about half as costly. libsndfile's formats come from one opening too (each
    opening costs a little, a FLAC's header and first frame). Otherwise each is decoded on
    its own.
    """
    path = Path(path)
    try:
        together = (_decode_sndfile_spans if path.suffix.lower() in _SNDFILE_FIRST else _decode_av_spans)(path, spans)
    except (av.error.FFmpegError, DecodeError, ValueError):
        together = None  # decode() below falls back as it always does
    if together is not None:
        return together
    parts = [decode(path, start=start, duration=length) for start, length in spans]
    return [audio for audio, _ in parts], (parts[0][1] if parts else 0)


def excerpt_starts(duration: float, count: int, length: float, whole_up_to: float = 0.0) -> list[float]:
    """Evenly spread excerpt start times, skipping the first and last 5% (fades, silence);
    [0.0] (the whole file) for files up to `whole_up_to` seconds or too short to excerpt."""
    if duration <= max(count * length * 1.5, whole_up_to):
        return [0.0]
    lo, hi = duration * 0.05, duration * 0.95 - length
    if count == 1:
        return [round((lo + hi) / 2, 3)]
    step = (hi - lo) / (count - 1)
    return [round(lo + i * step, 3) for i in range(count)]


# excerpts start on multiples of this many samples of the file, so a codec's frame grid
# (1024 samples for AAC and Vorbis) lies at the same place in each (classify/codecgrid.py);
# MP3's 576-sample granules do not divide it, so that check is told each excerpt's start
EXCERPT_GRID = 1024


def excerpt_offsets(duration: float, count: int, length: float, sample_rate: int, whole_up_to: float = 0.0) -> list[int]:
    """The first sample (in the file) of each excerpt `decode_excerpts` decodes with this
    `sample_rate`: on multiples of EXCERPT_GRID, or [0] where it decodes the whole file."""
    starts = excerpt_starts(duration, count, length, whole_up_to)
    if starts == [0.0]:
        return [0]
    return [int(s * sample_rate) // EXCERPT_GRID * EXCERPT_GRID for s in starts]


def decode_excerpts(
    path: str | Path, duration: float, *, count: int = 4, length: float = 6.0, sample_rate: int | None = None,
    whole_up_to: float = 0.0,
) -> tuple[list[np.ndarray], int]:
    """Decode `count` excerpts of `length` seconds spread over the file.

    Short files (shorter than 1.5x the total excerpt time, or up to `whole_up_to`
    seconds) are decoded whole as one excerpt. This keeps checks cheap on long
    files without losing coverage.
    With `sample_rate` (the probed one) each excerpt starts on a multiple of
    EXCERPT_GRID samples.
    """
    starts = excerpt_starts(duration, count, length, whole_up_to)
    if starts == [0.0]:
        audio, sr = decode(path)
        return [audio], sr
    if sample_rate:
        starts = [n / sample_rate for n in excerpt_offsets(duration, count, length, sample_rate, whole_up_to)]
    return decode_spans(path, [(start, length) for start in starts])


@dataclass(frozen=True)
class Excerpts:
    """What intake decodes of a file: a few seconds from the middle, and its first and
    last seconds where the file is decoded whole (None otherwise: see `decode_ends`)."""

    head: np.ndarray | None
    middle: list[np.ndarray]
    tail: np.ndarray | None
    sample_rate: int
    starts: list[int]  # each middle excerpt's first sample in the file


def _tail_span(duration: float, edge: float) -> tuple[float, None]:
    # the tail is read to the end of the file, then cut: libsndfile decodes a FLAC again
    # from its start for a read that ends inside the last frame short of the end (seen
    # costing up to a whole decode), while one that ends at the end costs its length
    return max(0.0, duration - edge - 0.05), None


def decode_plan(
    path: str | Path, duration: float, *, count: int = 4, length: float = 4.5, edge: float = 8.0,
    sample_rate: int | None = None, whole_up_to: float = 0.0,
) -> Excerpts:
    """Decode `count` middle excerpts; the head and tail (`edge` seconds each) are left to
    `decode_ends`, for where they are needed.

    Files too short for that (or up to `whole_up_to` seconds) are decoded whole
    once and sliced, head and tail included, so every file costs at most one full
    decode and long ones only a few seconds.
    """
    if duration <= max(2 * edge + count * length * 1.5, whole_up_to):
        audio, sr = decode(path)
        n = int(edge * sr)
        return Excerpts(audio[:n], [audio], audio[-n:] if len(audio) > n else audio, sr, [0])
    starts = excerpt_offsets(duration, count, length, sample_rate) if sample_rate else []  # [] : not on a grid
    middle = [n / sample_rate for n in starts] if sample_rate else excerpt_starts(duration, count, length)
    excerpts, sr = decode_spans(path, [(s, length) for s in middle])
    return Excerpts(None, excerpts, None, sr, starts)


def decode_ends(path: str | Path, duration: float, edge: float) -> tuple[np.ndarray, np.ndarray]:
    """The head and tail (`edge` seconds each) that `decode_plan` leaves out of a long file."""
    (head, tail), sr = decode_spans(path, [(0.0, edge), _tail_span(duration, edge)])
    return head, tail[:int(round(edge * sr))]
