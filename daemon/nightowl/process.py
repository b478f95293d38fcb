"""`nightowl process`: one pipeline, now, in the foreground, with a progress bar."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

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


def process_file(settings: Settings, pipeline: str, params: dict[str, Any], path: Path, out: Path | None,
                 show_progress: bool = True) -> list[str]:
    path = path.absolute()
    inbox = settings.inbox_of(path)
    rel = path.relative_to(inbox.path).as_posix() if inbox else path.name
    bar = _Bar(path.name, show_progress)
    ctx = JobContext(
        input=path,
        rel_path=rel,
        output_root=(out or settings.output).absolute(),
        output_folder="",
        params=params,
        fingerprint=fingerprint(path),
        device="cpu" if settings.device == "cpu" else "auto",
        progress=bar,
    )
    try:
        return list(importlib.import_module(PIPELINES[pipeline].module).run(ctx))
    finally:
        bar.close()
