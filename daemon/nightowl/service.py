"""`nightowl run`: wires watcher, settler, intake, worker and scheduler; speaks sd_notify; stops gracefully."""

from __future__ import annotations

import logging
import os
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
from .mounts import inotify_blind_spot, network_share
from .notify import notify, watchdog_interval
from .rules import Rule
from .schedule import in_window, next_window, start_scheduler
from .store import Store, disk_full
from .watch import Reach, Settler, Watcher, ignored, not_answering, reconcile

log = logging.getLogger(__name__)

HEALTH_SECONDS = 5.0
HEARTBEAT_SECONDS = 30.0  # how often the daemon row says "still here" (nightowl status)
# while the state database's disk is full, intake waits this long between tries: the
# file is kept (settling again), nothing is lost, and intake resumes once there is room
FULL_DISK_PAUSE = 30.0


# how often an inbox's own thread looks for settled files
LANE_SECONDS = 0.2
# the main thread only keeps watch (health, systemd, a reload): once a second is plenty
MAIN_LOOP_SECONDS = 1.0


class Lane:
    """One inbox's own thread: it settles, takes in and rescans that inbox's files.

    Everything that touches an inbox's files runs here, so a network share that stops
    answering (an NFS hard mount whose server is down blocks whoever touches it until
    the server is back) holds up only its own files: the other inboxes go on, and the
    main thread keeps telling systemd all is well. What the database decides for a file
    (is it known, a duplicate, which job) runs under one lock shared by all lanes, so
    two copies arriving in two inboxes at once are still told apart.
    """

    def __init__(self, daemon: Daemon, inbox: Inbox) -> None:
        self.daemon = daemon
        self.inbox = inbox
        self.intake: Intake | None = None
        self.rescan_requested = threading.Event()
        self.rescan_requested.set()  # each lane's first task: what came or went while we were away
        self.thread = threading.Thread(target=self._run, name=f"inbox {inbox.name}", daemon=True)

    def _run(self) -> None:
        d = self.daemon
        store = Store(d.settings.database)
        self.intake = Intake(d.settings, store, d.rules, d.analyzer.analyse, d.gpu, d.worker.wake, lock=d.intake_lock)
        try:
            while not d.stop_requested.is_set():
                if self.rescan_requested.is_set():
                    self.rescan_requested.clear()
                    try:
                        d.rescan_inbox(store, self.inbox)
                    except Exception:  # noqa: BLE001 - a failed look over the inbox is tried again at the next
                        log.exception("rescan of inbox %s failed", self.inbox.name)
                for path, inbox in d.settler.due(self.inbox.name):
                    if d.stop_requested.is_set():
                        break
                    d.take_in(self.intake, store, path, inbox)
                d.stop_requested.wait(LANE_SECONDS)
        finally:
            store.close()


