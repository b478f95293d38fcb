"""Runs file analysis in a child process so the daemon never loads PyAV, the analysis or models.

The child is started on demand (warmed up as soon as a file starts arriving)
and shut down after a while without work, so an idle daemon is one small process.

Analyses run one at a time for all inboxes (intake.py), so one that cannot go on holds
up every inbox: a file on a network share whose server went away mid-read blocks the
child until the server is back. While an analysis runs on, the daemon asks every few
seconds, on a thread of its own, whether the file's folder still answers; where it
does not, the child is stopped at once rather than at the time limit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .watch import ANSWER_SECONDS, within

log = logging.getLogger(__name__)


def _analyse(path: str, options: Any) -> dict[str, Any]:
    from .classify.analyse import analyse_safely

    return analyse_safely(path, options)


def _exit_with_parent(parent: int) -> None:
    """In the analysis child, before any analysis import: keep numeric libraries to one
    thread and freed memory for reuse (heap.py), and exit when the daemon is gone (even
    after a SIGKILL).

    The pool's child holds both ends of its own work pipe, so it would never see
    the daemon die; PR_SET_PDEATHSIG does not fit either (it follows the thread
    that started the child, and the pool starts children from several threads).
    """
    import os

    # one analysis at a time, each single-threaded: BLAS worker threads only spin on 2 cores
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from .heap import keep_freed_memory

    keep_freed_memory()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _warm() -> None:
    # import the heavy modules now, while the file is still settling
    from .classify import analyse  # noqa: F401


# an analysis still running after this long has its file's folder asked whether it answers
# (and again as often): most take well under a second, so most files are never asked about
LOOK_SECONDS = 5.0
CUT_OFF = "the analysis was stopped: the file's share stopped answering while it was read"


class Analyzer:
    def __init__(self, options: Any = None, idle_seconds: float = 60.0, timeout_seconds: float = 300.0,
                 look_seconds: float = LOOK_SECONDS, answer_seconds: float = ANSWER_SECONDS) -> None:
        self.options = options  # classify.decide.ClassOptions (picklable)
        self.idle_seconds = idle_seconds
        self.timeout_seconds = timeout_seconds
        self.look_seconds = look_seconds
        self.answer_seconds = answer_seconds
        self._pool: ProcessPoolExecutor | None = None
        self._last_used = 0.0
        self._lock = threading.Lock()

    def _ensure(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                ctx = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, max_tasks_per_child=1000,
                                                 initializer=_exit_with_parent, initargs=(os.getpid(),))
            self._last_used = time.monotonic()
            return self._pool

    def warm_up(self) -> None:
        """Start the child early, so it has its imports done when the file settles."""
        if self._pool is None:
            self._ensure().submit(_warm)

    def analyse(self, path: str) -> dict[str, Any]:
        """Analyse one file in the child; a crash of the child becomes an error result."""
        pool = self._ensure()
        folder = Path(path).parent
        deadline = time.monotonic() + self.timeout_seconds
        try:
            future = pool.submit(_analyse, path, self.options)
            while True:
                try:
                    result = future.result(timeout=max(0.0, min(self.look_seconds, deadline - time.monotonic())))
                    break
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        raise
                    if within(self.answer_seconds, folder.is_dir) is None:
                        log.warning("%s: its folder does not answer: analysis stopped", path)
                        self._discard(kill=True)
                        return {"path": path, "ok": False, "timed_out": True, "not_answering": True, "error": CUT_OFF}
        except BrokenProcessPool:
            self._discard()
            return {"path": path, "ok": False, "error": "the analysis process crashed on this file"}
        except TimeoutError:
            self._discard(kill=True)
            return {"path": path, "ok": False, "timed_out": True,
                    "error": f"analysis took over {self.timeout_seconds:.0f} s"}
        self._last_used = time.monotonic()
        return result

    def release_if_idle(self) -> None:
        if self._pool is not None and time.monotonic() - self._last_used > self.idle_seconds:
            log.debug("analysis process idle: stopping it")
            self._discard()

    def _discard(self, kill: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.kill()
        pool.shutdown(wait=not kill, cancel_futures=True)

    def close(self) -> None:
        self._discard(kill=True)
