"""Intake: settled paths become file rows, classes and jobs; renames and copies are recognised."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from bench.transcode import Setting, roundtrip
from conftest import DATA, write_config
from nightowl.classify.analyse import analyse
from nightowl.config import load_settings
from nightowl.intake import Intake, fingerprint
from nightowl.rules import load_rules
from nightowl.store import Store


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(write_config(tmp_path))
    store = Store(settings.database)
    queued: list[int] = []
    intake = Intake(settings, store, load_rules(settings.rules), lambda p: analyse(p).to_dict(), False,
                    lambda: queued.append(1))
    yield settings, store, intake, queued
    store.close()


def _fake(dest: Path) -> Path:
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    sf.write(dest, roundtrip(audio, sr, Setting("mp3", "128k")), sr, subtype="PCM_16")
    return dest


def _kinds(store: Store) -> list[str]:
    return [e["kind"] for e in store.events()]


def test_a_fake_lossless_file_is_classified_and_queued(setup) -> None:  # type: ignore[no-untyped-def]
    settings, store, intake, queued = setup
    path = _fake(settings.inboxes[0].path / "a.flac")
    intake.handle(path, settings.inboxes[0])
    row = store.file_by_path(str(path))
    assert row is not None and row.file_class == "fake_lossless"
    assert row.evidence["lossless_check"]["verdict"] == "transcoded"  # type: ignore[index]
    jobs = store.jobs_for_file(row.id)
    # the report now, and (the first rule says continue) the restoration overnight
    assert [(j.pipeline, j.run_when, j.output_folder) for j in jobs] == [
        ("lossless_check", "now", "lossless-check"), ("restore", "window", "restored")]
    assert queued == [1, 1]
    assert _kinds(store) == ["new", "classified", "queued", "queued"]


def test_a_file_this_user_may_not_read_is_said_once_and_taken_in_once_it_can(  # type: ignore[no-untyped-def]
        setup, monkeypatch: pytest.MonkeyPatch) -> None:
    # (the tests run as root, who may read anything: the permission check is made to say no)
    settings, store, intake, _ = setup
    path = _fake(settings.inboxes[0].path / "a.flac")
    import nightowl.intake

    real_access = os.access
    monkeypatch.setattr(nightowl.intake.os, "access", lambda p, mode: False if Path(p) == path else real_access(p, mode))
    for _ in range(3):  # the first look and two rescans
        intake.handle(path, settings.inboxes[0])
    assert _kinds(store) == ["unreadable"] and store.file_by_path(str(path)) is None
    assert "no read permission" in next(iter(store.events()))["message"]
    monkeypatch.setattr(nightowl.intake.os, "access", real_access)  # the user fixed the permissions
    intake.handle(path, settings.inboxes[0])
    row = store.file_by_path(str(path))
    assert row is not None and row.file_class == "fake_lossless"


def test_a_video_without_sound_is_not_audio_rather_than_an_error(setup) -> None:  # type: ignore[no-untyped-def]
    from encoded import music_video

    settings, store, intake, queued = setup
    path = music_video(settings.inboxes[0].path / "screen recording.mp4", None)
    intake.handle(path, settings.inboxes[0])
    row = store.file_by_path(str(path))
    assert row is not None and row.state == "not_audio" and not queued
    assert (row.size, row.mtime) == (path.stat().st_size, path.stat().st_mtime)  # as taken in
    events = list(store.events())
    assert [e["kind"] for e in events] == ["new", "skipped"] and events[-1]["level"] == "info"
    assert "no audio stream" in events[-1]["message"]


def test_a_renamed_file_is_recognised_and_not_processed_again(setup) -> None:  # type: ignore[no-untyped-def]
    settings, store, intake, _ = setup
    inbox = settings.inboxes[0]
    path = _fake(inbox.path / "a.flac")
    intake.handle(path, inbox)
    moved = inbox.path / "sub" / "renamed.flac"
    moved.parent.mkdir()
    path.rename(moved)
    intake.handle(moved, inbox)
    row = store.file_by_path(str(moved))
    assert row is not None and row.rel_path == "sub/renamed.flac"
    assert len(store.jobs_for_file(row.id)) == 2  # the report and the restoration, once each
    assert _kinds(store)[-1] == "moved"
    assert store.count_files() == 1


def test_a_file_replaced_at_the_same_path_is_processed_again(setup) -> None:  # type: ignore[no-untyped-def]
    """A re-rip or a copy that had stalled: the new content is classified and routed afresh;
    its report is made again, and the restoration still waiting is queued for it."""
    settings, store, intake, _ = setup
    inbox = settings.inboxes[0]
    path = _fake(inbox.path / "a.flac")
    intake.handle(path, inbox)
    claimed = store.claim(devices=["cpu"], window_open=False, lease_seconds=60, pid=1)
    assert claimed is not None and claimed.pipeline == "lossless_check"
    store.finish_job(claimed.id, claimed.fingerprint)
    audio, sr = sf.read(DATA / "loop_amen_full.flac", dtype="float32", always_2d=True)
    sf.write(path, roundtrip(audio, sr, Setting("mp3", "96k")), sr, subtype="PCM_16")
    intake.handle(path, inbox)
    row = store.file_by_path(str(path))
    assert row is not None and row.fingerprint == fingerprint(path)
    jobs = store.jobs_for_file(row.id)
    assert [(j.pipeline, j.state, j.fingerprint) for j in jobs] == [
        ("lossless_check", "queued", row.fingerprint), ("restore", "queued", row.fingerprint)]
    kinds = _kinds(store)
    assert kinds[-4:] == ["changed", "classified", "queued", "queued"], kinds
    assert "1 queued job(s) cancelled" in list(store.events())[-4]["message"]


def test_a_copy_is_a_duplicate_and_gets_no_job(setup) -> None:  # type: ignore[no-untyped-def]
    settings, store, intake, _ = setup
    inbox = settings.inboxes[0]
    path = _fake(inbox.path / "a.flac")
    intake.handle(path, inbox)
    copy = inbox.path / "copy of a.flac"
    shutil.copy(path, copy)
    intake.handle(copy, inbox)
    dup = store.file_by_path(str(copy))
    assert dup is not None and dup.duplicate_of == store.file_by_path(str(path)).id  # type: ignore[union-attr]
    assert store.jobs_for_file(dup.id) == []
    assert _kinds(store)[-1] == "duplicate"


def test_the_same_file_settling_twice_is_taken_in_once(setup) -> None:  # type: ignore[no-untyped-def]
    settings, store, intake, _ = setup
    path = _fake(settings.inboxes[0].path / "a.flac")
    intake.handle(path, settings.inboxes[0])
    intake.handle(path, settings.inboxes[0])
    assert _kinds(store).count("classified") == 1


def test_a_text_file_named_flac_gets_a_clear_event_and_no_job(setup) -> None:  # type: ignore[no-untyped-def]
    settings, store, intake, _ = setup
    path = settings.inboxes[0].path / "notes.flac"
    path.write_text("not audio at all\n")
    intake.handle(path, settings.inboxes[0])
    row = store.file_by_path(str(path))
    assert row is not None and row.state == "unreadable" and row.error
    assert store.jobs_for_file(row.id) == []
    last = list(store.events())[-1]
    assert last["kind"] == "unreadable" and last["level"] == "error" and "not" in last["message"]


def test_files_that_travel_with_music_are_noted_once_and_left_alone(setup) -> None:  # type: ignore[no-untyped-def]
    """A show's lineage text and checksums, an album's cover and cue sheet: one info event
    each, no analysis, no error and no job; the same text in another show is no duplicate;
    handled again (a rescan) or edited, they add no event."""
    settings, store, intake, _ = setup
    inbox = settings.inboxes[0]
    show = inbox.path / "band1994-05-12.aud.flac16"
    show.mkdir()
    lineage = show / "band1994-05-12.txt"
    lineage.write_text("Source: AUD > DAT\nLineage: DAT > FLAC\n")
    (show / "band1994-05-12.md5").write_text("0123456789abcdef  d1t01.flac\n")
    (inbox.path / "cover.JPG").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    (inbox.path / "album.cue").write_text('FILE "album.flac" WAVE\n')
    other = inbox.path / "band1994-05-13.aud.flac16"
    other.mkdir()
    shutil.copy(lineage, other / lineage.name)
    paths = [lineage, show / "band1994-05-12.md5", inbox.path / "cover.JPG", inbox.path / "album.cue",
             other / lineage.name]
    intake.analyse = lambda p: pytest.fail(f"{p} was analysed")  # type: ignore[assignment]
    for p in paths:
        intake.handle(p, inbox)
    events = list(store.events())
    assert [(e["kind"], e["level"]) for e in events] == [("skipped", "info")] * len(paths)
    assert [e["message"] for e in events[:4]] == [
        "not audio (a text file): left alone", "not audio (a checksum file): left alone",
        "not audio (an image): left alone", "not audio (a cue sheet): left alone"]
    rows = [store.file_by_path(str(p)) for p in paths]
    assert all(r is not None and r.state == "not_audio" and r.duplicate_of is None for r in rows)
    assert all(store.jobs_for_file(r.id) == [] for r in rows if r is not None)
    lineage.write_text("Source: AUD > DAT\nLineage: DAT > CDR > EAC > FLAC\n")
    for p in paths:
        intake.handle(p, inbox)
    assert len(list(store.events())) == len(paths)
    row = store.file_by_path(str(lineage))
    assert row is not None and row.fingerprint == fingerprint(lineage) and row.size == lineage.stat().st_size


def test_a_name_in_an_older_encoding_gets_a_clear_warning_once(setup) -> None:  # type: ignore[no-untyped-def]
    """A Latin-1 name from an old share is not valid UTF-8: SQLite cannot hold it. It must
    not crash intake (and come back at every rescan): one warning that says what to do."""
    settings, store, intake, _ = setup
    inbox = settings.inboxes[0]
    raw = os.fsencode(inbox.path) + b"/Bj\xf6rk - live.flac"
    shutil.copy(DATA / "loop_tabla.flac", raw)
    path = Path(os.fsdecode(raw))
    intake.handle(path, inbox)
    intake.handle(path, inbox)  # a rescan
    events = list(store.events())
    assert [(e["kind"], e["level"]) for e in events] == [("unreadable", "warning")]
    assert events[0]["path"].endswith("Bj\\xf6rk - live.flac") and "convmv" in events[0]["message"]
    assert store.count_files() == 0


def test_a_symlink_out_of_the_inbox_is_not_followed(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, store, intake, _ = setup
    outside = _fake(tmp_path / "outside.flac")
    link = settings.inboxes[0].path / "link.flac"
    link.symlink_to(outside)
    intake.handle(link, settings.inboxes[0])
    assert store.count_files() == 0
    assert _kinds(store) == ["ignored"]


def test_fingerprint_follows_content_not_name(tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(b"x" * 2_000_000)
    b = tmp_path / "b.bin"
    shutil.copy(a, b)
    assert fingerprint(a) == fingerprint(b)
    b.write_bytes(b"x" * 1_999_999 + b"y")
    assert fingerprint(a) != fingerprint(b)


def test_a_file_that_comes_back_is_known_again_not_gone(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A file away for a while (moved out and back, a share not mounted meanwhile whose
    mount point stayed as an empty folder) is marked gone by the look over its inbox, and
    its waiting jobs are cancelled (they could only fail). Back at its path with its
    content, it is known again as it was: not analysed again, the cancelled jobs queued
    again, the finished ones not; the next look leaves it alone."""
    from nightowl import service

    settings, store, intake, _ = setup
    inbox = settings.inboxes[0]
    path = _fake(inbox.path / "a.flac")
    intake.handle(path, inbox)
    row = store.file_by_path(str(path))
    report = store.claim(devices=["cpu"], window_open=False, lease_seconds=60, pid=1)
    store.finish_job(report.id, report.fingerprint)  # the report is done; the restoration waits for the window
    daemon = service.Daemon(settings, intake.rules)
    away = tmp_path / "away.flac"
    path.rename(away)
    daemon.rescan_inbox(store, inbox)
    assert store.file_by_path(str(path)).state == "gone"
    assert [(j.pipeline, j.state) for j in store.jobs_for_file(row.id)] == [
        ("lossless_check", "done"), ("restore", "cancelled")]
    away.rename(path)
    daemon.rescan_inbox(store, inbox)
    assert len(daemon.settler) == 1  # seen again, settling
    intake.handle(path, inbox)
    back = store.file_by_path(str(path))
    assert back.state == "classified" and back.file_class == "fake_lossless" and back.id == row.id
    assert [(j.pipeline, j.state) for j in store.jobs_for_file(row.id)] == [
        ("lossless_check", "done"), ("restore", "queued")]
    events = [(e["kind"], e["message"]) for e in store.events()]
    assert events[-3][0] == "gone" and "1 waiting job(s) cancelled" in events[-3][1], events[-3:]
    assert events[-2] == ("back", "back at its path, unchanged: known again, not analysed again")
    assert events[-1][0] == "queued" and "restore" in events[-1][1]  # not classified again: no such event
    from nightowl.watch import reconcile

    assert reconcile(inbox, store.known_files(inbox.name), settings.ignore)[0] == []  # left alone from now on


