"""A network share that stops answering (an NFS hard mount whose server is down blocks
whoever touches it until the server is back): only its own files wait. The other inboxes
go on, the daemon stays healthy (systemd is not made to restart it), `status` says which
inbox is not answering, and its files are taken in once it answers again."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import DATA, run_daemon_while, wait_until, write_config
from nightowl import service, watch
from nightowl.config import load_settings
from nightowl.report import status_data, status_text
from nightowl.rules import load_rules
from nightowl.store import Store


class Share:
    """Blocks this process's stat, access and directory listings under `root` while down,
    as the kernel does for a hard-mounted NFS share whose server went away."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = str(root)
        self.up = threading.Event()
        self.up.set()
        self.blocked = 0
        for name in ("stat", "lstat", "access", "scandir", "listdir"):
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))

    def _wrap(self, real):  # type: ignore[no-untyped-def]
        def call(path=".", *args, **kwargs):  # type: ignore[no-untyped-def]
            if isinstance(path, (str, os.PathLike)) and os.fspath(path).startswith(self.root) and not self.up.is_set():
                self.blocked += 1
                self.up.wait()
            return real(path, *args, **kwargs)
        return call



def classified(store: Store, path: Path) -> bool:
    row = store.file_by_path(str(path))
    return row is not None and row.file_class is not None


