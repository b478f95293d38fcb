"""The job loop: claims jobs, runs each in a child process, enforces slots, window, timeouts, retries.

A network share that stops answering (an NFS hard mount whose server is down blocks
whoever touches it until the server is back) holds up no job but its own: the output
folder is asked after through `Reach` (never waited on here), no job starts for a
file whose inbox does not answer, and a running one that waits on such a share (it
has used no CPU for STUCK_SECONDS) is stopped and queued again without counting the
attempt: it runs once the share answers, and never ends up failed for it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .config import Settings
from .devices import gpu_ids, least_busy
from .eventlog import record
from .schedule import in_window
from .store import Job, Store, disk_full
from .watch import Reach

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# a job whose share does not answer and whose process has used no CPU this long is
# waiting on the share: stopped, its slot goes to other work
STUCK_SECONDS = 30.0
# how long the worker waits for a killed job's process to go
KILL_WAIT_SECONDS = 10.0


def cpu_ticks(pid: int) -> int | None:
    """CPU time a process and its reaped children have used, in clock ticks (None: gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime


def _child_setup() -> None:
    """In the job's child: die with the daemon (no orphan finishing a requeued job), run politely."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    os.nice(10)


@dataclass
class Running:
    job: Job
    proc: subprocess.Popen[bytes]
    deadline: float
    path: str
    gpu: str | None = None  # the CUDA_VISIBLE_DEVICES a GPU job was given
    inbox: str | None = None  # its file's
    ticks: int | None = None  # CPU time used at the last look (see STUCK_SECONDS)
    still_since: float = 0.0  # when that last changed


class Worker:
    """Runs in its own thread with its own database connection."""

    def __init__(
        self,
        settings: Settings,
        gpu_available: bool,
        clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        reach: Reach | None = None,
        silent: Callable[[], set[str]] = set,
    ) -> None:
        self.settings = settings
        self.reach = reach or Reach()
        self.silent = silent  # the inboxes not answering now (service.Daemon keeps watch)
        self.gpu_available = gpu_available
        # with several GPUs, each GPU job gets the least busy one to itself
        self.gpus = gpu_ids() if gpu_available else []
        self.clock = clock
        self.running: dict[int, Running] = {}
        self.heartbeat = time.monotonic()
        self._wake = threading.Event()
        self._draining = threading.Event()
        self.output_missing = False  # the output folder is gone (see _output_there)
        self.output_silent = False  # ... or does not answer
        self._thread = threading.Thread(target=self._loop, name="worker", daemon=True)
        self.store: Store | None = None

    # -- control from other threads --------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming; running jobs may finish until the stop timeout, then are requeued."""
        self._draining.set()
        self._wake.set()
        self._thread.join()

    def alive(self) -> bool:
        # healthy: thread running and the loop went round recently
        return self._thread.is_alive() and time.monotonic() - self.heartbeat < 30

    def window_open(self) -> bool:
        return in_window(self.settings.window, self.clock())

    # -- the loop ------------------------------------------------------------

    def _loop(self) -> None:
        self.store = Store(self.settings.database)
        try:
            while not self._draining.is_set():
                self.heartbeat = time.monotonic()
                try:
                    self._reap()
                    self._claim()
                except Exception as exc:  # keep working: log, back off, go on
                    if disk_full(exc):  # one line, not a traceback every few seconds, until there is room
                        # (under alive()'s 30 s, so the watchdog does not take the wait for a hang)
                        log.warning("worker: cannot write the state database (%s): trying again in 20 s", exc)
                        self._draining.wait(20)
                    else:
                        log.exception("worker loop error")
                        time.sleep(2)
                self._wake.wait(self.settings.workers.poll_seconds)
                self._wake.clear()
            self._drain()
        finally:
            self.store.close()

    def _free_slots(self) -> list[str]:
        cpu = sum(1 for r in self.running.values() if r.job.device == "cpu")
        gpu = sum(1 for r in self.running.values() if r.job.device == "gpu")
        devices = []
        if cpu < self.settings.workers.cpu_jobs:
            devices.append("cpu")
        if self.gpu_available and gpu < self.settings.workers.gpu_slots:
            devices.append("gpu")
        return devices

    def _output_there(self) -> bool:
        """Whether the output folder is there; said once when it goes and when it is back.
        Jobs are not started without it: they would fail (a share not mounted), or worse,
        fill the disk under the mount point with folders nobody sees once it is mounted.
        Nor while it does not answer (see Reach)."""
        assert self.store is not None
        answer = self.reach(self.settings.output)
        if (answer is None) != self.output_silent:
            self.output_silent = answer is None
            if self.output_silent:
                record(self.store, "output", f"the output folder {self.settings.output} is not answering (a network"
                       " share whose server is down?): no job starts until it answers", level="warning")
            else:
                record(self.store, "output", f"the output folder {self.settings.output} answers again: jobs go on")
        if answer is None:
            return False
        there = answer  # a folder this process can read: True, or False where missing
        if there == self.output_missing:
            self.output_missing = not there
            if there:
                record(self.store, "output", f"the output folder {self.settings.output} is back: jobs go on")
            else:
                record(self.store, "output", f"the output folder {self.settings.output} is missing (a share not "
                       "mounted?): no job starts until it is back (make it again if it was removed on purpose)",
                       level="warning")
        return there

    def _claim(self) -> None:
        assert self.store is not None
        if not self._output_there():
            return
        while not self._draining.is_set():
            devices = self._free_slots()
            # "inside the window?" is asked again before every claim
            job = self.store.claim(
                devices=devices,
                window_open=self.window_open(),
                lease_seconds=self.settings.workers.job_timeout_minutes * 60,
                pid=os.getpid(),
                except_inboxes=sorted(self.silent()),  # their files would only wait on the share
            )
            if job is None:
                return
            self._spawn(job)

    def _spawn(self, job: Job) -> None:
        assert self.store is not None
        file = self.store.file(job.file_id)
        path = file.path if file else "?"
        cmd = [sys.executable, "-m", "nightowl.jobrun", str(self.settings.database), str(job.id),
               str(self.settings.output), str(self.settings.models_folder)]
        env = dict(os.environ)
        token = self.settings.hub_token()
        if token:
            env["HF_TOKEN"] = token
        gpu = None
        if job.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        else:
            gpu = least_busy(self.gpus, [r.gpu for r in self.running.values() if r.gpu is not None])
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpu
        proc = subprocess.Popen(cmd, env=env, preexec_fn=_child_setup, start_new_session=True,
                                stdin=subprocess.DEVNULL)
        now = time.monotonic()
        deadline = now + self.settings.workers.job_timeout_minutes * 60
        self.running[job.id] = Running(job, proc, deadline, path, gpu, file.inbox if file else None,
                                       still_since=now)
        on = ""
        if gpu is not None and len(self.gpus) > 1:  # UUIDs are listed in nvidia-smi's order
            on = f" on GPU {self.gpus.index(gpu) if gpu.startswith('GPU-') else gpu}"
        record(self.store, "started", f"job {job.id}: {job.pipeline} started{on} (attempt {job.attempts})",
               path=path, file_id=job.file_id, job_id=job.id)

    def _reap(self) -> None:
        assert self.store is not None
        for job_id, run in list(self.running.items()):
            code = run.proc.poll()
            if code is None:
                share = self._silent_share(run)
                if share is not None and (self._stuck(run) or time.monotonic() > run.deadline):
                    self._put_back(run, share)
                elif time.monotonic() > run.deadline:
                    self._kill(run)
                    self._failed(run, f"timed out after {self.settings.workers.job_timeout_minutes:g} minutes")
                continue
            del self.running[job_id]
            if code == 0:
                job = self.store.job(job_id)
                outputs = ", ".join(Path(p).name for p in (job.outputs if job else []))
                if self.store.finish_job(job_id, run.job.fingerprint) == "replaced":
                    record(self.store, "queued", f"job {job_id}: {run.job.pipeline} done ({outputs}), but the file"
                           " was replaced while it ran: queued again for its new content",
                           path=run.path, file_id=run.job.file_id, job_id=job_id)
                    continue
                record(self.store, "done", f"job {job_id}: {run.job.pipeline} done ({outputs})",
                       path=run.path, file_id=run.job.file_id, job_id=job_id)
            else:
                job = self.store.job(job_id)
                reason = (job.error if job and job.error else None) or f"the job's process exited with code {code}"
                self._failed(run, reason)

    def _silent_share(self, run: Running) -> str | None:
        """Which of the job's folders does not answer: its file's inbox, or the output."""
        if run.inbox is not None and run.inbox in self.silent():
            return f"inbox {run.inbox}"
        return "the output folder" if self.output_silent else None

    @staticmethod
    def _stuck(run: Running) -> bool:
        """The job's process has used no CPU for STUCK_SECONDS."""
        ticks, now = cpu_ticks(run.proc.pid), time.monotonic()
        if ticks != run.ticks:
            run.ticks, run.still_since = ticks, now
        return now - run.still_since >= STUCK_SECONDS

    def _put_back(self, run: Running, share: str) -> None:
        """Stop a job held up by a share that does not answer and queue it again, the
        attempt not counted: it starts again once the share answers (see _claim)."""
        assert self.store is not None
        self._kill(run)
        self.running.pop(run.job.id, None)
        self.store.release_job(run.job.id)
        record(self.store, "requeued", f"job {run.job.id}: stopped while waiting on {share}, which does not answer"
               " (a network share whose server is down?): will run again once it answers", level="warning",
               path=run.path, file_id=run.job.file_id, job_id=run.job.id)

    def _failed(self, run: Running, error: str) -> None:
        assert self.store is not None
        self.running.pop(run.job.id, None)
        w = self.settings.workers
        state = self.store.fail_job(run.job.id, error, max_attempts=w.max_attempts,
                                    backoff_seconds=w.retry_backoff_seconds, ran_for=run.job.fingerprint)
        then = "gave up: marked failed" if state == "failed" else "will retry"
        if state == "replaced":
            then = "the file was replaced while it ran: queued again for its new content"
        record(self.store, "failed" if state == "failed" else "retry", f"job {run.job.id}: {error} ({then})",
               level="error", path=run.path, file_id=run.job.file_id, job_id=run.job.id)

    @staticmethod
    def _kill(run: Running) -> None:
        try:
            os.killpg(run.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            run.proc.wait(timeout=KILL_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            # a wait on some network filesystems cannot be broken off: the process goes once
            # its read returns; the worker does not wait with it (the daemon would seem dead)
            log.warning("job %d: its process %d is not gone yet (stuck in a read?): left to end by itself",
                        run.job.id, run.proc.pid)

    def _drain(self) -> None:
        """Let running jobs finish until the stop timeout; requeue the rest without counting the attempt."""
        assert self.store is not None
        deadline = time.monotonic() + self.settings.workers.stop_timeout_seconds
        while self.running and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.2)
        for run in list(self.running.values()):
            self._kill(run)
            self.store.release_job(run.job.id)
            record(self.store, "requeued", f"job {run.job.id}: stopped at shutdown, will run again",
                   level="warning", path=run.path, file_id=run.job.file_id, job_id=run.job.id)
        self.running.clear()
