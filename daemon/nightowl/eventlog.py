"""The status log: every event goes to SQLite (for `nightowl log`) and to logging (journal/stderr)."""

from __future__ import annotations

import logging
from typing import Any

from .store import Store

log = logging.getLogger("nightowl")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def record(
    store: Store,
    kind: str,
    message: str,
    *,
    level: str = "info",
    path: str | None = None,
    file_id: int | None = None,
    job_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Record an event in the database and log it with structured fields (FILE, JOB)."""
    store.add_event(kind, message, level=level, path=path, file_id=file_id, job_id=job_id, data=data)
    extra = {"NIGHTOWL_EVENT": kind}
    if path:
        extra["FILE"] = path
    if job_id is not None:
        extra["JOB"] = str(job_id)
    log.log(_LEVELS[level], "%s%s", message, f" [{path}]" if path and path not in message else "", extra=extra)
