"""The worker runs jobs in child processes, retries failures with backoff and marks them failed."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from conftest import DATA, wait_until, write_config
from nightowl.config import load_settings
from nightowl.store import Store
from nightowl.worker import Worker


def test_a_job_on_a_bad_input_is_retried_then_failed_and_the_worker_goes_on(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path))
    store = Store(settings.database)
    bad = settings.inboxes[0].path / "broken.flac"
    bad.write_bytes(b"fLaC" + b"\0" * 100)  # a FLAC header and nothing after it
    file_id = store.add_file(path=str(bad), inbox="music", rel_path="broken.flac", size=104, mtime=0, fingerprint="x")
    job_id = store.queue_job(file_id=file_id, pipeline="lossless_check", rule="r", params={}, output_folder="out",
                             run_when="now", device="cpu")
    worker = Worker(settings, gpu_available=False)
    worker.start()
    try:
        wait_until(lambda: store.job(job_id).state == "failed", 60)  # type: ignore[arg-type, union-attr]
    finally:
        worker.stop()
    job = store.job(job_id)  # type: ignore[arg-type]
    assert job is not None and job.attempts == settings.workers.max_attempts
    assert job.error and ("Error" in job.error or "decod" in job.error)
    kinds = [e["kind"] for e in store.events()]
    assert kinds.count("retry") == settings.workers.max_attempts - 1 and kinds[-1] == "failed"
    # nothing half-written in the output tree
    assert not any(p.is_file() for p in settings.output.rglob("*"))


def test_window_jobs_wait_for_the_window(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, window='start = "03:00"\nend = "03:01"\ntimezone = "UTC"'))
    store = Store(settings.database)
    file_id = store.add_file(path="/nope.flac", inbox="music", rel_path="nope.flac", size=1, mtime=0, fingerprint="y")
    job_id = store.queue_job(file_id=file_id, pipeline="lossless_check", rule="r", params={}, output_folder="",
                             run_when="window", device="cpu")
    from datetime import datetime, timezone

    worker = Worker(settings, gpu_available=False, clock=lambda: datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc))
    worker.start()
    time.sleep(1.5)
    worker.stop()
    assert store.job(job_id).state == "queued"  # type: ignore[arg-type, union-attr]


def test_gpu_ids_come_from_the_daemons_own_setting_first() -> None:
    from nightowl.devices import gpu_ids

    assert gpu_ids({"CUDA_VISIBLE_DEVICES": "1, GPU-ab12"}) == ["1", "GPU-ab12"]
    assert gpu_ids({"CUDA_VISIBLE_DEVICES": ""}) == []  # the service was given no GPU


def test_each_gpu_job_gets_the_least_busy_gpu(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    from nightowl import worker as worker_module
    from nightowl.devices import least_busy

    assert least_busy(["a", "b"], ["a"]) == "b" and least_busy(["a", "b"], ["a", "b"]) == "a"
    assert least_busy([], []) is None
    settings = load_settings(write_config(tmp_path))
    settings.workers.gpu_slots = 2
    store = Store(settings.database)
    jobs = []
    for n in range(3):
        missing = tmp_path / f"nope{n}.flac"  # the jobs fail at once: only their start matters here
        file_id = store.add_file(path=str(missing), inbox="music", rel_path=missing.name, size=1, mtime=0,
                                 fingerprint=f"g{n}")
        jobs.append(store.queue_job(file_id=file_id, pipeline="restore", rule="r", params={}, output_folder="",
                                    run_when="now", device="gpu"))
    given: list[str | None] = []
    real_popen = subprocess.Popen

    def popen(cmd, env=None, **kw):  # type: ignore[no-untyped-def]
        given.append(env.get("CUDA_VISIBLE_DEVICES"))
        return real_popen(cmd, env=env, **kw)

    monkeypatch.setattr(worker_module, "gpu_ids", lambda: ["GPU-a", "GPU-b"])
    monkeypatch.setattr(worker_module.subprocess, "Popen", popen)
    worker = Worker(settings, gpu_available=True)
    worker.start()
    try:
        wait_until(lambda: len(given) >= 3, 60)
    finally:
        worker.stop()
    assert sorted(given[:2]) == ["GPU-a", "GPU-b"]  # two at once: one on each GPU
    assert given[2] in ("GPU-a", "GPU-b")
    started = [e["message"] for e in store.events() if e["kind"] == "started"]
    assert any("on GPU 0" in m for m in started) and any("on GPU 1" in m for m in started)


def test_no_job_starts_while_the_output_folder_is_missing(tmp_path: Path) -> None:
    """An output folder on a share that is not mounted: the worker holds the queue (a
    job would fail, or write into the folder under the mount point), says so once, and
    goes on when the folder is back."""
    settings = load_settings(write_config(tmp_path))
    store = Store(settings.database)
    src = settings.inboxes[0].path / "tabla.flac"
    shutil.copy(DATA / "loop_tabla.flac", src)
    file_id = store.add_file(path=str(src), inbox="music", rel_path="tabla.flac", size=src.stat().st_size, mtime=0,
                             fingerprint="z")
    job_id = store.queue_job(file_id=file_id, pipeline="lossless_check", rule="r", params={}, output_folder="checked",
                             run_when="now", device="cpu")
    settings.output.rmdir()
    worker = Worker(settings, gpu_available=False)
    worker.start()
    try:
        wait_until(lambda: worker.output_missing, 10)
        time.sleep(1.0)  # several rounds of the loop
        assert store.job(job_id).state == "queued" and not settings.output.exists()  # type: ignore[union-attr]
        settings.output.mkdir()
        worker.wake()
        wait_until(lambda: store.job(job_id).state == "done", 60)  # type: ignore[union-attr]
    finally:
        worker.stop()
    outputs = [e["message"] for e in store.events() if e["kind"] == "output"]
    assert len(outputs) == 2 and "is missing (a share not mounted?)" in outputs[0] and "is back" in outputs[1]
    assert (settings.output / "checked" / "tabla.lossless.json").exists()
