from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

import pytest

from conftest import wait_until
from nightowl.config import DEFAULT_IGNORE, Inbox
from nightowl.watch import Settler, Watcher, ignored, reconcile

PATTERNS = DEFAULT_IGNORE  # the defaults, as shipped


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("rel", [".hidden.flac", "a/.sync/x.flac", "x.flac.part", "x.tmp", "x.crdownload", "x.flac~",
                                 "x.flac.!qB", "x.flac.!ut", "x.flac.!sync", "x.flac.download", "x.flac.aria2"])
def test_ignore_patterns_match_any_path_component(rel: str) -> None:
    assert ignored(rel, PATTERNS)


def test_normal_files_are_not_ignored() -> None:
    assert not ignored("Artist/Album/01 - Song.flac", PATTERNS)


def test_ignore_patterns_read_as_fnmatch_reads_each_of_them() -> None:
    """All patterns are matched as one regular expression: the same answers as
    fnmatch.fnmatchcase pattern by pattern, classes and regex characters included."""
    patterns = [*PATTERNS, "[Tt]humbs.db", "?~lock*", "desktop.ini", "a+b(1).flac", "*.[!f]lac"]
    names = ["Thumbs.db", "thumbs.db", "THUMBS.DB", ".~lock.x#", "x~lock", "desktop.ini", "Desktop.ini",
             "a+b(1).flac", "aab(1).flac", "x.flac", "x.alac", "x.FLAC", "x.part", "x.partx", "..x", "x"]
    for name in names:
        expected = any(fnmatch.fnmatchcase(name, p) for p in patterns)
        assert ignored(f"Artist/{name}", patterns) == expected, name
        assert ignored(f"{name}/Album/01.flac", patterns) == expected, name
    assert not ignored("Artist/Album/01.flac", [])


def test_reconcile_leaves_ignored_folders_unread(tmp_path: Path) -> None:
    """A sync tool's hidden history and a download client's temporary folder are not
    looked into; a file that was known there counts as no longer there, as before."""
    (tmp_path / ".stversions" / "Album").mkdir(parents=True)
    (tmp_path / ".stversions" / "Album" / "01.flac").write_bytes(b"1")
    (tmp_path / "Album.part").mkdir()
    (tmp_path / "Album.part" / "01.flac").write_bytes(b"2")
    (tmp_path / "Album").mkdir()
    kept = tmp_path / "Album" / "01.flac"
    kept.write_bytes(b"3")
    known = {str(tmp_path / ".stversions" / "Album" / "01.flac"): (7, 1, 1.0, "classified")}
    todo, gone = reconcile(Inbox(path=tmp_path), known, PATTERNS)  # type: ignore[misc]
    assert todo == [kept] and gone == [7]


def test_a_file_is_due_only_after_settle_time_with_unchanged_stat(tmp_path: Path) -> None:
    inbox = Inbox(path=tmp_path)
    clock = Clock()
    settler = Settler(5.0, clock)
    f = tmp_path / "a.flac"
    f.write_bytes(b"x")
    settler.touch(f, inbox)
    clock.now += 4.9
    assert settler.due() == []
    clock.now += 0.2
    assert settler.due() == [(f, inbox)]
    assert settler.due() == []  # handed on once


def test_a_file_still_growing_without_events_waits_another_round(tmp_path: Path) -> None:
    inbox = Inbox(path=tmp_path)
    clock = Clock()
    settler = Settler(5.0, clock)
    f = tmp_path / "a.flac"
    f.write_bytes(b"x")
    settler.touch(f, inbox)
    f.write_bytes(b"xy")  # a share being written by another machine: no event here
    clock.now += 6
    assert settler.due() == []
    clock.now += 6
    assert settler.due() == [(f, inbox)]


def test_a_vanished_file_is_dropped(tmp_path: Path) -> None:
    clock = Clock()
    settler = Settler(1.0, clock)
    f = tmp_path / "a.tmp2"
    f.write_bytes(b"x")
    settler.touch(f, Inbox(path=tmp_path))
    f.unlink()
    clock.now += 2
    assert settler.due() == [] and len(settler) == 0


def test_reconcile_finds_new_and_changed_files_and_gone_ones(tmp_path: Path) -> None:
    inbox = Inbox(path=tmp_path)
    (tmp_path / "sub").mkdir()
    new = tmp_path / "sub" / "new.flac"
    new.write_bytes(b"1")
    same = tmp_path / "same.flac"
    same.write_bytes(b"22")
    (tmp_path / ".hidden.flac").write_bytes(b"3")
    st = same.stat()
    known = {str(same): (1, st.st_size, st.st_mtime, "classified"), str(tmp_path / "old.flac"): (2, 1, 1.0, "classified")}
    todo, gone = reconcile(inbox, known, PATTERNS)  # type: ignore[misc]
    assert todo == [new] and gone == [2]


