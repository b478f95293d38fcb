"""Watching inboxes: watchdog observers, settling, ignore patterns, the reconcile scan."""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from .config import Inbox
from .folderpoll import FolderPollingObserver

log = logging.getLogger(__name__)


# how long a question to a folder may take before the folder counts as not answering
ANSWER_SECONDS = 3.0
NOT_ANSWERING = "is NOT ANSWERING (a network share whose server is down?)"


def _readable_folder(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.R_OK | os.X_OK)


def within(seconds: float, ask: Callable[[], bool]) -> bool | None:
    """`ask()` on a thread of its own; None where it has not answered within `seconds`
    (the thread is left blocked: see Reach)."""
    answer: list[bool] = []
    thread = threading.Thread(target=lambda: answer.append(ask()), name="ask", daemon=True)
    thread.start()
    thread.join(seconds)
    return answer[0] if answer else None


class Reach:
    """Asks whether folders are there, without ever waiting long for the answer.

    A folder on a network share whose server went away (an NFS hard mount, the
    default) blocks whatever touches it until the server is back. Each question runs
    on a thread of its own and is given `timeout` seconds; a thread that is still
    blocked then keeps the folder "not answering" until it returns, and no second
    thread is sent after it. Thread-safe.
    """

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = ANSWER_SECONDS if timeout is None else timeout
        self._asking: dict[Path, threading.Thread] = {}
        self._lock = threading.Lock()

    def __call__(self, folder: Path) -> bool | None:
        """True: a folder this process can read; False: missing or unreadable; None: not answering."""
        return self.all([folder])[folder]

    def all(self, folders: list[Path]) -> dict[Path, bool | None]:
        """The same for several folders, asked at once (one wait for them all)."""
        answers: dict[Path, bool] = {}
        asked: list[threading.Thread] = []
        with self._lock:
            for folder in dict.fromkeys(folders):
                asking = self._asking.get(folder)
                if asking is not None and asking.is_alive():
                    continue  # still blocked on the last question
                asking = threading.Thread(target=lambda f=folder: answers.__setitem__(f, _readable_folder(f)),
                                          name=f"reach {folder}", daemon=True)
                self._asking[folder] = asking
                asked.append(asking)
        deadline = time.monotonic() + self.timeout
        for asking in asked:
            asking.start()
        for asking in asked:
            asking.join(max(0.0, deadline - time.monotonic()))
        return {folder: answers.get(folder) for folder in folders}


@lru_cache(maxsize=8)
def _ignore_matcher(patterns: tuple[str, ...]) -> Callable[[str], object]:
    """Whether a name matches any of the patterns (as fnmatch.fnmatchcase reads each), in
    one regular expression: a look over an inbox of 100,000 files asks it of each of
    them, where fnmatch pattern by pattern took seconds."""
    if not patterns:
        return lambda name: None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


def ignored(rel_path: str, patterns: list[str]) -> bool:
    """Whether any component of a path inside an inbox matches an ignore pattern."""
    match = _ignore_matcher(tuple(patterns))
    return any(match(part) for part in rel_path.split("/") if part not in ("", "."))


@dataclass
class _Pending:
    inbox: Inbox
    last_event: float
    stat: tuple[int, float] | None


def _stat(path: str | Path) -> tuple[int, float] | None:
    try:
        st = os.lstat(path)
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
        stat = _stat(path)  # outside the lock (see due)
        with self._lock:
            self._pending[path] = _Pending(inbox, self.clock(), stat)

    def __len__(self) -> int:
        return len(self._pending)

    def due(self, inbox: str | None = None) -> list[tuple[Path, Inbox]]:
        """Paths that have settled now (and leave the settler); vanished paths are dropped.
        `inbox`: only that inbox's paths (each inbox's are stat'ed by its own thread: see
        service.Lane). The stats run outside the lock: a share that stops answering
        blocks the caller, never the threads that report events."""
        now = self.clock()
        ready: list[tuple[Path, Inbox]] = []
        with self._lock:
            waited = [(path, item) for path, item in self._pending.items()
                      if (inbox is None or item.inbox.name == inbox) and now - item.last_event >= self.settle]
        for path, item in waited:
            current = _stat(path)
            with self._lock:
                if self._pending.get(path) is not item:
                    continue  # touched again meanwhile: it waits anew
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


# how long start() waits for the observers (each one's first look at its inbox)
START_SECONDS = 30.0