def test_a_file_moved_while_the_daemon_was_stopped_keeps_its_waiting_jobs(setup) -> None:  # type: ignore[no-untyped-def]
    """Moved inside the inbox while nightowl was not running: the look over the inbox at
    start-up finds the old path gone (its waiting jobs cancelled) and the new one new;
    taken in, the new path is the same file moved, and its waiting jobs are queued again."""
    from nightowl import service

    settings, store, intake, _ = setup
    inbox = settings.inboxes[0]
    path = _fake(inbox.path / "a.flac")
    intake.handle(path, inbox)
    row = store.file_by_path(str(path))
    moved = inbox.path / "sorted" / "a.flac"
    moved.parent.mkdir()
    path.rename(moved)
    service.Daemon(settings, intake.rules).rescan_inbox(store, inbox)
    assert store.file(row.id).state == "gone"
    intake.handle(moved, inbox)
    after = store.file(row.id)
    assert after.path == str(moved) and after.state == "classified"
    assert [(j.pipeline, j.state) for j in store.jobs_for_file(row.id)] == [
        ("lossless_check", "queued"), ("restore", "queued")]
    assert [k for k in _kinds(store)][-4:] == ["gone", "moved", "queued", "queued"]


def test_a_file_moved_before_it_was_classified_is_classified_at_once(setup) -> None:  # type: ignore[no-untyped-def]
    """Left new (its analysis cut off by a share that stopped answering, say), then moved:
    taken in at its new path, it is classified there and then."""
    settings, store, intake, _ = setup
    inbox = settings.inboxes[0]
    path = _fake(inbox.path / "a.flac")
    file_id = store.add_file(path=str(path), inbox=inbox.name, rel_path="a.flac", size=path.stat().st_size,
                             mtime=path.stat().st_mtime, fingerprint=fingerprint(path))
    moved = inbox.path / "b.flac"
    path.rename(moved)
    intake.handle(moved, inbox)
    row = store.file(file_id)
    assert row.path == str(moved) and row.state == "classified" and row.file_class == "fake_lossless"
    assert _kinds(store)[:2] == ["moved", "classified"]
