"""When the disks fail nightowl: a full state disk, an output folder on a share not mounted.
Said plainly, no file lost, nothing written where it would vanish, work resumes by itself."""

from __future__ import annotations

import errno
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import wait_until, write_config
from nightowl import service
from nightowl.cli import main
from nightowl.config import load_settings
from nightowl.rules import load_rules
from nightowl.store import Store, disk_full


def _full_error(tmp_path: Path) -> sqlite3.OperationalError:
    """SQLite's own error for a database that cannot grow (a page limit stands in for the disk)."""
    db = sqlite3.connect(tmp_path / "small.db")
    db.execute("PRAGMA max_page_count = 3")
    db.execute("CREATE TABLE t (x TEXT)")
    try:
        for _ in range(100):
            db.execute("INSERT INTO t VALUES (?)", ("x" * 2000,))
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        db.close()
    raise AssertionError("the page limit never filled")


def test_a_full_disk_is_told_from_other_errors(tmp_path: Path) -> None:
    assert disk_full(_full_error(tmp_path))
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not disk_full(sqlite3.OperationalError("no such table: jobs"))
    assert not disk_full(OSError(errno.EACCES, "Permission denied"))



def test_intake_pauses_while_the_state_disk_is_full_and_loses_no_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(write_config(tmp_path, settle=0.2))
    full = _full_error(tmp_path)
    calls: list[Path] = []
    real_handle = service.Intake.handle

    def handle(self, path, inbox):  # type: ignore[no-untyped-def]
        calls.append(path)
        if len(calls) == 1:
            raise full  # the first try finds the disk full
        return real_handle(self, path, inbox)

    monkeypatch.setattr(service.Intake, "handle", handle)
    monkeypatch.setattr(service, "FULL_DISK_PAUSE", 0.5)
    daemon = service.Daemon(settings, load_rules(settings.rules))
    inbox = settings.inboxes[0]
    note = inbox.path / "lineage.txt"
    note.write_text("Source: AUD\n")
    store = Store(settings.database)  # migrations first, as `run` does
    lane = daemon.lanes[inbox.name]
    lane.thread.start()  # its first rescan finds the note; it settles, and the disk is full
    try:
        wait_until(lambda: daemon.state_disk_full)
        assert "STATE DISK FULL" in daemon.status_line(store)
        assert store.file_by_path(str(note)) is None and len(daemon.settler) == 1  # kept: settling again
        wait_until(lambda: store.file_by_path(str(note)) is not None)  # it comes back once there is room
        assert not daemon.state_disk_full and calls == [note, note]
    finally:
        store.close()
        daemon.stop_requested.set()
        lane.thread.join(timeout=10)
        daemon.analyzer.close()


def test_run_on_a_full_state_disk_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = _full_error(tmp_path)

    def no_room(*_: object) -> None:
        raise full

    monkeypatch.setattr(service, "Store", no_room)
    result = CliRunner().invoke(main, ["--config", str(write_config(tmp_path)), "run"])
    assert result.exit_code == 1
    assert "cannot write its database in" in result.output and "the disk is full" in result.output
    assert "Traceback" not in result.output


def test_the_worker_waits_for_room_without_a_traceback_each_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    from nightowl.worker import Worker

    settings = load_settings(write_config(tmp_path))
    full = _full_error(tmp_path)
    tries: list[float] = []

    def claim(self) -> None:  # type: ignore[no-untyped-def]
        tries.append(time.monotonic())
        raise full

    monkeypatch.setattr(Worker, "_claim", claim)
    worker = Worker(settings, gpu_available=False)
    worker.start()
    try:
        wait_until(lambda: bool(tries))
        time.sleep(0.5)  # a loop that did not wait would have tried again several times by now
        assert len(tries) == 1 and worker.alive()
    finally:
        worker.stop()
    assert "cannot write the state database" in caplog.text and "worker loop error" not in caplog.text


