"""`nightowl label`: a user's correction of a file's class."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import Settings
from .devices import use_gpu
from .eventlog import record
from .intake import facts_of_row, fingerprint, route_file
from .pipelines import pipeline_shown
from .rules import Rule
from .store import Store


def label_file(settings: Settings, rules: list[tuple[Rule, str]], path: Path, file_class: str) -> Iterator[str]:
    """Store the label, apply it to the known file (class, routing) and say what happened."""
    path = path.absolute()
    fp = fingerprint(path)
    store = Store(settings.database)
    try:
        store.set_label(fp, str(path), file_class)
        row = store.file_by_path(str(path))
        if row is None:
            row = next((f for f in store.files_by_fingerprint(fp) if f.duplicate_of is None), None)
        if row is None:
            yield f"labelled {path.name} as {file_class}; it applies when nightowl takes this file in"
            return
        was = row.file_class
        evidence: dict[str, Any] = dict(row.evidence or {})
        evidence["label"] = {"class": file_class, "classifier_said": was}
        store.set_class(row.id, file_class, 1.0, evidence)
        record(store, "labelled", f"labelled {file_class} by the user (was {was})", path=row.path, file_id=row.id)
        yield f"labelled {Path(row.path).name} as {file_class} (the classifier said {was})"
        decision, _ = route_file(settings, store, rules, use_gpu(settings.device), row.id, row.path,
                                 facts_of_row(row, file_class))
        for job_id in store.cancel_queued(row.id, keep=decision.jobs):
            record(store, "cancelled", f"job {job_id} cancelled: the file's class changed", path=row.path,
                   file_id=row.id, job_id=job_id)
            yield f"job {job_id} cancelled"
        for rule in decision.rules or [None]:
            yield (f"pipeline: {pipeline_shown(rule.action.pipeline)} (rule {rule.name!r})" if rule
                   else "pipeline: none (no rule matches)")
    finally:
        store.close()
