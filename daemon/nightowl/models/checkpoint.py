"""Checkpoints: a model's weights with what it is, where it came from and how good it was.

A checkpoint is a torch file holding one dict of plain values and tensors, read back
with `weights_only=True`, so opening a file from anywhere never runs its code:

    {"format": "nightowl-checkpoint/1", "kind", "architecture", "version", "created",
     "training", "metrics", "state_dict"}
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nightowl.models.unet import NAME as UNET_NAME
from nightowl.models.unet import UNet

FORMAT = "nightowl-checkpoint/1"
_FORMAT_FAMILY = FORMAT.rsplit("/", 1)[0] + "/"
ARCHITECTURES: dict[str, type[UNet]] = {UNET_NAME: UNet}


class CheckpointError(Exception):
    """A file that cannot be used as the checkpoint asked for; the message says why."""


@dataclass(frozen=True)
class CheckpointMeta:
    kind: str
    version: str
    created: str  # UTC, ISO 8601
    architecture: dict[str, Any]
    training: dict[str, Any]
    metrics: dict[str, Any]


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    kind: str = "restore",
    version: str,
    training: Mapping[str, Any],
    metrics: Mapping[str, Any],
    now: datetime | None = None,
) -> Path:
    """Write `model` with its metadata to `path` atomically (a reader sees the old file or the new one).

    `training` and `metrics` must be JSON values: the registry stores them as JSON and
    `weights_only` loading accepts nothing richer.
    """
    path = Path(path)
    describe = getattr(model, "describe", None)
    if describe is None:
        raise TypeError(f"{type(model).__name__} has no describe(): it cannot be checkpointed")
    payload = {
        "format": FORMAT,
        "kind": kind,
        "architecture": describe(),
        "version": str(version),
        "created": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        "training": _json_values("training", training),
        "metrics": _json_values("metrics", metrics),
        "state_dict": {name: t.detach().cpu() for name, t in model.state_dict().items()},
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def read_metadata(path: str | os.PathLike[str]) -> CheckpointMeta:
    """The metadata of a valid checkpoint of any kind, without building the model.

    The file is memory-mapped, so the weights are not read. CheckpointError otherwise.
    """
    return _metadata(_read(Path(path), map_location="cpu", mmap=True), Path(path))


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", *, kind: str = "restore"
) -> tuple[nn.Module, CheckpointMeta]:
    """The model (in eval mode, on `device`) and its metadata; CheckpointError if it is not a usable `kind` model."""
    path = Path(path)
    payload = _read(path, map_location=device, mmap=False)
    meta = _metadata(payload, path)
    if meta.kind != kind:
        raise CheckpointError(f"{path}: wrong kind: a {meta.kind!r} model, not a {kind!r} model")
    model = ARCHITECTURES[meta.architecture["name"]].from_description(meta.architecture)
    state = payload["state_dict"]
    _check_state(path, model, state)
    model.to(device)
    model.load_state_dict(state, strict=True)
    return model.eval(), meta


def _read(path: Path, *, map_location: str | torch.device, mmap: bool) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # a truncated file, another program's file, a pickle with code in it...
        # torch's own message suggests weights_only=False, which is never the fix here
        raise CheckpointError(
            f"{path}: not a nightowl checkpoint (not a torch file of plain values and tensors:"
            f" {type(exc).__name__})"
        ) from exc


def _metadata(payload: Any, path: Path) -> CheckpointMeta:
    if not isinstance(payload, dict) or not isinstance(payload.get("format"), str):
        raise CheckpointError(f"{path}: not a nightowl checkpoint (no format field)")
    fmt = payload["format"]
    if fmt != FORMAT:
        if fmt.startswith(_FORMAT_FAMILY):
            raise CheckpointError(f"{path}: checkpoint format {fmt!r} is not supported (this nightowl reads {FORMAT!r})")
        raise CheckpointError(f"{path}: not a nightowl checkpoint (format {fmt!r})")
    for field, kind in (("kind", str), ("version", str), ("created", str), ("architecture", dict),
                        ("training", dict), ("metrics", dict), ("state_dict", dict)):
        if not isinstance(payload.get(field), kind):
            raise CheckpointError(f"{path}: malformed checkpoint: {field!r} is missing or not a {kind.__name__}")
    architecture = payload["architecture"]
    name = architecture.get("name")
    if name not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {name!r} (known: {', '.join(sorted(ARCHITECTURES))})")
    try:
        ARCHITECTURES[name].from_description(architecture)  # cheap: checks the STFT and the sizes
    except ValueError as exc:
        raise CheckpointError(f"{path}: unusable architecture: {exc}") from exc
    return CheckpointMeta(
        kind=payload["kind"],
        version=payload["version"],
        created=payload["created"],
        architecture=dict(architecture),
        training=dict(payload["training"]),
        metrics=dict(payload["metrics"]),
    )


def _check_state(path: Path, model: nn.Module, state: dict[str, Any]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the architecture: missing {_few(missing)}, unexpected {_few(unexpected)}"
        )
    for name, tensor in expected.items():
        got = state[name]
        if not isinstance(got, torch.Tensor) or got.shape != tensor.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckpointError(
                f"{path}: shape mismatch for {name}: checkpoint {shape}, architecture {tuple(tensor.shape)}"
            )


def _few(names: list[str], n: int = 3) -> str:
    if not names:
        return "none"
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _json_values(field: str, value: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(dict(value), allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field} must hold JSON values only: {exc}") from exc


def _fsync_dir(folder: Path) -> None:
    # the rename itself is durable only once the folder is synced
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