def test_reach_says_not_answering_without_waiting_and_asks_no_second_time(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    share = Share(tmp_path / "nas", monkeypatch)
    (tmp_path / "nas").mkdir()
    reach = watch.Reach(timeout=0.2)
    assert reach(tmp_path / "nas") is True and reach(tmp_path / "gone") is False
    share.up.clear()
    assert reach(tmp_path / "nas") is None
    started = time.monotonic()
    assert reach(tmp_path / "nas") is None and time.monotonic() - started < 0.1  # the first question still hangs
    assert share.blocked == 1
    share.up.set()
    wait_until(lambda: reach(tmp_path / "nas") is True, 5)


def test_a_share_that_stops_answering_holds_up_only_its_own_files(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    nas = tmp_path / "nas"
    nas.mkdir()
    extra = '[[inboxes]]\npath = "nas"\nname = "nas"\npoll = true\ninterval = 0.3\n'
    config = write_config(tmp_path, settle=2.0)
    config.write_text(config.read_text().replace("[window]", extra + "\n[window]"))
    settings = load_settings(config)
    share = Share(nas, monkeypatch)
    monkeypatch.setattr(service, "HEALTH_SECONDS", 0.3)
    daemon = service.Daemon(settings, load_rules(settings.rules))
    daemon.reach.timeout = 0.3
    music = settings.inbox_named("music").path
    seen: dict[str, object] = {}

    def scenario(store: Store) -> None:
        try:
            shutil.copy(DATA / "loop_tabla.flac", nas / "waits.flac")
            wait_until(lambda: len(daemon.settler) == 1, 60)  # seen, settling
            share.up.clear()  # the server goes away: the next look at the file blocks
            wait_until(lambda: "NOT ANSWERING: inbox nas" in daemon.status_line(store), 60)
            shutil.copy(DATA / "guit_em9.flac", music / "local.flac")
            wait_until(lambda: classified(store, music / "local.flac"), 60)
            seen["healthy while down"] = daemon.healthy(store)
            seen["status while down"] = status_text(status_data(settings))
            seen["nas file while down"] = store.file_by_path(str(nas / "waits.flac"))
            seen["blocked"] = share.blocked
            share.up.set()  # the server is back
            wait_until(lambda: classified(store, nas / "waits.flac"), 60)
            wait_until(lambda: "NOT ANSWERING" not in daemon.status_line(store), 60)
            # said just after the status line clears (the same health check, a moment later)
            wait_until(lambda: any(e["message"] == "inbox nas: answers again" for e in store.events()), 10)
            seen["events"] = [e["message"] for e in store.events() if e["kind"] == "inbox"]
        finally:
            share.up.set()

    run_daemon_while(daemon, scenario)
    assert seen["healthy while down"] is True  # the watchdog keeps being fed: no restart loop
    assert seen["nas file while down"] is None and seen["blocked"] > 0
    status = str(seen["status while down"])
    assert f"inbox nas: {nas} is NOT ANSWERING" in status and "inbox music" not in status, status
    events = seen["events"]
    assert any("nas" in m and "not answering" in m for m in events), events
    assert any(m == "inbox nas: answers again" for m in events), events
    assert not any("music" in m for m in events), events


def test_doctor_says_which_inbox_does_not_answer_and_does_not_hang(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from nightowl.doctor import run_checks

    (tmp_path / "nas").mkdir()
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        "[window]", '[[inboxes]]\npath = "nas"\nname = "nas"\npoll = true\n\n[window]'))
    settings = load_settings(config)
    share = Share(tmp_path / "nas", monkeypatch)
    monkeypatch.setattr(watch, "ANSWER_SECONDS", 0.3)
    share.up.clear()
    try:
        checks = {c.name: c for c in run_checks(settings)}
    finally:
        share.up.set()
    assert checks["inbox nas"].level == "fail" and "NOT ANSWERING" in checks["inbox nas"].message
    assert checks["inbox music"].level == "ok" and checks["output"].level == "ok"


def read_forever(path: str, options: object) -> dict:
    """In the analysis child: a read that never returns, as one from a share whose server
    went away (a named pipe will not do: intake sees it is empty before reading it)."""
    time.sleep(600)
    return {}


def test_an_analysis_held_up_by_its_share_is_stopped_within_seconds_not_at_the_time_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Analyses run one at a time for every inbox, so one stuck on a share that stopped
    answering would hold up the others for the whole time limit. Where the file's folder
    answers, only the time limit ends the wait (the file is merely slow); where it does
    not, the analysis child is stopped at the next look. A fresh child takes the next file."""
    from nightowl import analyzer as analyzer_module

    nas = tmp_path / "nas"
    nas.mkdir()
    stuck = nas / "song.flac"
    shutil.copy(DATA / "guit_em9.flac", stuck)
    share = Share(nas, monkeypatch)
    analyzer = analyzer_module.Analyzer(timeout_seconds=4.0, look_seconds=0.5, answer_seconds=0.3)
    try:
        monkeypatch.setattr(analyzer_module, "_analyse", read_forever)
        started = time.monotonic()
        slow = analyzer.analyse(str(stuck))
        slow_took = time.monotonic() - started
        share.up.clear()
        started = time.monotonic()
        cut = analyzer.analyse(str(stuck))
        cut_took = time.monotonic() - started
        share.up.set()
        monkeypatch.undo()
        after = analyzer.analyse(str(stuck))
    finally:
        share.up.set()
        analyzer.close()
    assert slow["timed_out"] and not slow.get("not_answering") and slow_took >= 4.0
    assert cut["timed_out"] and cut["not_answering"] and cut["error"] == analyzer_module.CUT_OFF
    assert cut_took < 3.0, cut_took  # a look or two, not the 4 s limit
    assert after["ok"] and after["file_class"] == "lossless_music"


@pytest.mark.parametrize("how", ["stopped by the analyzer", "time limit, share down", "time limit, share up"])
def test_an_analysis_cut_off_by_its_share_leaves_the_file_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              how: str) -> None:
    """The analysis child read the file when its share stopped answering: stopped by the
    analyzer (above), or at its time limit. Nothing is wrong with the file, which is taken
    in again once the share answers. A file whose analysis times out on a share that
    answers is unreadable, as before."""
    from nightowl import intake as intake_module
    from nightowl.analyzer import CUT_OFF
    from nightowl.intake import Intake

    settings = load_settings(write_config(tmp_path))
    song = settings.inbox_named("music").path / "song.flac"
    shutil.copy(DATA / "guit_em9.flac", song)
    share = Share(song.parent, monkeypatch)
    monkeypatch.setattr(intake_module, "ANSWER_SECONDS", 0.3)

    def cut_off(path: str) -> dict:
        if how == "stopped by the analyzer":
            return {"path": path, "ok": False, "timed_out": True, "not_answering": True, "error": CUT_OFF}
        if how == "time limit, share down":
            share.up.clear()  # the server goes away while the child reads the file
        return {"path": path, "ok": False, "timed_out": True, "error": "analysis took over 300 s"}

    store = Store(settings.database)
    try:
        Intake(settings, store, load_rules(settings.rules), cut_off, False).handle(song, settings.inboxes[0])
        share.up.set()
        row = store.file_by_path(str(song))
        events = [(e["kind"], e["message"]) for e in store.events() if e["kind"] != "new"]
    finally:
        share.up.set()
        store.close()
    if how == "time limit, share up":
        assert row.state == "unreadable" and events[0][0] == "unreadable"
        return
    assert row.state == "new" and row.file_class is None  # taken in again at the next look over the inbox
    said = CUT_OFF if how == "stopped by the analyzer" else "analysis took over 300 s while its share did not answer"
    assert events == [("error", f"{said}: taken in again once it answers")]
    assert share.blocked == (1 if how == "time limit, share down" else 0)  # the analyzer's word is taken as it is


def test_status_gives_the_room_left_for_a_folder_not_made_yet_but_asks_nothing_of_one_not_answering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(write_config(tmp_path))
    settings.output.rmdir()
    disks = status_data(settings)["disks"]
    assert disks["output"]["present"] is False and disks["output"]["free_bytes"] > 0
    settings.output.mkdir()
    share = Share(settings.output, monkeypatch)
    monkeypatch.setattr(watch, "ANSWER_SECONDS", 0.3)
    share.up.clear()
    try:
        disks = status_data(settings)["disks"]
    finally:
        share.up.set()
    assert disks["output"] == {"path": str(settings.output), "present": None, "free_bytes": None}


def _queued_check(settings, store: Store) -> int:  # type: ignore[no-untyped-def]
    src = settings.inbox_named("music").path / "tabla.flac"
    shutil.copy(DATA / "loop_tabla.flac", src)
    file_id = store.add_file(path=str(src), inbox="music", rel_path="tabla.flac", size=src.stat().st_size, mtime=0,
                             fingerprint="z")
    return store.queue_job(file_id=file_id, pipeline="lossless_check", rule="r", params={}, output_folder="checked",
                           run_when="now", device="cpu")


def test_a_job_held_up_by_its_share_is_put_back_without_counting_the_attempt(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The job's inbox is a share whose server went away while the job read from it: its
    process waits, using no CPU, and would keep its slot until the time limit and then
    count as a failed attempt (failed for good after three). The worker stops it and
    queues it again, the attempt not counted; starts no job for that inbox's files while
    it does not answer; and runs the job once it answers."""
    import subprocess
    import sys

    from nightowl import worker as worker_module
    from nightowl.worker import Worker

    settings = load_settings(write_config(tmp_path))
    store = Store(settings.database)
    job_id = _queued_check(settings, store)
    silent: set[str] = set()
    share_down = threading.Event()
    share_down.set()
    real_popen = subprocess.Popen

    def popen(cmd, **kw):  # type: ignore[no-untyped-def]
        if share_down.is_set():  # the job's read from the share never returns
            cmd = [sys.executable, "-c", "import time; time.sleep(600)"]
        return real_popen(cmd, **kw)

    monkeypatch.setattr(worker_module.subprocess, "Popen", popen)
    monkeypatch.setattr(worker_module, "STUCK_SECONDS", 1.0)
    worker = Worker(settings, gpu_available=False, silent=silent.copy)
    worker.start()
    try:
        wait_until(lambda: store.job(job_id).state == "running", 10)
        silent.add("music")  # the daemon's main thread finds the inbox not answering
        wait_until(lambda: store.job(job_id).state == "queued", 10)
        time.sleep(1.5)  # several rounds of the loop: not started again while the share is silent
        waiting = store.job(job_id)
        share_down.clear()
        silent.discard("music")
        worker.wake()
        wait_until(lambda: store.job(job_id).state == "done", 60)
    finally:
        share_down.clear()
        worker.stop()
    assert waiting.state == "queued" and waiting.attempts == 0
    events = [(e["kind"], e["message"]) for e in store.events() if e["job_id"] == job_id]
    assert [k for k, _ in events] == ["started", "requeued", "started", "done"], events
    requeued = next(m for k, m in events if k == "requeued")
    assert "waiting on inbox music, which does not answer" in requeued and "will run again" in requeued
    assert [m for k, m in events if k == "started"][-1].endswith("(attempt 1)")
    assert (settings.output / "checked" / "tabla.lossless.json").exists()


def test_no_job_starts_while_the_output_folder_does_not_answer(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An output folder on a share whose server went away: the worker's own thread never
    waits on it (the daemon would take the worker for dead and restart), says so once,
    starts nothing, and goes on once it answers."""
    from nightowl.worker import Worker

    settings = load_settings(write_config(tmp_path))
    store = Store(settings.database)
    job_id = _queued_check(settings, store)
    share = Share(settings.output, monkeypatch)
    share.up.clear()
    worker = Worker(settings, gpu_available=False, reach=watch.Reach(timeout=0.3))
    worker.start()
    try:
        wait_until(lambda: worker.output_silent, 10)
        time.sleep(1.5)  # several rounds of the loop
        held = store.job(job_id).state
        alive = worker.alive()
        share.up.set()
        wait_until(lambda: store.job(job_id).state == "done", 60)
    finally:
        share.up.set()
        worker.stop()
    assert held == "queued" and alive
    outputs = [e["message"] for e in store.events() if e["kind"] == "output"]
    assert len(outputs) == 2 and "is not answering" in outputs[0] and "answers again" in outputs[1], outputs
