"""`nightowl run`: wires watcher, settler, intake, worker and scheduler; speaks sd_notify; stops gracefully."""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from pathlib import Path

from . import __version__
from .analyzer import Analyzer
from .companions import companion_kind
from .config import Inbox, Settings
from .devices import use_gpu
from .eventlog import record
from .intake import Intake
from .notify import notify, watchdog_interval
from .rules import Rule
from .schedule import in_window, next_window, start_scheduler
from .store import Store, disk_full
from .watch import Settler, Watcher, ignored, reconcile

log = logging.getLogger(__name__)

HEALTH_SECONDS = 5.0
HEARTBEAT_SECONDS = 30.0  # how often the daemon row says "still here" (nightowl status)
# while the state database's disk is full, intake waits this long between tries: the
# file is kept (settling again), nothing is lost, and intake resumes once there is room
FULL_DISK_PAUSE = 30.0


class Daemon:
    def __init__(self, settings: Settings, rules: list[tuple[Rule, str]]) -> None:
        self.settings = settings
        self.rules = rules
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self._intake: Intake | None = None
        self.settler = Settler(settings.settle_seconds)
        self.analyzer = Analyzer(settings.class_options())
        self.settled: queue.Queue[tuple[Path, Inbox] | None] = queue.Queue()
        self.gpu = use_gpu(settings.device)
        from .worker import Worker

        self.worker = Worker(settings, self.gpu)
        self.watcher = Watcher(settings.inboxes, self._on_path)
        self._intake_thread = threading.Thread(target=self._intake_loop, name="intake", daemon=True)
        self._problems: set[str] = set()
        self.state_disk_full = False  # set by intake while the database cannot grow

    # -- events from watchdog threads ----------------------------------------------

    def _on_path(self, path: Path, inbox: Inbox) -> None:
        try:
            rel = path.relative_to(inbox.path).as_posix()
        except ValueError:
            return
        if ignored(rel, self.settings.ignore):
            return
        self.settler.touch(path, inbox)
        if companion_kind(path) is None:  # cover art and lineage texts are never analysed
            self.analyzer.warm_up()

    # -- intake thread -------------------------------------------------------------

    def _intake_loop(self) -> None:
        store = Store(self.settings.database)
        intake = Intake(self.settings, store, self.rules, self.analyzer.analyse, self.gpu, self.worker.wake)
        self._intake = intake
        try:
            while True:
                item = self.settled.get()
                if item is None:
                    return
                path, inbox = item
                try:
                    intake.handle(path, inbox)
                except Exception as exc:  # one bad file never stops intake
                    if disk_full(exc):
                        self._wait_for_room(path, inbox, exc)
                        continue
                    log.exception("intake failed for %s", path)
                    try:
                        record(store, "error", f"intake failed: {exc}", level="error", path=str(path))
                    except Exception:  # noqa: BLE001 - the log above has it; intake goes on
                        log.exception("could not record the failure")
                else:
                    if self.state_disk_full:
                        self.state_disk_full = False
                        log.warning("the state database can be written again: intake goes on")
        finally:
            store.close()

    def _wait_for_room(self, path: Path, inbox: Inbox, exc: BaseException) -> None:
        """The state database's disk is full: say so once, keep the file (it settles
        again and comes back) and pause before the next try."""
        if not self.state_disk_full:
            self.state_disk_full = True
            log.error("cannot write the state database in %s (%s): free some space there; intake pauses and "
                      "tries again every %.0f s, no file is lost", self.settings.state_dir, exc, FULL_DISK_PAUSE)
        self.settler.touch(path, inbox)
        self.stop_requested.wait(FULL_DISK_PAUSE)

    # -- chores --------------------------------------------------------------------

    def rescan(self) -> None:
        """Reconcile every inbox with the database: catches anything events missed."""
        store = Store(self.settings.database)
        try:
            for inbox in self.settings.inboxes:
                result = reconcile(inbox, store.known_files(inbox.name), self.settings.ignore)
                if result is None:
                    problem = f"inbox {inbox.name}: {inbox.path} is missing or unreadable; its files are kept as known"
                    if problem not in self._problems:
                        record(store, "inbox", problem, level="warning", path=str(inbox.path))
                        self._problems.add(problem)
                    continue
                todo, gone = result
                for path in todo:
                    self.settler.touch(path, inbox)
                if gone:
                    store.mark_gone(gone)
                    record(store, "gone", f"inbox {inbox.name}: {len(gone)} known file(s) no longer there")
        finally:
            store.close()

    def clear_stale_work(self) -> None:
        """Checkpoints of jobs that will not resume (failed for good, deleted) go after a week."""
        from .pipelines.checkpoints import remove_stale

        removed = remove_stale(self.settings.work_folder)
        if removed:
            store = Store(self.settings.database)
            try:
                record(store, "housekeeping", f"removed {len(removed)} stale job work folder(s)")
            finally:
                store.close()

    def _window_opened(self) -> None:
        self._event("window", "overnight window opened")
        self.worker.wake()

    def _window_closed(self) -> None:
        self._event("window", "overnight window closed: no new window jobs start until the next one")

    def _event(self, kind: str, message: str, level: str = "info") -> None:
        store = Store(self.settings.database)
        try:
            record(store, kind, message, level=level)
        finally:
            store.close()

    def reload_rules(self) -> None:
        """SIGHUP (`systemctl reload nightowl`): read the rule files again. Files taken in
        from now on follow the new rules; jobs already queued stay as they are. Rules
        that do not validate are refused and the ones in force stay."""
        from .rules import RulesError, load_rules

        # systemd takes the reload to start at this moment and to end at the READY=1 below
        notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            rules = load_rules(self.settings.rules)
        except RulesError as exc:
            self._event("daemon", f"rules not reloaded, the previous ones stay in force: {exc}", level="error")
        else:
            self.rules = rules
            if self._intake is not None:
                self._intake.rules = rules  # one assignment: the intake thread sees old or new, never half
            self._event("daemon", f"rules reloaded: {len(rules)} rule(s)")
        notify("READY=1")

    # -- health and status -----------------------------------------------------------

    def healthy(self) -> bool:
        problems = self.watcher.check()  # restarts dead observers, retries missing inboxes
        for p in problems:
            if p not in self._problems:
                self._event("inbox", p, level="warning")
                self._problems.add(p)
        return self.watcher.healthy() and self.worker.alive() and self._intake_thread.is_alive()

    def status_line(self, store: Store) -> str:
        counts = store.job_counts()
        total = {s: sum(c.get(s, 0) for c in counts.values()) for s in ("queued", "running", "failed")}
        now = self.worker.clock()
        if in_window(self.settings.window, now):
            window = "window open"
        else:
            window = f"window opens {next_window(self.settings.window, now)[0]:%a %H:%M}"
        full = "; STATE DISK FULL: intake paused" if self.state_disk_full else ""
        if self.worker.output_missing:
            full += "; OUTPUT FOLDER MISSING: no job starts"
        return (f"{total['queued']} queued, {total['running']} running, {total['failed']} failed; {window};"
                f" {len(self.settler)} settling{full}")

    def prepare_output(self, store: Store) -> None:
        """Make the output folder on the first start. Once jobs have written there, a
        missing one is most likely a share not mounted yet: it is not made again (on the
        disk under the mount point, where the results would vanish once it is mounted),
        and the worker starts no job until it is back."""
        out = self.settings.output
        if out.is_dir():
            return
        if store.has_done_jobs():
            record(store, "output", f"the output folder {out} is missing (a share not mounted?): not made again"
                   " (make it yourself if you removed it on purpose); no job starts until it is back", level="warning")
            self.worker.output_missing = True  # said: the worker says only when it is back
        else:
            out.mkdir(parents=True, exist_ok=True)

    # -- run -----------------------------------------------------------------------

    def run(self) -> int:
        store = Store(self.settings.database)  # migrations run here, before anything else
        requeued, failed = store.recover_interrupted(self.settings.workers.max_attempts)
        for job_id in requeued:
            record(store, "requeued", f"job {job_id}: interrupted by a restart, queued again", job_id=job_id)
        for job_id in failed:
            record(store, "failed", f"job {job_id}: interrupted too often, marked failed", level="error", job_id=job_id)
        for inbox in self.settings.inboxes:
            if not inbox.poll:
                inbox.path.mkdir(parents=True, exist_ok=True)
        self.prepare_output(store)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())

        for p in self.watcher.start():
            record(store, "inbox", p, level="warning")
            self._problems.add(p)
        self._intake_thread.start()
        self.worker.start()
        self.rescan()
        scheduler = start_scheduler(
            self.settings.window,
            on_window_open=self._window_opened,
            on_window_close=self._window_closed,
            chores=[(self.rescan, self.settings.rescan_minutes * 60), (self.analyzer.release_if_idle, 30),
                    (self.clear_stale_work, 3600)],
        )
        record(store, "daemon", f"nightowl started: watching {len(self.settings.inboxes)} inbox(es),"
               f" {'GPU' if self.gpu else 'no GPU'}, {len(self.rules)} rule(s)")
        store.daemon_started(os.getpid(), __version__)
        notify("READY=1")
        ping = watchdog_interval()
        last_health = last_ping = last_beat = 0.0
        healthy = True
        try:
            while not self.stop_requested.is_set():
                for item in self.settler.due():
                    self.settled.put(item)
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.reload_rules()
                now = time.monotonic()
                if now - last_health >= HEALTH_SECONDS:
                    healthy = self.healthy()
                    if not healthy:
                        log.warning("unhealthy: watchers %s, worker %s, intake %s", self.watcher.healthy(),
                                    self.worker.alive(), self._intake_thread.is_alive())
                    notify(f"STATUS={self.status_line(store)}")
                    last_health = now
                if healthy and now - last_beat >= HEARTBEAT_SECONDS:
                    try:
                        store.daemon_alive()
                    except Exception as exc:
                        if not disk_full(exc):
                            raise
                        log.warning("cannot write the daemon's heartbeat: %s", exc)  # intake says more
                    last_beat = now
                # WATCHDOG=1 only while observers, worker and intake are well: systemd restarts us otherwise
                if ping is not None and healthy and now - last_ping >= ping:
                    notify("WATCHDOG=1")
                    last_ping = now
                self.stop_requested.wait(0.2)
        finally:
            notify("STOPPING=1")
            record(store, "daemon", "stopping: no new jobs; running jobs may finish")
            scheduler.shutdown(wait=False)
            self.watcher.stop()
            self.settled.put(None)
            self._intake_thread.join(timeout=60)
            self.worker.stop()
            self.analyzer.close()
            record(store, "daemon", "nightowl stopped")
            store.daemon_stopped()
            store.close()
        return 0