class Daemon:
    def __init__(self, settings: Settings, rules: list[tuple[Rule, str]]) -> None:
        self.settings = settings
        self.rules = rules
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.settler = Settler(settings.settle_seconds)
        self.analyzer = Analyzer(settings.class_options())
        self.gpu = use_gpu(settings.device)
        from .worker import Worker

        self.reach = Reach()
        self.watcher = Watcher(settings.inboxes, self._on_path, on_started=self._observer_started, reach=self.reach)
        # (a set's copy is taken whole, never half-way through the main thread's changes)
        self.worker = Worker(settings, self.gpu, reach=self.reach, silent=self.watcher.silent.copy)
        self.intake_lock = threading.Lock()
        self.lanes = {inbox.name: Lane(self, inbox) for inbox in settings.inboxes}
        self._problems: set[str] = set()
        self._problems_lock = threading.Lock()
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

    def _observer_started(self, inbox: Inbox) -> None:
        """An observer that started late (a slow or returning share): look over its inbox
        for what arrived before it could see."""
        lane = self.lanes.get(inbox.name)
        if lane is not None and lane.thread.is_alive():
            lane.rescan_requested.set()

    # -- intake, in each inbox's lane ------------------------------------------------

    def take_in(self, intake: Intake, store: Store, path: Path, inbox: Inbox) -> None:
        try:
            intake.handle(path, inbox)
        except Exception as exc:  # one bad file never stops intake
            if disk_full(exc):
                self._wait_for_room(path, inbox, exc)
                return
            log.exception("intake failed for %s", path)
            try:
                record(store, "error", f"intake failed: {exc}", level="error", path=str(path))
            except Exception:  # noqa: BLE001 - the log above has it; intake goes on
                log.exception("could not record the failure")
        else:
            if self.state_disk_full:
                self.state_disk_full = False
                log.warning("the state database can be written again: intake goes on")

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
        """Reconcile every inbox with the database (catches anything events missed): each
        lane does its own, so a share that does not answer holds up no other."""
        for lane in self.lanes.values():
            lane.rescan_requested.set()

    def rescan_inbox(self, store: Store, inbox: Inbox) -> None:
        result = reconcile(inbox, store.known_files(inbox.name), self.settings.ignore)
        if result is None:
            self._problem(store, f"inbox {inbox.name}: {inbox.path} is missing or unreadable; its files are kept"
                          " as known", path=str(inbox.path))
            return
        todo, gone = result
        for path in todo:
            self.settler.touch(path, inbox)
        if gone:
            store.mark_gone(gone)
            # their waiting jobs could only fail; queued again should the files come back (intake)
            cancelled = sum(len(store.cancel_queued(file_id, keep=[])) for file_id in gone)
            note = f" ({cancelled} waiting job(s) cancelled: queued again should they come back)" if cancelled else ""
            record(store, "gone", f"inbox {inbox.name}: {len(gone)} known file(s) no longer there{note}")

    def _problem(self, store: Store, text: str, path: str | None = None) -> None:
        """Record a problem with an inbox once (a share not answering: until it answers again, see healthy)."""
        with self._problems_lock:
            if text in self._problems:
                return
            self._problems.add(text)
        record(store, "inbox", text, level="warning", path=path)

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
            for lane in self.lanes.values():
                if lane.intake is not None:
                    lane.intake.rules = rules  # one assignment: a lane sees old or new, never half
            self._event("daemon", f"rules reloaded: {len(rules)} rule(s)")
        notify("READY=1")

    # -- health and status -----------------------------------------------------------

    def healthy(self, store: Store) -> bool:
        """Restart dead observers, retry missing inboxes, say what is wrong. A lane blocked
        on an inbox that does not answer is alive: waiting is all it can do."""
        problems = self.watcher.check()
        for p in problems:
            self._problem(store, p)
        for inbox in self.settings.inboxes:
            said = not_answering(inbox)
            if inbox.name not in self.watcher.silent and said in self._problems:
                with self._problems_lock:
                    self._problems.discard(said)  # said again, should it go silent again
                record(store, "inbox", f"inbox {inbox.name}: answers again", path=str(inbox.path))
                # what its observer could not see meanwhile, and files left new when it went silent
                self.lanes[inbox.name].rescan_requested.set()
                self.worker.wake()  # its files' jobs may start again
        return self.watcher.healthy() and self.worker.alive() and self.lanes_alive()

    def lanes_alive(self) -> bool:
        return all(lane.thread.is_alive() for lane in self.lanes.values())

    def status_line(self, store: Store) -> str:
        total = store.active_job_counts()
        now = self.worker.clock()
        if in_window(self.settings.window, now):
            window = "window open"
        else:
            window = f"window opens {next_window(self.settings.window, now)[0]:%a %H:%M}"
        full = "; STATE DISK FULL: intake paused" if self.state_disk_full else ""
        if self.watcher.silent:
            full += f"; NOT ANSWERING: inbox {', '.join(sorted(self.watcher.silent))}"
        if self.worker.output_missing:
            full += "; OUTPUT FOLDER MISSING: no job starts"
        if self.worker.output_silent:
            full += "; OUTPUT FOLDER NOT ANSWERING: no job starts"
        return (f"{total['queued']} queued, {total['running']} running, {total['failed']} failed; {window};"
                f" {len(self.settler)} settling{full}")

    def prepare_output(self, store: Store) -> None:
        """Make the output folder on the first start. Once jobs have written there, a
        missing one is most likely a share not mounted yet: it is not made again (on the
        disk under the mount point, where the results would vanish once it is mounted),
        and the worker starts no job until it is back."""
        out = self.settings.output
        there = self.reach(out)
        if there is None:
            return  # the worker says so (without waiting on it), and starts no job until it answers
        if there:
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
        there = self.reach.all([inbox.path for inbox in self.settings.inboxes])
        for inbox in self.settings.inboxes:
            # a local inbox is made where missing (a share is mounted, not made; one not answering is left alone)
            if not inbox.poll and there[inbox.path] is False:
                inbox.path.mkdir(parents=True, exist_ok=True)
        self.prepare_output(store)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())

        for p in self.watcher.start():
            self._problem(store, p)
        for inbox in self.settings.inboxes:
            share = None if inbox.poll or not there[inbox.path] else network_share(inbox.path)
            if share:
                self._problem(store, inotify_blind_spot(inbox.name, inbox.path, share))
        for lane in self.lanes.values():
            lane.thread.start()  # each first rescans its inbox
        self.worker.start()
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
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.reload_rules()
                now = time.monotonic()
                if now - last_health >= HEALTH_SECONDS:
                    healthy = self.healthy(store)
                    if not healthy:
                        log.warning("unhealthy: watchers %s, worker %s, inbox threads %s", self.watcher.healthy(),
                                    self.worker.alive(), self.lanes_alive())
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
                self.stop_requested.wait(MAIN_LOOP_SECONDS)
        finally:
            notify("STOPPING=1")
            record(store, "daemon", "stopping: no new jobs; running jobs may finish")
            scheduler.shutdown(wait=False)
            self.watcher.stop()
            deadline = time.monotonic() + 60  # a lane blocked on a share that does not answer is left behind
            for lane in self.lanes.values():
                if lane.thread.is_alive():
                    lane.thread.join(max(0.0, deadline - time.monotonic()))
            self.worker.stop()
            self.analyzer.close()
            record(store, "daemon", "nightowl stopped")
            store.daemon_stopped()
            store.close()
        return 0
