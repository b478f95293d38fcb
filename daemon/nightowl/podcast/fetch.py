"""`nightowl models fetch`: download the podcast models the rules use into the models folder,
so that jobs then run without the network.

Which models: those named by every rule that runs the podcast pipeline, and the
defaults when no rule sets them. Local folders and models that ship inside a package
(Whisper tiny.en, DeepFilterNet3, silero VAD) need nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..pipelines import PodcastParams


@dataclass(frozen=True)
class Wanted:
    kind: str  # "whisper" | "diarization" | "separation"
    name: str


def wanted(params: list[PodcastParams]) -> list[Wanted]:
    """The hub models a set of podcast settings needs, each once, local folders left out. Pure."""
    from .transcribe import bundled_path

    out: dict[tuple[str, str], Wanted] = {}
    for p in params:
        picks = [("whisper", p.whisper_model)]
        if p.diarize:
            picks.append(("diarization", p.diarization_model))
        if p.separate != "never":
            picks.append(("separation", p.demucs_model))
        for kind, name in picks:
            if Path(name).expanduser().is_dir() or (kind == "whisper" and bundled_path(name) is not None):
                continue
            out.setdefault((kind, name), Wanted(kind, name))
    return list(out.values())


def fetch(item: Wanted, models_dir: Path, token: str | None = None) -> Path:
    """Download one model into `models_dir`; returns where it went. Needs the network."""
    models_dir.mkdir(parents=True, exist_ok=True)
    if item.kind == "whisper":
        from faster_whisper.utils import download_model

        from .transcribe import local_folder

        dest = local_folder(models_dir, item.name)
        download_model(item.name, output_dir=str(dest), use_auth_token=token)
        return dest
    if item.kind == "diarization":
        from huggingface_hub import snapshot_download

        dest = models_dir / item.name  # the hub id as a relative path, where diarize looks
        snapshot_download(item.name, local_dir=str(dest), token=token)
        return dest
    if item.kind == "separation":
        from . import separate

        return separate.fetch(item.name, models_dir)
    raise ValueError(f"unknown model kind {item.kind!r}")