class Watcher:
    """One observer per inbox; reports every touched path (not yet filtered) to `on_path`.

    Observers are started on threads of their own: starting one looks at the whole inbox
    (inotify adds a watch per folder, polling lists every folder), which on a large
    share takes a while and on one that stopped answering never ends. `on_started` is
    told of each inbox whose observer started, from that thread.
    """

    def __init__(self, inboxes: list[Inbox], on_path: Callable[[Path, Inbox], None],
                 on_started: Callable[[Inbox], None] = lambda inbox: None, reach: Reach | None = None) -> None:
        self.inboxes = inboxes
        self.on_path = on_path
        self.on_started = on_started
        self.reach = reach or Reach()
        self.silent: set[str] = set()  # inboxes that did not answer at the last check
        self._observers: dict[str, BaseObserver] = {}
        self._starting: dict[str, threading.Thread] = {}
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def _start_one(self, inbox: Inbox) -> None:
        observer: BaseObserver = FolderPollingObserver(timeout=inbox.interval) if inbox.poll else Observer()
        observer.schedule(_Handler(inbox, self.on_path), str(inbox.path), recursive=True)
        observer.daemon = True
        try:
            observer.start()
        except OSError as exc:
            with self._lock:
                self._failed[inbox.name] = str(exc)
            return
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self._observers[inbox.name] = observer
        if stopped:
            observer.stop()
            return
        self.on_started(inbox)

    def start(self, wait: float = START_SECONDS) -> list[str]:
        """Start the observers and wait up to `wait` seconds for them; returns the problems
        (an inbox missing, unreadable or not answering), which are retried later."""
        self.check()
        deadline = time.monotonic() + wait
        for thread in list(self._starting.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        return self.check()

    def check(self) -> list[str]:
        """Restart any observer that died or never started; returns what is still wrong.
        Never waits long on an inbox (see Reach)."""
        problems = []
        answers = self.reach.all([inbox.path for inbox in self.inboxes])  # one wait for them all
        for inbox in self.inboxes:
            there = answers[inbox.path]
            if there is None:
                self.silent.add(inbox.name)
                problems.append(not_answering(inbox))
                continue
            self.silent.discard(inbox.name)
            with self._lock:
                observer = self._observers.get(inbox.name)
                error = self._failed.pop(inbox.name, None)
            if observer is not None and _watching(observer):
                continue
            if observer is not None:
                log.warning("observer for inbox %s stopped: restarting it", inbox.name)
                observer.stop()  # where only its emitter stopped, its dispatcher still runs
                with self._lock:
                    self._observers.pop(inbox.name, None)
            starting = self._starting.get(inbox.name)
            if starting is not None and starting.is_alive():
                continue  # still taking its first look
            if error is not None:
                problems.append(f"inbox {inbox.name}: cannot watch {inbox.path}: {error}")
            if not there:
                problems.append(f"inbox {inbox.name}: {inbox.path} is missing or unreadable (unmounted share?)")
                continue
            thread = threading.Thread(target=self._start_one, args=(inbox,), name=f"watch {inbox.name}", daemon=True)
            self._starting[inbox.name] = thread
            thread.start()
        return problems

    def healthy(self) -> bool:
        """Every started observer is alive (a missing share is a warning, not a reason to restart us)."""
        with self._lock:
            return all(o.is_alive() for o in self._observers.values())

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            observers = list(self._observers.values())
            self._observers.clear()
        for observer in observers:
            observer.stop()
        for observer in observers:
            observer.join(timeout=5)


def _watching(observer: BaseObserver) -> bool:
    """The observer runs and still watches: watchdog's emitter stops for good where the
    inbox folder itself goes (deleted, or a share's mount point removed), and the
    observer around it runs on, seeing nothing, even once the folder is back."""
    return observer.is_alive() and all(e.is_alive() for e in observer.emitters)


def not_answering(inbox: Inbox) -> str:
    return (f"inbox {inbox.name}: {inbox.path} is not answering (a network share whose server is down?):"
            " its files wait until it answers again")


def reconcile(
    inbox: Inbox, known: dict[str, tuple[int, int, float, str]], patterns: list[str]
) -> tuple[list[Path], list[int]] | None:
    """Compare an inbox with what the database knows of it.

    Returns (paths to take in: new or changed, ids of files no longer there), or
    None when the inbox root is missing or unreadable: then nothing is marked gone.
    Nor is anything under a folder that could not be listed (no permission, a share's
    hiccup): its files are as they were, for all this look can tell.
    `known` is used up: each file found is taken out of it, and what is left is gone
    (no second set of 100,000 paths for a large library).
    """
    if not inbox.path.is_dir() or not os.access(inbox.path, os.R_OK | os.X_OK):
        return None
    todo: list[Path] = []
    unlisted: list[str] = []
    for spath in _files_not_ignored(inbox, patterns, unlisted):
        row = known.pop(spath, None)
        current = _stat(spath)
        if row is None or current is None or (row[1], row[2]) != current or row[3] == "new":
            todo.append(Path(spath))
    prefixes = tuple(folder.rstrip(os.sep) + os.sep for folder in unlisted)
    gone = [row[0] for spath, row in known.items() if not (prefixes and spath.startswith(prefixes))]
    return todo, gone


def _files_not_ignored(inbox: Inbox, patterns: list[str], unlisted: list[str]) -> Iterator[str]:
    """What `walk_inbox` yields that `ignored` lets through, as path strings: a folder an
    ignore pattern matches is not entered at all (a sync tool's hidden history, a
    download client's temporary folder), and no Path is made per file, which in an
    inbox of 100,000 files cost more than the look itself. Folders that cannot be listed
    are added to `unlisted`."""
    match = _ignore_matcher(tuple(patterns))
    for root, dirs, files in os.walk(str(inbox.path), followlinks=False,
                                     onerror=lambda exc: unlisted.append(str(exc.filename))):
        dirs[:] = sorted(d for d in dirs if not match(d))
        for name in sorted(files):
            if not match(name):
                yield os.path.join(root, name)
