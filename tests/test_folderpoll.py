"""Polling a share's folders: new files are seen, unchanged folders are not even listed."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest
from watchdog.observers.api import EventQueue, ObservedWatch

from nightowl import folderpoll
from nightowl.folderpoll import FolderPollingEmitter

OLD = time.time() - 3600


def _age(*folders: Path) -> None:
    """Folders last changed an hour ago: their listings are trusted (not racy)."""
    for f in folders:
        os.utime(f, (OLD, OLD))


def _poll(emitter: FolderPollingEmitter, queue: EventQueue) -> list[tuple[str, str]]:
    emitter.queue_events(0)
    out = []
    while not queue.empty():
        event, _watch = queue.get_nowait()
        out.append((type(event).__name__, os.path.relpath(event.src_path, emitter.watch.path)))
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    inbox = tmp_path / "share"
    (inbox / "Artist" / "Album").mkdir(parents=True)
    (inbox / "Artist" / "Album" / "01.flac").write_bytes(b"1")
    (inbox / "loose.mp3").write_bytes(b"2")
    _age(inbox / "Artist" / "Album", inbox / "Artist", inbox)
    return inbox


def _emitter(inbox: Path) -> tuple[FolderPollingEmitter, EventQueue]:
    queue = EventQueue()
    emitter = FolderPollingEmitter(queue, ObservedWatch(str(inbox), recursive=True), timeout=0)
    emitter.on_thread_start()
    return emitter, queue


def test_what_is_there_at_the_start_is_known_and_new_files_are_reported(tree: Path) -> None:
    emitter, queue = _emitter(tree)
    assert _poll(emitter, queue) == []
    (tree / "Artist" / "Album" / "02.flac").write_bytes(b"3")
    (tree / "t.partial").write_bytes(b"4")
    os.rename(tree / "t.partial", tree / "renamed.flac")
    assert sorted(_poll(emitter, queue)) == [("FileCreatedEvent", "Artist/Album/02.flac"),
                                             ("FileCreatedEvent", "renamed.flac")]


def test_unchanged_folders_are_not_listed(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emitter, queue = _emitter(tree)
    listed: list[str] = []
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        listed.append(os.path.relpath(path, tree))
        return real(path)

    monkeypatch.setattr(folderpoll.os, "scandir", scandir)
    assert _poll(emitter, queue) == [] and listed == []
    (tree / "Artist" / "Album" / "02.flac").write_bytes(b"3")
    _poll(emitter, queue)
    assert listed == ["Artist/Album"]


def test_a_file_replaced_under_its_own_name_is_reported(tree: Path) -> None:
    """rsync and most copy tools write a temporary file and rename it over the old one."""
    emitter, queue = _emitter(tree)
    (tree / ".loose.mp3.x1y2").write_bytes(b"new")
    os.replace(tree / ".loose.mp3.x1y2", tree / "loose.mp3")
    assert _poll(emitter, queue) == [("FileCreatedEvent", "loose.mp3")]


def test_files_left_as_they_were_are_not_reported_again(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When something else changes their folder, the files already there are not handed
    on again, even where the share makes up new inode numbers at each listing (SMB
    mounts without server inode numbers)."""
    emitter, queue = _emitter(tree)
    real = os.scandir

    class Renumbered:  # the same entries under new inode numbers
        def __init__(self, entry: os.DirEntry) -> None:
            self._entry = entry
            self.name = entry.name

        def inode(self) -> int:
            return self._entry.inode() + 1_000_000

        def is_dir(self, follow_symlinks: bool = True) -> bool:
            return self._entry.is_dir(follow_symlinks=follow_symlinks)

        def stat(self, follow_symlinks: bool = True) -> os.stat_result:
            return self._entry.stat(follow_symlinks=follow_symlinks)

    class Listing:
        def __init__(self, path: str) -> None:
            self._it = real(path)

        def __enter__(self):  # type: ignore[no-untyped-def]
            return (Renumbered(e) for e in self._it)

        def __exit__(self, *exc: object) -> None:
            self._it.close()

    monkeypatch.setattr(folderpoll.os, "scandir", Listing)
    (tree / "Artist" / "Album" / "cover.jpg").write_bytes(b"c")
    assert _poll(emitter, queue) == [("FileCreatedEvent", "Artist/Album/cover.jpg")]


