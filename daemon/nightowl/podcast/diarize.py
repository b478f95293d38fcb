"""Speaker diarization with pyannote.audio 4: who speaks when, as `Turn`s.

    pipeline = load_pipeline(DEFAULT_PIPELINE, models_dir=models_dir, token=token, device="cuda")
    turns = diarize(pipeline, audio16k, num_speakers=2)
    info = pipeline_description(pipeline)   # or pipeline_version(pipeline) for one line

A pipeline is a local folder laid out the way pyannote's hub repositories are (this is what
`Pipeline.from_pretrained(folder)` reads; `pyannote/speaker-diarization-community-1`):

    <folder>/config.yaml                  pipeline class, its parameters; sub-models written
                                          "$model/segmentation", ... (relative to <folder>)
    <folder>/segmentation/pytorch_model.bin
    <folder>/embedding/pytorch_model.bin
    <folder>/plda/xvec_transform.npz, <folder>/plda/plda.npz

or a hub id, looked up first as `models_dir / <hub id>` (the id kept as a relative path:
`models_dir / "pyannote" / "speaker-diarization-community-1"`), then in the HuggingFace cache
and on the hub (gated models need an access token). With `HF_HUB_OFFLINE=1` a model missing
from both fails at once with a `DiarizeError` that says what to do.

pyannote.audio 4 sends usage metrics to pyannoteAI by default; unless the environment says
otherwise (`PYANNOTE_METRICS_ENABLED`), this module turns them off before importing it.

torch and pyannote are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import io
import os
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from .turns import Turn

DEFAULT_PIPELINE = "pyannote/speaker-diarization-community-1"
SAMPLE_RATE = 16000

_HINT = "run `nightowl models fetch` online or set diarization_model to a local folder"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name


class DiarizeError(RuntimeError):
    """The diarization pipeline could not be loaded or applied."""


# ---------------------------------------------------------------------------------------
# loading


def local_folder(models_dir: Path | None, source: str) -> Path | None:
    """Where `nightowl models fetch` keeps hub pipeline `source`: `models_dir / source`, the
    hub id kept as a relative path (`<models_dir>/pyannote/speaker-diarization-community-1`)."""
    if models_dir is None or not _HUB_ID.match(source):
        return None
    return Path(models_dir).expanduser() / source


def resolve(source: str | Path, models_dir: Path | None = None) -> tuple[str, bool]:
    """(folder or hub id, is local) for a pipeline folder or hub id, local copies first."""
    path = Path(source).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix in (".yaml", ".yml")):
        return str(path), True
    folder = local_folder(models_dir, str(source))
    if folder is not None and (folder / "config.yaml").is_file():
        return str(folder), True
    return str(source), False


def load_pipeline(source: str | Path = DEFAULT_PIPELINE, *, token: str | None = None,
                  models_dir: Path | None = None, device: str = "cpu") -> Any:
    """A pyannote.audio speaker-diarization pipeline on `device` ("cpu", "cuda", "cuda:1").

    `source` is a pipeline folder (or its config.yaml), or a hub id looked up in `models_dir`,
    then in the HuggingFace cache, then on the hub with `token` (an `hf_...` access token;
    pyannote ignores tokens of any other form). Raises DiarizeError with a one-line reason.
    """
    where, local = resolve(source, models_dir)
    if not local and not _HUB_ID.match(str(source)):
        raise DiarizeError(f"diarization pipeline folder {source} does not exist "
                           f"(expected a folder with config.yaml, or a hub id like {DEFAULT_PIPELINE!r})")
    if local and Path(where).is_dir() and not (Path(where) / "config.yaml").is_file():
        raise DiarizeError(f"diarization pipeline folder {where} has no config.yaml "
                           "(expected config.yaml, segmentation/, embedding/, plda/)")

    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    try:
        import torch
        from pyannote.audio import Pipeline
    except ImportError as exc:
        raise DiarizeError(f"pyannote.audio is not usable here ({exc}); install nightowl's podcast "
                           "dependencies") from exc

    label = repr(str(source)) + (f" from {where}" if local and where != str(source) else "")
    try:
        # pyannote prints its own advice about gated models to stdout on hub errors: keep it
        # out of the daemon's output, the DiarizeError below says the same in one line.
        with redirect_stdout(io.StringIO()):
            pipeline = Pipeline.from_pretrained(where, token=token)
    except Exception as exc:
        raise DiarizeError(f"cannot load diarization pipeline {label}: {_reason(exc, str(source), local)}") from exc
    if pipeline is None:  # pyannote's way of saying "could not download"
        raise DiarizeError(f"cannot load diarization pipeline {label}: the hub returned nothing; {_HINT}")

    try:
        pipeline.to(torch.device(device))
    except Exception as exc:
        raise DiarizeError(f"cannot move diarization pipeline to device {device!r}: {_first_line(exc)}") from exc
    pipeline.nightowl_source = str(source)
    pipeline.nightowl_path = where if local else None
    return pipeline


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _reason(exc: BaseException, source: str, local: bool) -> str:
    """One line the user can act on, from whatever pyannote / huggingface_hub raised."""
    try:
        from huggingface_hub.errors import (
            GatedRepoError,
            LocalEntryNotFoundError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
        )
    except ImportError:  # pragma: no cover - huggingface_hub always comes with pyannote
        return _first_line(exc)
    # a local folder whose config.yaml still names hub models fails the same way
    what = "a model it names" if local else "it"
    if isinstance(exc, GatedRepoError):
        repo = getattr(exc, "repo_id", None) or (source if _HUB_ID.match(source) else None)
        page = f"https://hf.co/{repo}" if repo else "its hub page"
        return (f"access to {what} is gated: accept the conditions at {page} and give an `hf_...` "
                f"access token (or HF_TOKEN), or {_HINT}")
    if isinstance(exc, RepositoryNotFoundError):
        return (f"{what} is not on the hub (or is private and no valid `hf_...` token was given); "
                f"check the name, or {_HINT}")
    if isinstance(exc, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError)):
        return f"{what} is not found locally and the hub is unreachable (offline); {_HINT}"
    if isinstance(exc, FileNotFoundError):
        return f"a file is missing ({_first_line(exc)}); the folder should hold config.yaml, " \
               "segmentation/, embedding/ and plda/"
    return _first_line(exc)


def pipeline_description(pipeline: Any) -> dict[str, Any]:
    """What ran, for reports: source, local path, pipeline class, pyannote.audio version."""
    import pyannote.audio

    return {
        "source": getattr(pipeline, "nightowl_source", None),
        "path": getattr(pipeline, "nightowl_path", None),
        "pipeline": type(pipeline).__name__,
        "pyannote_audio": pyannote.audio.__version__,
    }


def pipeline_version(pipeline: Any) -> str:
    """One line for reports: `pyannote.audio 4.0.7 SpeakerDiarization <source>`."""
    d = pipeline_description(pipeline)
    where = d["source"] or "?"
    if d["path"] and d["path"] != d["source"]:
        where += f" ({d['path']})"
    return f"pyannote.audio {d['pyannote_audio']} {d['pipeline']} {where}"


# ---------------------------------------------------------------------------------------
# applying


def diarize(pipeline: Any, audio16k: np.ndarray, sample_rate: int = SAMPLE_RATE, *,
            num_speakers: int | None = None, min_speakers: int | None = None,
            max_speakers: int | None = None) -> list[Turn]:
    """Speaker turns of `audio16k` (mono (time,) or (channel, time) float samples), by start.

    Labels are pyannote's (SPEAKER_00, SPEAKER_01, ...). Turns may overlap where two people
    speak at once (pyannote's regular output, not the "exclusive" one). The speaker-count
    hints are passed on only when set; `num_speakers` overrides the other two.
    """
    import torch

    audio = np.asarray(audio16k, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise DiarizeError(f"audio must be (time,) or (channel, time), not shape {audio.shape}")
    if audio.shape[1] == 0:
        return []
    hints = {k: int(v) for k, v in (("num_speakers", num_speakers), ("min_speakers", min_speakers),
                                    ("max_speakers", max_speakers)) if v is not None}
    for name, value in hints.items():
        if value < 1:
            raise DiarizeError(f"{name} must be at least 1, not {value}")
    if "num_speakers" not in hints and hints.get("min_speakers", 1) > hints.get("max_speakers", 1 << 30):
        raise DiarizeError(f"min_speakers {hints['min_speakers']} is above max_speakers {hints['max_speakers']}")

    file = {"waveform": torch.from_numpy(np.ascontiguousarray(audio)), "sample_rate": int(sample_rate),
            "uri": "audio"}
    try:
        output = pipeline(file, **hints)
    except Exception as exc:
        raise DiarizeError(f"diarization failed: {_first_line(exc)}") from exc
    return annotation_turns(getattr(output, "speaker_diarization", output))


def annotation_turns(annotation: Any) -> list[Turn]:
    """pyannote.core Annotation -> sorted `Turn`s (labels as strings, empty turns dropped)."""
    turns = [Turn(float(segment.start), float(segment.end), str(label))
             for segment, _, label in annotation.itertracks(yield_label=True)]
    return sorted(t for t in turns if t.end > t.start)
