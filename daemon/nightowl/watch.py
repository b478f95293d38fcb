"""Watching inboxes: watchdog observers, settling, ignore patterns, the reconcile scan."""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from .config import Inbox

log = logging.getLogger(__name__)


def ignored(rel_path: str, patterns: list[str]) -> bool:
    """Whether any component of a path inside an inbox matches an ignore pattern."""
    return any(fnmatch.fnmatchcase(part, pat) for part in Path(rel_path).parts for pat in patterns)


@dataclass
class _Pending:
    inbox: Inbox
    last_event: float
    stat: tuple[int, float] | None


def _stat(path: Path) -> tuple[int, float] | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime)


class Settler:
    """Holds paths until they have settled: no event for `settle` seconds and the same
    size and mtime in two stats taken that far apart. Thread-safe; the clock is passed in."""

    def __init__(self, settle: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle = settle
        self.clock = clock
        self._pending: dict[Path, _Pending] = {}
        self._lock = threading.Lock()

    def touch(self, path: Path, inbox: Inbox) -> None:
        with self._lock:
            self._pending[path] = _Pending(inbox, self.clock(), _stat(path))

    def __len__(self) -> int:
        return len(self._pending)

    def due(self) -> list[tuple[Path, Inbox]]:
        """Paths that have settled now (and leave the settler); vanished paths are dropped."""
        now = self.clock()
        ready: list[tuple[Path, Inbox]] = []
        with self._lock:
            for path, item in list(self._pending.items()):
                if now - item.last_event < self.settle:
                    continue
                current = _stat(path)
                if current is None:
                    del self._pending[path]  # renamed away or deleted
                elif current == item.stat:
                    del self._pending[path]
                    ready.append((path, item.inbox))
                else:
                    # still changing without events (a network share): wait another round
                    item.last_event, item.stat = now, current
        return ready


class _Handler(FileSystemEventHandler):
    def __init__(self, inbox: Inbox, on_path: Callable[[Path, Inbox], None]) -> None:
        self.inbox = inbox
        self.on_path = on_path

    def on_any_event(self, event: FileSystemEvent) -> None:
        # an exception escaping here would silently kill watchdog's dispatcher thread
        try:
            if event.event_type in ("deleted", "opened", "closed_no_write"):
                return
            target = event.dest_path if event.event_type == "moved" else event.src_path
            if not target:
                return
            path = Path(os.fsdecode(target))
            if event.is_directory:
                if event.event_type in ("created", "moved"):
                    # a folder moved in from outside brings files without events of their own
                    for child in walk_inbox(self.inbox, path):
                        self.on_path(child, self.inbox)
                return
            self.on_path(path, self.inbox)
        except Exception:
            log.exception("error handling %s for %s", event.event_type, event.src_path)


def walk_inbox(inbox: Inbox, start: Path | None = None) -> Iterator[Path]:
    """Every regular file under an inbox (or one of its folders); symlinked folders are not entered."""
    for root, dirs, files in os.walk(start or inbox.path, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name


class Watcher:
    """One observer per inbox; reports every touched path (not yet filtered) to `on_path`."""

    def __init__(self, inboxes: list[Inbox], on_path: Callable[[Path, Inbox], None]) -> None:
        self.inboxes = inboxes
        self.on_path = on_path
        self._observers: dict[str, BaseObserver] = {}

    def _start_one(self, inbox: Inbox) -> None:
        observer: BaseObserver = PollingObserver(timeout=inbox.interval) if inbox.poll else Observer()
        observer.schedule(_Handler(inbox, self.on_path), str(inbox.path), recursive=True)
        observer.daemon = True
        observer.start()
        self._observers[inbox.name] = observer

    def start(self) -> list[str]:
        """Start observers; returns the problems (an inbox missing or unreadable), which are retried later."""
        return self.check()

    def check(self) -> list[str]:
        """Restart any observer that died or never started; returns what is still wrong."""
        problems = []
        for inbox in self.inboxes:
            observer = self._observers.get(inbox.name)
            if observer is not None and observer.is_alive():
                continue
            if observer is not None:
                log.warning("observer for inbox %s stopped: restarting it", inbox.name)
                self._observers.pop(inbox.name, None)
            if not inbox.path.is_dir() or not os.access(inbox.path, os.R_OK | os.X_OK):
                problems.append(f"inbox {inbox.name}: {inbox.path} is missing or unreadable (unmounted share?)")
                continue
            try:
                self._start_one(inbox)
            except OSError as exc:
                problems.append(f"inbox {inbox.name}: cannot watch {inbox.path}: {exc}")
        return problems

    def healthy(self) -> bool:
        """Every started observer is alive (a missing share is a warning, not a reason to restart us)."""
        return all(o.is_alive() for o in self._observers.values())

    def stop(self) -> None:
        for observer in self._observers.values():
            observer.stop()
        for observer in self._observers.values():
            observer.join(timeout=5)
        self._observers.clear()


def reconcile(
    inbox: Inbox, known: dict[str, tuple[int, int, float, str]], patterns: list[str]
) -> tuple[list[Path], list[int]] | None:
    """Compare an inbox with what the database knows of it.

    Returns (paths to take in: new or changed, ids of files no longer there), or
    None when the inbox root is missing or unreadable: then nothing is marked gone.
    """
    if not inbox.path.is_dir() or not os.access(inbox.path, os.R_OK | os.X_OK):
        return None
    seen: set[str] = set()
    todo: list[Path] = []
    for path in walk_inbox(inbox):
        rel = path.relative_to(inbox.path).as_posix()
        if ignored(rel, patterns):
            continue
        spath = str(path)
        seen.add(spath)
        row = known.get(spath)
        current = _stat(path)
        if row is None or current is None or (row[1], row[2]) != current or row[3] == "new":
            todo.append(path)
    gone = [row[0] for spath, row in known.items() if spath not in seen]
    return todo, gone