def test_the_daemon_does_not_make_a_missing_output_folder_it_wrote_to_before(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path))
    daemon = service.Daemon(settings, load_rules(settings.rules))
    store = Store(settings.database)
    try:
        settings.output.rmdir()
        daemon.prepare_output(store)  # the first start: made
        assert settings.output.is_dir()
        file_id = store.add_file(path="/a.flac", inbox="music", rel_path="a.flac", size=1, mtime=0, fingerprint="f")
        job_id = store.queue_job(file_id=file_id, pipeline="lossless_check", rule="r", params={}, output_folder="",
                                 run_when="now", device="cpu")
        store.db.execute("UPDATE jobs SET state = 'done' WHERE id = ?", [job_id])
        settings.output.rmdir()  # the share is not mounted at this start
        daemon.prepare_output(store)
        assert not settings.output.exists()
        [event] = [e for e in store.events() if e["kind"] == "output"]
        assert "is missing (a share not mounted?): not made again" in event["message"]
        daemon.worker.start()  # said once at start: the worker does not say it again, only that it is back
        try:
            time.sleep(1.0)
            assert len([e for e in store.events() if e["kind"] == "output"]) == 1
            settings.output.mkdir()
            wait_until(lambda: len([e for e in store.events() if e["kind"] == "output"]) == 2)
            assert "is back" in [e for e in store.events() if e["kind"] == "output"][-1]["message"]
        finally:
            daemon.worker.stop()
    finally:
        store.close()
        daemon.analyzer.close()


def test_a_job_never_makes_the_output_folder_again(tmp_path: Path) -> None:
    """The share went away while the job ran: it fails (and is tried again later) rather
    than writing under the mount point."""
    from nightowl.outputs import OutputError
    from nightowl.pipelines.context import JobContext

    ctx = JobContext(input=tmp_path / "a.flac", rel_path="Album/a.flac", output_root=tmp_path / "share",
                     output_folder="checked", params={}, fingerprint="f", make_output_root=False)  # as jobrun makes it
    with pytest.raises(OutputError, match="is missing"):
        ctx.output_path(".lossless.json")
    assert not (tmp_path / "share").exists()
    (tmp_path / "share").mkdir()
    assert ctx.output_path(".lossless.json") == (tmp_path / "share" / "checked" / "Album" / "a.lossless.json")


def test_a_daemon_job_whose_output_folder_is_gone_fails_with_that_reason(tmp_path: Path) -> None:
    from conftest import DATA
    from nightowl.jobrun import run_job

    settings = load_settings(write_config(tmp_path))
    store = Store(settings.database)
    try:
        src = settings.inboxes[0].path / "tabla.flac"
        src.write_bytes((DATA / "loop_tabla.flac").read_bytes())
        file_id = store.add_file(path=str(src), inbox="music", rel_path="tabla.flac", size=src.stat().st_size,
                                 mtime=0, fingerprint="t")
        job_id = store.queue_job(file_id=file_id, pipeline="lossless_check", rule="r", params={},
                                 output_folder="checked", run_when="now", device="cpu")
        settings.output.rmdir()
        assert not run_job(store, job_id, settings.output)
        job = store.job(job_id)
        assert job is not None and job.error and "output folder" in job.error and "is missing" in job.error
        assert not settings.output.exists()
    finally:
        store.close()


def test_daemon_jobs_of_two_inputs_of_one_name_keep_both_outputs(tmp_path: Path) -> None:
    """A folder holding song.flac and song.wav, both checked: neither report overwrites the other."""
    import json

    import soundfile as sf

    from conftest import DATA
    from nightowl.jobrun import run_job

    settings = load_settings(write_config(tmp_path))
    store = Store(settings.database)
    try:
        folder = settings.inboxes[0].path / "Album"
        folder.mkdir()
        flac, wav = folder / "song.flac", folder / "song.wav"
        flac.write_bytes((DATA / "loop_tabla.flac").read_bytes())
        sf.write(wav, sf.read(flac, dtype="int16")[0][: 44100 * 3], 44100, subtype="PCM_16")
        jobs = []
        for src in (flac, wav):
            file_id = store.add_file(path=str(src), inbox="music", rel_path=f"Album/{src.name}",
                                     size=src.stat().st_size, mtime=0, fingerprint=src.suffix)
            jobs.append(store.queue_job(file_id=file_id, pipeline="lossless_check", rule="r",
                                        params={"spectrogram_seconds": 5}, output_folder="checked",
                                        run_when="now", device="cpu"))
        for job_id in jobs:
            assert run_job(store, job_id, settings.output)
        checked = settings.output / "checked" / "Album"
        assert sorted(p.name for p in checked.iterdir()) == [
            "song (wav).lossless.json", "song (wav).spectrogram.png", "song.lossless.json", "song.spectrogram.png"]
        for name, src in (("song", flac), ("song (wav)", wav)):
            assert json.loads((checked / f"{name}.lossless.json").read_text())["job"]["input"] == str(src)
    finally:
        store.close()
