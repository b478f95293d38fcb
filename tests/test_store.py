from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlite_utils import Database

from nightowl.store import MIGRATIONS, Store


def _file(store: Store, name: str = "a.flac", fp: str = "f1") -> int:
    return store.add_file(path=f"/in/{name}", inbox="music", rel_path=name, size=10, mtime=1.0, fingerprint=fp)


def _job(store: Store, file_id: int, **kw: object) -> int | None:
    args = dict(file_id=file_id, pipeline="lossless_check", rule="r", params={"a": 1}, output_folder="x",
                run_when="now", device="cpu")
    args.update(kw)
    return store.queue_job(**args)  # type: ignore[arg-type]


def test_database_is_wal_and_migrated(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.db.journal_mode == "wal"
    assert {"files", "jobs", "events"} <= set(store.db.table_names())
    assert [m.name for m in MIGRATIONS.applied(store.db)] == ["m001_initial", "m002_labels", "m003_models",
                                                            "m004_job_content", "m005_companions", "m006_daemon",
                                                            "m007_output_names"]


def test_an_older_database_is_upgraded_on_open(tmp_path: Path) -> None:
    db = Database(sqlite3.connect(str(tmp_path / "s.db")))
    MIGRATIONS.ensure_migrations_table(db)  # a database from before any migration ran
    db.close()
    store = Store(tmp_path / "s.db")
    assert MIGRATIONS.pending(store.db) == []
    assert "jobs" in store.db.table_names()


def test_same_file_pipeline_and_params_is_never_queued_twice(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    f = _file(store)
    assert _job(store, f) is not None
    assert _job(store, f) is None
    assert _job(store, f, params={"a": 2}) is not None


def test_a_file_replaced_by_other_content_is_processed_again(tmp_path: Path) -> None:
    """Jobs are per content: the same path with new content (a re-rip, the rest of a copy
    that had stalled) gets its jobs again, whatever became of the old ones."""
    store = Store(tmp_path / "s.db")
    f = _file(store, fp="old")
    job_id = _job(store, f)
    assert job_id is not None and store.job(job_id).fingerprint == "old"  # type: ignore[union-attr]
    claimed = store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    assert claimed is not None and claimed.fingerprint == "old"
    assert store.finish_job(job_id, claimed.fingerprint) == "done"
    assert _job(store, f) is None  # done for this content
    store.replace_file_content(f, size=11, mtime=2.0, fingerprint="new")
    assert _job(store, f) == job_id  # the same row, queued for the new content
    job = store.job(job_id)
    assert job is not None and (job.state, job.fingerprint, job.attempts, job.outputs) == ("queued", "new", 0, [])
    # replaced again while it runs: marked for the newest content, queued again when it ends
    claimed = store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    assert claimed is not None
    store.replace_file_content(f, size=12, mtime=3.0, fingerprint="newest")
    assert _job(store, f) is None and store.job(job_id).state == "running"  # type: ignore[union-attr]
    assert store.finish_job(job_id, claimed.fingerprint) == "replaced"
    job = store.job(job_id)
    assert job is not None and (job.state, job.fingerprint) == ("queued", "newest")
    claimed = store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    assert claimed is not None and store.finish_job(job_id, claimed.fingerprint) == "done"


def test_a_cancelled_job_can_be_queued_again(tmp_path: Path) -> None:
    """A label sends a file elsewhere (its queued jobs cancelled); labelled back, they return."""
    store = Store(tmp_path / "s.db")
    f = _file(store)
    job_id = _job(store, f)
    assert store.cancel_queued(f, keep=[]) == [job_id]
    assert _job(store, f) == job_id and store.job(job_id).state == "queued"  # type: ignore[union-attr]


def test_jobs_of_an_older_database_keep_their_files_content(tmp_path: Path) -> None:
    db = Database(sqlite3.connect(str(tmp_path / "s.db")))
    MIGRATIONS.apply(db, stop_before="m004_job_content")  # the database as the previous version left it
    db.execute("INSERT INTO files (path, inbox, rel_path, size, mtime, fingerprint, first_seen, last_seen)"
               " VALUES ('/in/a.flac', 'music', 'a.flac', 1, 1, 'fp-a', 0, 0)")
    db.execute("INSERT INTO jobs (file_id, pipeline, rule, state, created) VALUES (1, 'restore', 'r', 'done', 0)")
    db.conn.commit()
    db.close()
    store = Store(tmp_path / "s.db")
    assert [j.fingerprint for j in store.jobs_for_file(1)] == ["fp-a"]
    assert store.queue_job(file_id=1, pipeline="restore", rule="r", params={}, output_folder="", run_when="now",
                           device="cpu") is None  # done for that content


def _named(store: Store, path: str, inbox: str = "music", folder: str = "restored", **kw: object) -> str | None:
    rel = path.split("/", 1)[1] if inbox != "music" else path
    existing = store.file_by_path(f"/{inbox}/{path}")
    f = existing.id if existing else store.add_file(path=f"/{inbox}/{path}", inbox=inbox, rel_path=rel, size=10,
                                                    mtime=1.0, fingerprint=f"fp-{inbox}-{path}")
    job_id = _job(store, f, output_folder=folder, **kw)
    assert job_id is not None
    return store.job(job_id).output_name  # type: ignore[union-attr]


def test_two_inputs_never_get_outputs_of_one_name(tmp_path: Path) -> None:
    """song.mp3 beside song.m4a would both be restored to song.flac: the second input's
    outputs take its extension in brackets, for good (its retries and its other jobs too)."""
    store = Store(tmp_path / "s.db")
    assert _named(store, "Album/song.mp3") == "song"
    assert _named(store, "Album/song.m4a") == "song (m4a)"
    assert _named(store, "Album/SONG.flac") == "SONG (flac)"  # one name on a case-insensitive share
    assert _named(store, "Album/song.m4a", params={"a": 2}) == "song (m4a)"  # the same input's other job
    assert _named(store, "Album/song.mp3", folder="lossless-check", params={"a": 3}) == "song"  # no clash
    assert _named(store, "Other/song.m4a") == "song"  # another album
    # the same path in a second inbox (rel_path "Album/song.mp3"): its outputs would land on the first's
    assert _named(store, "downloads/Album/song.mp3", inbox="downloads") == "song (mp3)"


def test_an_input_replaced_at_its_path_keeps_its_outputs_name(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _named(store, "Album/song.mp3")
    assert _named(store, "Album/song.m4a") == "song (m4a)"
    f = store.file_by_path("/music/Album/song.m4a")
    assert f is not None
    job_id = store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1).id  # type: ignore[union-attr]
    store.finish_job(job_id)
    job_id = store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1).id  # type: ignore[union-attr]
    store.finish_job(job_id)
    store.replace_file_content(f.id, size=11, mtime=2.0, fingerprint="new")  # a re-rip at the same path
    job_id = _job(store, f.id, output_folder="restored")
    assert job_id is not None and store.job(job_id).output_name == "song (m4a)"  # type: ignore[union-attr]


def test_jobs_of_an_older_database_keep_their_outputs_names(tmp_path: Path) -> None:
    db = Database(sqlite3.connect(str(tmp_path / "s.db")))
    MIGRATIONS.apply(db, stop_before="m007_output_names")
    db.execute("INSERT INTO files (path, inbox, rel_path, size, mtime, fingerprint, first_seen, last_seen)"
               " VALUES ('/in/A/song.mp3', 'music', 'A/song.mp3', 1, 1, 'fp-a', 0, 0)")
    db.execute("INSERT INTO jobs (file_id, pipeline, rule, state, output_folder, created)"
               " VALUES (1, 'restore', 'r', 'done', 'restored', 0)")
    db.conn.commit()
    db.close()
    store = Store(tmp_path / "s.db")
    assert [j.output_name for j in store.jobs_for_file(1)] == ["song"]
    f = store.add_file(path="/in/A/song.ogg", inbox="music", rel_path="A/song.ogg", size=1, mtime=1, fingerprint="b")
    job_id = store.queue_job(file_id=f, pipeline="restore", rule="r", params={}, output_folder="restored",
                             run_when="now", device="cpu")
    assert job_id is not None and store.job(job_id).output_name == "song (ogg)"  # type: ignore[union-attr]


def test_companions_recorded_as_unreadable_by_an_older_version_become_not_audio(tmp_path: Path) -> None:
    db = Database(sqlite3.connect(str(tmp_path / "s.db")))
    MIGRATIONS.apply(db, stop_before="m005_companions")
    for i, name in enumerate(["show.txt", "cover.JPG", "notes.flac"]):
        db.execute("INSERT INTO files (path, inbox, rel_path, size, mtime, fingerprint, state, error, class,"
                   " first_seen, last_seen) VALUES (?, 'music', ?, 1, 1, ?, 'unreadable', 'Invalid data', 'unknown',"
                   " 0, 0)", [f"/in/{name}", name, f"fp{i}"])
    db.conn.commit()
    db.close()
    store = Store(tmp_path / "s.db")
    assert {Path(f.path).name: f.state for f in (store.file(i) for i in (1, 2, 3)) if f} == {
        "show.txt": "not_audio", "cover.JPG": "not_audio", "notes.flac": "unreadable"}


def test_claim_is_atomic_across_threads(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for i in range(300):
        _job(store, _file(store, f"{i}.flac", f"fp{i}"))
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        s = Store(tmp_path / "s.db")
        while (job := s.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)) is not None:
            with lock:
                claimed.append(job.id)
        s.close()

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 300 == len(set(claimed))


def test_window_jobs_are_claimed_only_when_the_window_is_open(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _job(store, _file(store), run_when="window")
    assert store.claim(devices=["cpu"], window_open=False, lease_seconds=60, pid=1) is None
    assert store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1) is not None


def test_gpu_jobs_need_a_gpu_slot(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _job(store, _file(store), device="gpu")
    assert store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1) is None
    assert store.claim(devices=["gpu"], window_open=True, lease_seconds=60, pid=1) is not None


def test_crashed_running_jobs_are_requeued_then_failed_after_max_attempts(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    job_id = _job(store, _file(store))
    for attempt in (1, 2):
        job = store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
        assert job is not None and job.attempts == attempt
        assert store.recover_interrupted(max_attempts=3) == ([job_id], [])
    store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    assert store.recover_interrupted(max_attempts=3) == ([], [job_id])
    job = store.job(job_id)  # type: ignore[arg-type]
    assert job is not None and job.state == "failed" and "interrupted 3 times" in (job.error or "")


def test_failed_attempts_back_off_then_fail_with_the_last_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    job_id = _job(store, _file(store))
    assert job_id is not None
    store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    assert store.fail_job(job_id, "boom 1", max_attempts=2, backoff_seconds=3600) == "queued"
    # backing off: not claimable yet
    assert store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1) is None
    store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1, now=9e12)
    assert store.fail_job(job_id, "boom 2", max_attempts=2, backoff_seconds=3600) == "failed"
    failed = store.jobs_in_state("failed")
    assert failed[0][0].error == "boom 2"
    assert store.retry_job(job_id) and store.job(job_id).state == "queued"  # type: ignore[union-attr]