def test_a_folder_that_appears_is_reported_and_then_watched(tree: Path) -> None:
    emitter, queue = _emitter(tree)
    outside = tree.parent / "New Album"
    outside.mkdir()
    (outside / "01.flac").write_bytes(b"1")
    os.rename(outside, tree / "Artist" / "New Album")
    # the folder, whose files the daemon's handler walks for itself
    assert _poll(emitter, queue) == [("DirCreatedEvent", "Artist/New Album")]
    (tree / "Artist" / "New Album" / "02.flac").write_bytes(b"2")
    assert _poll(emitter, queue) == [("FileCreatedEvent", "Artist/New Album/02.flac")]


def test_a_folder_changed_twice_within_one_tick_of_a_coarse_clock_is_listed_again(tree: Path) -> None:
    album = tree / "Artist" / "Album"
    os.utime(album, None)  # just changed: too recent to trust
    emitter, queue = _emitter(tree)
    stamp = album.stat().st_mtime_ns
    (album / "02.flac").write_bytes(b"3")
    os.utime(album, ns=(stamp, stamp))  # a clock of whole seconds would leave the mtime as it was
    assert _poll(emitter, queue) == [("FileCreatedEvent", "Artist/Album/02.flac")]


def test_a_removed_folder_is_forgotten_and_the_inbox_going_stops_the_poll(tree: Path) -> None:
    emitter, queue = _emitter(tree)
    (tree / "Artist" / "Album" / "01.flac").unlink()
    (tree / "Artist" / "Album").rmdir()
    assert _poll(emitter, queue) == []
    assert str(tree / "Artist" / "Album") not in emitter._mtimes
    (tree / "Artist" / "Album").mkdir()
    (tree / "Artist" / "Album" / "01.flac").write_bytes(b"1")
    assert _poll(emitter, queue) == [("DirCreatedEvent", "Artist/Album")]
    for p in sorted(tree.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    tree.rmdir()
    assert _poll(emitter, queue) == [("DirDeletedEvent", ".")] and not emitter.should_keep_running()


def test_a_share_that_fails_for_a_while_is_polled_again_and_nothing_is_lost(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emitter, queue = _emitter(tree)
    real = os.stat

    def dead(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(folderpoll.os, "stat", dead)
    (tree / "Artist" / "Album" / "02.flac").write_bytes(b"3")
    assert _poll(emitter, queue) == [] and emitter.should_keep_running()
    monkeypatch.setattr(folderpoll.os, "stat", real)
    assert _poll(emitter, queue) == [("FileCreatedEvent", "Artist/Album/02.flac")]


def test_a_folder_it_cannot_read_holds_up_no_other(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder without read permission (or one that fails on a share) is tried again at
    every poll; the others are polled all the same, and its files are reported once it
    can be read."""
    other = tree / "Other"
    other.mkdir()
    _age(other, tree)
    emitter, queue = _emitter(tree)
    real = folderpoll._list
    locked = {str(tree / "Artist" / "Album")}

    def listing(path: str):  # type: ignore[no-untyped-def]
        if path in locked:
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(folderpoll, "_list", listing)
    (tree / "Artist" / "Album" / "02.flac").write_bytes(b"3")
    (other / "01.flac").write_bytes(b"4")
    assert _poll(emitter, queue) == [("FileCreatedEvent", "Other/01.flac")]
    assert _poll(emitter, queue) == [] and emitter.should_keep_running()
    locked.clear()
    assert _poll(emitter, queue) == [("FileCreatedEvent", "Artist/Album/02.flac")]
