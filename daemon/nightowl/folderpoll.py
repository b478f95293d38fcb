"""Watching a network share by polling its folders, not every file in them.

inotify sees nothing that other machines do on an NFS or SMB share, so such inboxes
are polled (`poll = true`). watchdog's PollingObserver takes a snapshot of the whole
tree at every poll, a stat of every file: for a library of 100,000 files about a
second of CPU each time (every 10 s by default: a tenth of a core, all day) and two
snapshots of the tree in memory. New files, though, always change their folder: a
file created, moved or renamed into a folder moves the folder's mtime. So this
emitter stats the folders at every poll and lists only those whose mtime moved,
reporting the files that are new there or that replaced a file of the same name with
another size or mtime (rsync and most copy tools write a temporary file and rename it
into place; size and mtime are what the daemon's look compares too, and unlike inode
numbers they hold on SMB mounts that make those up). The daemon takes it from there as from any event: it waits for the file to
settle, then takes it in.

What a folder's mtime does not show is a file rewritten in place (a tag editor
saving into the same file): that is found by the daemon's look over every inbox
(`rescan_minutes`), as are changes on a filesystem that keeps no folder mtimes.
A folder listed within RACY_SECONDS of its last change is listed again at the next
poll: on a clock that counts whole seconds (FAT, some shares) a second change in
the same second would leave the mtime where it was.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from watchdog.events import DirCreatedEvent, DirDeletedEvent, FileCreatedEvent
from watchdog.observers.api import DEFAULT_EMITTER_TIMEOUT, DEFAULT_OBSERVER_TIMEOUT, BaseObserver, EventEmitter

log = logging.getLogger(__name__)

RACY_SECONDS = 2.0


def _list(path: str) -> tuple[int | None, dict[str, int], set[str]]:
    """A folder's mtime (None where it changed too recently to trust) and its files
    (name -> a hash of size and mtime) and subfolders; symlinks to folders count as
    files, as os.walk without followlinks leaves them unentered."""
    mtime = os.stat(path).st_mtime_ns
    files: dict[str, int] = {}
    folders: set[str] = set()
    with os.scandir(path) as entries:
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.add(entry.name)
                else:
                    st = entry.stat(follow_symlinks=False)
                    files[entry.name] = hash((st.st_size, st.st_mtime_ns))
            except OSError:
                continue  # gone between the listing and the look
    racy = time.time() - mtime / 1e9 < RACY_SECONDS
    return (None if racy else mtime), files, folders


class FolderPollingEmitter(EventEmitter):
    """Reports files created, moved or renamed into a watched tree (FileCreatedEvent)
    and folders that appear in it (DirCreatedEvent), by polling its folders' mtimes."""

    def __init__(self, event_queue, watch, *, timeout=DEFAULT_EMITTER_TIMEOUT,  # type: ignore[no-untyped-def]
                 event_filter=None) -> None:
        super().__init__(event_queue, watch, timeout=timeout, event_filter=event_filter)
        # per folder its mtime (None: list it again at the next poll), and apart from
        # that (the poll runs through the mtimes alone) its files (name -> size and mtime) and subfolders
        self._mtimes: dict[str, int | None] = {}
        self._listings: dict[str, tuple[dict[str, int], set[str]]] = {}
        self._lock = threading.Lock()
        self._failing = False

    def on_thread_start(self) -> None:
        """The first look over the tree: what is there now is known, not new."""
        self._add_tree(self.watch.path)

    def _add_tree(self, top: str) -> None:
        todo = [top]
        while todo:
            path = todo.pop()
            try:
                mtime, files, folders = _list(path)
            except OSError:
                # unreadable for now (no permission, a share's hiccup): tried again at every
                # poll, and what it holds is reported once it can be read
                mtime, files, folders = None, {}, set()
            self._mtimes[path] = mtime
            self._listings[path] = (files, folders)
            if self.watch.is_recursive:
                todo.extend(os.path.join(path, name) for name in folders)

    def _drop_tree(self, top: str) -> None:
        prefix = top + os.sep
        for path in [p for p in self._mtimes if p == top or p.startswith(prefix)]:
            del self._mtimes[path]
            del self._listings[path]

    def queue_events(self, timeout: float) -> None:
        if self.stopped_event.wait(timeout):
            return
        with self._lock:
            if not self.should_keep_running():
                return
            try:
                self._poll()
            except (FileNotFoundError, NotADirectoryError):
                self.queue_event(DirDeletedEvent(self.watch.path))  # the inbox itself went: as watchdog does
                self.stop()
                return
            except OSError as exc:
                # EIO, ESTALE, EHOSTDOWN...: often a share briefly away. What is known is
                # kept, and the next poll reports what changed meanwhile
                if not self._failing:
                    self._failing = True
                    log.warning("cannot poll %s, will retry: %s", self.watch.path, exc)
                return
            if self._failing:
                self._failing = False
                log.info("polling %s again", self.watch.path)

    def _poll(self) -> None:
        root = self.watch.path  # the first folder listed: raises below where the inbox itself is gone
        stat = os.stat
        for path, mtime in list(self._mtimes.items()):
            if path not in self._mtimes:
                continue  # dropped with a folder above it in this poll
            try:
                if mtime is not None and stat(path).st_mtime_ns == mtime:
                    continue
                mtime, files, folders = _list(path)
            except (FileNotFoundError, NotADirectoryError):
                if path != root:
                    self._drop_tree(path)  # its parent's listing says so too
                    continue
                raise
            except OSError:
                if path == root:
                    raise  # the share itself: said once by queue_events
                self._mtimes[path] = None  # one folder it cannot read stops no other: tried again next time
                continue
            known_files, known_folders = self._listings[path]
            for name, stamp in files.items():
                if known_files.get(name) != stamp:
                    self.queue_event(FileCreatedEvent(os.path.join(path, name)))
            if self.watch.is_recursive:
                for name in known_folders - folders:
                    self._drop_tree(os.path.join(path, name))
                for name in folders - known_folders:
                    sub = os.path.join(path, name)
                    self._add_tree(sub)
                    self.queue_event(DirCreatedEvent(sub))  # the handler reports the files it brought
            self._mtimes[path] = mtime
            self._listings[path] = (files, folders)


class FolderPollingObserver(BaseObserver):
    """An observer that polls folders' mtimes every `timeout` seconds (see the module doc)."""

    def __init__(self, *, timeout: float = DEFAULT_OBSERVER_TIMEOUT) -> None:
        super().__init__(FolderPollingEmitter, timeout=timeout)
