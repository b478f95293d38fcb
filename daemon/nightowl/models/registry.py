"""The registry of trained models: which checkpoints exist and which one each pipeline uses.

The daemon imports this module, and the daemon never imports torch: the checkpoint
module (which does) is imported only inside `register`, the one call that opens a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightowl.store import Store


class RegistryError(Exception):
    """A registration that would make the registry ambiguous."""


@dataclass(frozen=True)
class ModelRecord:
    id: int
    kind: str  # "restore" now; "concert", ... later
    version: str
    path: Path
    created: str  # when the checkpoint was written (UTC, ISO 8601)
    metrics: dict[str, Any]
    training: dict[str, Any]
    active: bool
    registered: float  # when it was registered (Unix time)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ModelRecord:
        return cls(
            id=row["id"],
            kind=row["kind"],
            version=row["version"],
            path=Path(row["path"]),
            created=row["created"],
            metrics=json.loads(row["metrics"]),
            training=json.loads(row["training"]),
            active=bool(row["active"]),
            registered=row["registered"],
        )


def register(store: Store, path: str | os.PathLike[str], *, activate: bool = False) -> ModelRecord:
    """Record a checkpoint file (its kind and version come from its metadata).

    Raises CheckpointError when the file is not a valid nightowl checkpoint, and
    RegistryError when its kind and version are already registered for another file.
    Registering the same file again is a no-op (apart from `activate`).
    """
    # torch comes with it: only the CLI and job processes get here, never the daemon
    from nightowl.models.checkpoint import read_metadata

    path = Path(path).resolve()
    meta = read_metadata(path)
    row = store.model_by_version(meta.kind, meta.version)
    if row is None:
        model_id = store.add_model(kind=meta.kind, version=meta.version, path=str(path), created=meta.created,
                                   metrics=meta.metrics, training=meta.training)
    elif Path(row["path"]) == path:
        model_id = row["id"]
    else:
        raise RegistryError(f"{meta.kind} model {meta.version!r} is already registered as {row['path']}")
    if activate:
        _activate(store, model_id)
    return _record(store, model_id)


def activate(store: Store, model_id: int) -> ModelRecord:
    """Make this model the only active one of its kind; KeyError if there is no such model."""
    _activate(store, model_id)
    return _record(store, model_id)


def active(store: Store, kind: str) -> ModelRecord | None:
    """The active model of `kind` whose file is still there, else None."""
    row = store.active_model(kind)
    if row is None:
        return None
    record = ModelRecord.from_row(row)
    # A checkpoint deleted or on an unmounted disk: the pipeline falls back to the DSP
    # engine instead of failing every job; the record stays, so a remount brings it back.
    if not record.path.is_file():
        return None
    return record


def list_models(store: Store) -> list[ModelRecord]:
    """Every registered model, by kind, oldest first."""
    return [ModelRecord.from_row(row) for row in store.models()]


def _activate(store: Store, model_id: int) -> None:
    # a function of its own: `register` has a parameter called `activate`
    if not store.activate_model(model_id):
        raise KeyError(f"no model with id {model_id}")


def _record(store: Store, model_id: int) -> ModelRecord:
    row = store.model(model_id)
    assert row is not None
    return ModelRecord.from_row(row)


# the kinds of model the pipelines use; later pipelines add theirs
KINDS = ("restore",)


def active_paths(store: Store) -> dict[str, str]:
    """kind -> checkpoint path of each kind's active model whose file is there."""
    found = {kind: active(store, kind) for kind in KINDS}
    return {kind: str(r.path) for kind, r in found.items() if r is not None}