def test_events_keep_order_and_limit_returns_the_latest(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for i in range(10):
        store.add_event("k", f"m{i}")
    assert [e["message"] for e in store.events(limit=3)] == ["m7", "m8", "m9"]
    assert [e["message"] for e in store.events(after_id=8)] == ["m8", "m9"]


def test_the_status_lines_counts_come_from_the_claim_index(tmp_path: Path) -> None:
    """Queued, running and failed jobs, counted without reading the jobs that are done
    (the service asks every few seconds; a library has as many done jobs as files)."""
    store = Store(tmp_path / "s.db")
    assert store.active_job_counts() == {"queued": 0, "running": 0, "failed": 0}
    ids = [_job(store, _file(store, f"{n}.flac", f"f{n}")) for n in range(5)]
    store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    failing = store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    assert failing is not None and ids[1] == failing.id
    store.fail_job(failing.id, "boom", max_attempts=1, backoff_seconds=0)
    done = store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    assert done is not None and store.finish_job(done.id) == "done"
    counts = store.active_job_counts()
    assert counts == {"queued": 2, "running": 1, "failed": 1}
    by_pipeline = store.job_counts()["lossless_check"]
    assert all(by_pipeline.get(state, 0) == n for state, n in counts.items())
    asked: list[str] = []
    store.db.conn.set_trace_callback(asked.append)
    store.active_job_counts()
    store.db.conn.set_trace_callback(None)
    plan = " ".join(r[3] for sql in asked for r in store.db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
    assert "COVERING INDEX jobs_claim" in plan and "SCAN" not in plan, plan
