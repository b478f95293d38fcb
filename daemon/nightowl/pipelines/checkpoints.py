"""Finished stages of a job, kept in a work folder so that a killed job resumes where it was.

Each stage that finishes saves what it produced (arrays as .npy, everything else as
JSON) and then marks itself done in `stages.json`, written atomically. A stage whose
mark is missing is redone from the start; one whose mark is there is loaded, never
recomputed. The folder is keyed by the input's fingerprint and the job's parameters:
a different input or different settings start over. The pipeline removes the folder
once its outputs are in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MANIFEST = "stages.json"
STALE_DAYS = 7.0  # a work folder untouched this long belongs to a job that gave up


def work_key(pipeline: str, fingerprint: str, params: dict[str, Any]) -> str:
    blob = json.dumps({"pipeline": pipeline, "fingerprint": fingerprint, "params": params}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _replace_atomically(dest: Path, write: Any) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, dest)


class Checkpoints:
    def __init__(self, folder: Path, key: str) -> None:
        self.folder = Path(folder)
        self.key = key
        self.folder.mkdir(parents=True, exist_ok=True)
        self._stages: dict[str, Any] = {}
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError):
            manifest = None
        if isinstance(manifest, dict) and manifest.get("key") == key:
            self._stages = dict(manifest.get("stages") or {})
        else:  # another input or other settings: nothing here is ours
            for child in self.folder.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        self.resumed = sorted(self._stages)

    def done(self, stage: str) -> bool:
        return stage in self._stages

    def data(self, stage: str) -> dict[str, Any]:
        return dict(self._stages[stage]["data"])

    def array(self, stage: str, name: str) -> np.ndarray:
        """A saved array, memory-mapped: an hour of stereo need not sit in memory twice."""
        import numpy as np

        return np.load(self.folder / f"{stage}.{name}.npy", mmap_mode="r")

    def has_array(self, stage: str, name: str) -> bool:
        return name in self._stages.get(stage, {}).get("arrays", [])

    def save(self, stage: str, data: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        """Save a finished stage: its arrays first, then its mark in the manifest."""
        import numpy as np

        arrays = arrays or {}
        for name, value in arrays.items():
            _replace_atomically(self.folder / f"{stage}.{name}.npy",
                                lambda fh, v=value: np.save(fh, np.ascontiguousarray(v), allow_pickle=False))
        self._stages[stage] = {"data": data, "arrays": sorted(arrays)}
        text = json.dumps({"key": self.key, "stages": self._stages}, default=str).encode()
        _replace_atomically(self.folder / MANIFEST, lambda fh: fh.write(text))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_stale(work_root: Path, max_age_days: float = STALE_DAYS, now: float | None = None) -> list[Path]:
    """Remove work folders no stage has written to for `max_age_days` (their jobs failed for
    good or were deleted); returns what was removed. A daemon chore."""
    if not work_root.is_dir():
        return []
    limit = (time.time() if now is None else now) - max_age_days * 86400
    removed = []
    for folder in work_root.iterdir():
        if not folder.is_dir():
            continue
        try:
            newest = max((p.stat().st_mtime for p in folder.iterdir()), default=folder.stat().st_mtime)
        except OSError:
            continue
        if newest < limit:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