def test_reconcile_marks_nothing_gone_in_a_folder_it_cannot_list(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder without read permission, or one a share fails to list for a moment: its
    known files are not marked gone (which would cancel their waiting jobs)."""
    for name in ("Locked", "Open"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "01.flac").write_bytes(b"1")
    locked = str(tmp_path / "Locked")
    known = {}
    for n, name in enumerate(("Locked/01.flac", "Locked/02.flac", "Open/01.flac", "Open/gone.flac")):
        st = (tmp_path / "Open" / "01.flac").stat()
        known[str(tmp_path / name)] = (n, st.st_size, st.st_mtime, "classified")
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    todo, gone = reconcile(Inbox(path=tmp_path), known, PATTERNS)  # type: ignore[misc]
    assert todo == [] and gone == [3]


def test_reconcile_of_a_missing_inbox_marks_nothing_gone(tmp_path: Path) -> None:
    inbox = Inbox(path=tmp_path / "unmounted")
    assert reconcile(inbox, {"/x": (1, 1, 1.0, "classified")}, PATTERNS) is None


def test_symlinked_folders_are_not_entered(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.flac").write_bytes(b"x")
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    os.symlink(outside, inbox_dir / "link")
    todo, _ = reconcile(Inbox(path=inbox_dir), {}, PATTERNS)  # type: ignore[misc]
    assert todo == []


@pytest.mark.parametrize("poll", [False, True])
def test_watcher_sees_copies_moves_in_and_temp_then_rename(tmp_path: Path, poll: bool) -> None:
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    outside = tmp_path / "outside.flac"
    outside.write_bytes(b"m")
    seen: list[Path] = []
    watcher = Watcher([Inbox(path=inbox_dir, poll=poll, interval=0.2)], lambda p, i: seen.append(p))
    assert watcher.start() == []
    try:
        (inbox_dir / "copied.flac").write_bytes(b"c")
        os.rename(outside, inbox_dir / "moved-in.flac")
        (inbox_dir / "t.partial").write_bytes(b"t")
        os.rename(inbox_dir / "t.partial", inbox_dir / "renamed.flac")
        (tmp_path / "folder").mkdir()
        (tmp_path / "folder" / "inner.flac").write_bytes(b"i")
        os.rename(tmp_path / "folder", inbox_dir / "folder")
        want = {"copied.flac", "moved-in.flac", "renamed.flac", "inner.flac"}
        wait_until(lambda: want <= {p.name for p in seen}, 5, why=lambda: seen)
        assert watcher.healthy()
    finally:
        watcher.stop()


@pytest.mark.parametrize("poll", [False, True])
def test_an_inbox_folder_removed_and_made_again_is_watched_again(tmp_path: Path, poll: bool) -> None:
    """Its observer stopped watching when the folder went (a share's mount point taken
    away and put back): the periodic check starts a new one once the folder is there."""
    inbox_dir = tmp_path / "share"
    inbox_dir.mkdir()
    seen: list[Path] = []
    watcher = Watcher([Inbox(path=inbox_dir, poll=poll, interval=0.2)], lambda p, i: seen.append(p))
    assert watcher.start() == []
    try:
        inbox_dir.rmdir()
        time.sleep(1.0)  # the observer notices (inotify at once, polling at its next poll)
        problems = watcher.check()
        assert problems and "missing or unreadable" in problems[0]
        assert watcher.healthy()  # a missing share is not a reason for systemd to restart us
        inbox_dir.mkdir()
        assert watcher.start() == []
        (inbox_dir / "back.flac").write_bytes(b"b")
        wait_until(lambda: any(p.name == "back.flac" for p in seen), 5, why=lambda: seen)
    finally:
        watcher.stop()


def test_an_exception_in_the_callback_does_not_stop_watching(tmp_path: Path) -> None:
    calls: list[Path] = []

    def flaky(p: Path, _inbox: Inbox) -> None:
        calls.append(p)
        if len(calls) == 1:
            raise RuntimeError("boom")

    watcher = Watcher([Inbox(path=tmp_path)], flaky)
    watcher.start()
    try:
        (tmp_path / "1.flac").write_bytes(b"1")
        wait_until(lambda: len(calls) >= 1, 5)
        (tmp_path / "2.flac").write_bytes(b"2")
        wait_until(lambda: any(p.name == "2.flac" for p in calls), 5)
        assert watcher.healthy()
    finally:
        watcher.stop()


def test_a_missing_inbox_is_reported_and_picked_up_once_it_appears(tmp_path: Path) -> None:
    inbox = Inbox(path=tmp_path / "share")
    watcher = Watcher([inbox], lambda p, i: None)
    problems = watcher.start()
    assert problems and "missing or unreadable" in problems[0]
    assert watcher.healthy()  # a missing share is not a reason for systemd to restart us
    (tmp_path / "share").mkdir()
    assert watcher.check() == []
    watcher.stop()
