"""`nightowl process`: one pipeline, now, in the foreground, with a progress bar."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from . import outputs
from .config import Settings
from .intake import fingerprint
from .pipelines import PIPELINES
from .pipelines.context import JobContext


class _Bar:
    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, stage: str, fraction: float | None) -> None:
        if not self.enabled:
            return
        f = fraction or 0.0
        filled = int(30 * f)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {100 * f:3.0f}% {stage:<24}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def active_models(settings: Settings) -> dict[str, str]:
    """kind -> checkpoint path of each active registered model (none without a database)."""
    if not settings.database.exists():
        return {}
    from .models.registry import active_paths
    from .store import Store

    store = Store(settings.database)
    try:
        return active_paths(store)
    finally:
        store.close()


def _rel_path(settings: Settings, path: Path) -> str:
    """Where outputs go below the output folder: the path inside its inbox, or the name."""
    path = path.absolute()
    inbox = settings.inbox_of(path)
    return path.relative_to(inbox.path).as_posix() if inbox else path.name


def output_names(settings: Settings, paths: list[Path]) -> list[str]:
    """The name each input's outputs take in one run: its own, but where an earlier input
    of the run already takes that (song.mp3 and song.m4a, both restored to song.flac),
    its name with its extension in brackets (`outputs.output_name`)."""
    taken: dict[str, set[str]] = {}
    names: list[str] = []
    for path in paths:
        rel = _rel_path(settings, path)
        there = taken.setdefault(outputs.output_key("", rel), set())
        names.append(outputs.output_name(rel, there))
        there.add(names[-1])
    return names


def _context(settings: Settings, params: dict[str, Any], path: Path, out: Path | None,
             progress: Any = None, output_name: str | None = None) -> JobContext:
    path = path.absolute()
    ctx = JobContext(
        input=path,
        rel_path=_rel_path(settings, path),
        output_root=(out or settings.output).absolute(),
        output_folder="",
        params=params,
        fingerprint=fingerprint(path),
        device="cpu" if settings.device == "cpu" else "auto",
        models=active_models(settings),
        models_dir=settings.models_folder,
        work_dir=settings.work_folder,
        output_name=output_name,
    )
    if progress is not None:
        ctx.progress = progress
    return ctx


def plan_file(settings: Settings, pipeline: str, params: dict[str, Any], path: Path,
              out: Path | None, output_name: str | None = None) -> dict[str, Any]:
    """What running the pipeline would do, for pipelines that can say; nothing is written."""
    ctx = _context(settings, params, path, out, output_name=output_name)
    module = importlib.import_module(PIPELINES[pipeline].module)
    if hasattr(module, "plan"):
        return dict(module.plan(ctx))
    return {"input": str(ctx.input), "action": f"run {pipeline}",
            "outputs_under": str(ctx.output_root / ctx.output_folder)}


def process_file(settings: Settings, pipeline: str, params: dict[str, Any], path: Path, out: Path | None,
                 show_progress: bool = True, output_name: str | None = None) -> list[str]:
    path = path.absolute()
    bar = _Bar(path.name, show_progress)
    ctx = _context(settings, params, path, out, bar, output_name)
    try:
        return list(importlib.import_module(PIPELINES[pipeline].module).run(ctx))
    finally:
        bar.close()
