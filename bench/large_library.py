"""A library of 100,000 known files: the daemon's look over it and its poll of a share.

    python bench/large_library.py [--files 100000] [--per-folder 12] [--reps 5] [--out FILE]

Every `rescan_minutes` (30 by default) the daemon looks over each inbox for what its
watch missed: it reads what the database knows of the inbox (`Store.known_files`) and
walks the inbox, stats every file and compares (`nightowl.watch.reconcile`, with the
shipped ignore patterns). bench/daemon_idle.py measures the daemon idle between looks
with 5,000 files; this measures one look at a library's size.

An inbox of `--files` empty files is built in a temporary folder, laid out as
artist/album/NN - title.flac with `--per-folder` tracks to an album (their content is
never read by the look), and a database through `Store` that knows every one of them as
classified, each with the evidence the real analysis gives a real clip (so its rows
are as large as a library's). Then, `--reps` times each and alternating: the look, and
a bare walk of the same tree (os.walk and os.lstat of every file, nothing compared):
the floor any look has to pay. Reported: the look's CPU (median), as a ratio of the
bare walk's, per 1,000 files, and as a share of a core at the default rescan interval;
the Python memory the look allocates at its peak (tracemalloc, a separate run).

An inbox on a network share (`poll = true`) is also polled every `interval` seconds (10
by default): nightowl.folderpoll stats its folders and lists only those whose mtime
moved. Timed side by side with what watchdog's PollingObserver does at each poll (a
DirectorySnapshot of the tree, diffed with the last one), on the same tree with
nothing changed, with the memory each keeps between polls (tracemalloc).

Then the real daemon (`nightowl run`, the shipped rules) is started on the library with
its inbox polled, as a share is: once its start is over (the look, the poller's first
listing), its RSS and CPU are measured for `--window` seconds (polls and status
counts included; no file may be taken in again). Targets: the idle daemon's, RSS
< 150 MB and CPU < 1 % of a core.

Every HEALTH_SECONDS the service also counts the queued, running and failed jobs for
its status line (systemd's STATUS=): timed with one finished job a file, as a library
the daemon has been through has, beside counting every job by pipeline (`nightowl
status`, asked by hand).

Target: the look's share of a core at the default rescan interval, the poll's at the
default polling interval and the status counts', together, under 0.75 %: with the idle daemon's own 0.2-0.25 %
(bench/daemon_idle.py, 5,000 files) that keeps a library of this size on a share under
the idle target of 1 % of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "daemon"))

from watchdog.observers.api import EventQueue, ObservedWatch  # noqa: E402
from watchdog.utils.dirsnapshot import DirectorySnapshot, DirectorySnapshotDiff  # noqa: E402

from bench.harness import cpu_ticks, query, start_daemon, status_kb, stop_daemon, write_config  # noqa: E402
from nightowl.classify.analyse import analyse  # noqa: E402
from nightowl.config import DEFAULT_IGNORE, Inbox, Settings  # noqa: E402
from nightowl.folderpoll import FolderPollingEmitter  # noqa: E402
from nightowl.service import HEALTH_SECONDS  # noqa: E402
from nightowl.store import Store  # noqa: E402
from nightowl.watch import reconcile  # noqa: E402

TARGET_SHARE = 0.75  # % of a core: the look, the poll and the status counts, each at its default interval
DEFAULT_RESCAN_MINUTES = Settings.model_fields["rescan_minutes"].default
DEFAULT_POLL_SECONDS = Inbox.model_fields["interval"].default
DAEMON_RSS_MB, DAEMON_CPU_PCT = 150, 1.0  # the idle daemon's targets (bench/daemon_idle.py)


def build(root: Path, files: int, per_folder: int) -> tuple[Inbox, Store]:
    """The inbox and the database the daemon of write_config(root) finds there."""
    inbox = Inbox(path=root / "inbox", name="music")
    real = analyse(REPO / "tests" / "data" / "guit_em9.flac").to_dict()
    store = Store(root / "state" / "nightowl.db")
    store.db.execute("BEGIN")
    for n in range(files):
        album, track = divmod(n, per_folder)
        folder = inbox.path / f"Artist {album // 10:04}" / f"Album {album:05}"
        if track == 0:
            folder.mkdir(parents=True)
        path = folder / f"{track + 1:02} - Title {n}.flac"
        path.touch()
        st = path.lstat()
        file_id = store.add_file(path=str(path), inbox=inbox.name, rel_path=path.relative_to(inbox.path).as_posix(),
                                 size=st.st_size, mtime=st.st_mtime, fingerprint=f"{n:032x}")
        store.set_classified(file_id, probe=real["probe"], file_class=real["file_class"],
                             confidence=real["confidence"], evidence=real["evidence"])
    store.db.execute("COMMIT")
    # one finished job a file, as a library the daemon has been through has
    for file_id in range(1, files + 1):
        store.queue_job(file_id=file_id, pipeline="lossless_check", rule="fake lossless", params={},
                        output_folder="lossless-check", run_when="now", device="cpu")
    store.db.execute("UPDATE jobs SET state = 'done', stage = 'done', progress = 1, attempts = 1, started = created,"
                     " finished = created + 1, outputs = ?, timings = ?",
                     [json.dumps(["lossless-check/report.json", "lossless-check/spectrogram.png"]),
                      json.dumps({"decode": 1.0, "check": 0.2, "write": 0.1})])
    return inbox, store


def look(inbox: Inbox, store: Store) -> tuple[list[Path], list[int]]:
    result = reconcile(inbox, store.known_files(inbox.name), list(DEFAULT_IGNORE))
    assert result is not None
    return result


def bare_walk(inbox: Inbox) -> int:
    n = 0
    for root, _dirs, names in os.walk(inbox.path):
        for name in names:
            os.lstat(os.path.join(root, name))
            n += 1
    return n


def folder_poller(inbox: Inbox) -> tuple[FolderPollingEmitter, EventQueue]:
    queue = EventQueue()
    emitter = FolderPollingEmitter(queue, ObservedWatch(str(inbox.path), recursive=True), timeout=0)
    emitter.on_thread_start()
    return emitter, queue


def kept_mb(make) -> float:  # type: ignore[no-untyped-def]
    """Python memory held by what `make` returns (tracemalloc)."""
    tracemalloc.start()
    kept = make()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return size / 2**20


def measure_daemon(root: Path, window: float) -> dict:
    """`nightowl run` on the library, its inbox polled: once its start (the look over the
    inbox, the poller's first listing of every folder) is over, its RSS and CPU for
    `window` seconds."""
    proc = start_daemon(write_config(root, settle=1.0, poll=True))
    try:
        t0 = time.monotonic()
        quiet = 0
        last = None
        while quiet < 5:  # five seconds in a row under 2 ticks (20 ms) of CPU: started
            if proc.poll() is not None or time.monotonic() - t0 > 300:
                raise SystemExit(f"the daemon did not settle down: see {root / 'daemon.log'}")
            time.sleep(1)
            ticks = cpu_ticks(proc.pid)
            quiet = quiet + 1 if last is not None and ticks is not None and ticks - last < 2 else 0
            last = ticks
        start_s = time.monotonic() - t0
        hwm_start = (status_kb(proc.pid, "VmHWM") or 0) / 1024
        c0, w0 = cpu_ticks(proc.pid) or 0, time.monotonic()
        rss = []
        while time.monotonic() - w0 < window:
            time.sleep(1)
            rss.append((status_kb(proc.pid, "VmRSS") or 0) / 1024)
        cpu_pct = 100 * ((cpu_ticks(proc.pid) or 0) - c0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - w0)
        db = root / "state" / "nightowl.db"
        taken_in = query(db, "SELECT count(*) AS n FROM events WHERE kind = 'new'")[0]["n"]
    finally:
        stop_daemon(proc)
    return {"start_s": round(start_s, 1), "rss_mb_max": round(max(rss), 1), "vmhwm_mb_at_start": round(hwm_start, 1),
            "cpu_pct": round(cpu_pct, 3), "window_s": window, "files_taken_in_again": taken_in}


def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--per-folder", type=int, default=12)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--window", type=float, default=60.0, help="seconds the running daemon is measured")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "large_library.json")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nightowl-rescan-") as tmp:
        t0 = time.perf_counter()
        inbox, store = build(Path(tmp), args.files, args.per_folder)
        build_s = time.perf_counter() - t0
        todo, gone = look(inbox, store)
        assert not todo and not gone, (len(todo), len(gone))  # everything known, unchanged
        assert bare_walk(inbox) == args.files
        looks, walks = [], []
        for _ in range(args.reps):
            looks.append(timed(lambda: look(inbox, store)))
            walks.append(timed(lambda: bare_walk(inbox)))
        tracemalloc.start()
        look(inbox, store)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        emitter, queue = folder_poller(inbox)
        snapshot = [DirectorySnapshot(str(inbox.path), recursive=True)]

        def watchdog_poll() -> None:
            new = DirectorySnapshot(str(inbox.path), recursive=True)
            DirectorySnapshotDiff(snapshot[0], new)
            snapshot[0] = new

        polls, snapshots = [], []
        for _ in range(args.reps):
            polls.append(timed(lambda: emitter.queue_events(0)))
            snapshots.append(timed(watchdog_poll))
        assert queue.empty()  # nothing changed, nothing reported
        ticks, ticks_by_pipeline = [], []
        for _ in range(args.reps):
            ticks.append(timed(store.active_job_counts))
            ticks_by_pipeline.append(timed(store.job_counts))
        poller_mb = kept_mb(lambda: folder_poller(inbox))
        snapshot_mb = kept_mb(lambda: DirectorySnapshot(str(inbox.path), recursive=True))
        db_mb = store.path.stat().st_size / 2**20
        store.close()
        daemon = measure_daemon(Path(tmp), args.window)

    look_cpu = statistics.median(c for c, _ in looks)
    walk_cpu = statistics.median(c for c, _ in walks)
    share = 100 * look_cpu / (DEFAULT_RESCAN_MINUTES * 60)
    poll_cpu = statistics.median(c for c, _ in polls)
    snapshot_cpu = statistics.median(c for c, _ in snapshots)
    poll_share = 100 * poll_cpu / DEFAULT_POLL_SECONDS
    tick_cpu = statistics.median(c for c, _ in ticks)
    tick_by_pipeline_cpu = statistics.median(c for c, _ in ticks_by_pipeline)
    tick_share = 100 * tick_cpu / HEALTH_SECONDS
    snapshot_share = 100 * snapshot_cpu / DEFAULT_POLL_SECONDS
    result = {
        "benchmark": "large_library",
        "measured": "Store.known_files + watch.reconcile (shipped ignore patterns) vs os.walk + os.lstat; "
                    "folderpoll's poll vs watchdog's DirectorySnapshot + diff, nothing changed",
        "files": args.files,
        "per_folder": args.per_folder,
        "repetitions": args.reps,
        "statistic": "median CPU seconds (time.process_time)",
        "database_mb": round(db_mb, 1),
        "look_cpu_s": round(look_cpu, 3),
        "look_wall_s": round(statistics.median(w for _, w in looks), 3),
        "bare_walk_cpu_s": round(walk_cpu, 3),
        "ratio_to_bare_walk": round(look_cpu / walk_cpu, 2) if walk_cpu else None,
        "look_ms_per_1000_files": round(1000 * look_cpu / args.files * 1000, 2),
        "look_peak_python_mb": round(peak / 2**20, 1),
        "rescan_minutes": DEFAULT_RESCAN_MINUTES,
        "share_of_a_core_pct": round(share, 3),
        "poll_interval_s": DEFAULT_POLL_SECONDS,
        "poll_cpu_s": round(poll_cpu, 4),
        "poll_share_of_a_core_pct": round(poll_share, 3),
        "poll_kept_mb": round(poller_mb, 1),
        "watchdog_snapshot_poll_cpu_s": round(snapshot_cpu, 3),
        "watchdog_snapshot_share_of_a_core_pct": round(snapshot_share, 2),
        "watchdog_snapshot_kept_mb": round(snapshot_mb, 1),
        "poll_ratio_to_watchdog": round(poll_cpu / snapshot_cpu, 4) if snapshot_cpu else None,
        "status_tick_s": HEALTH_SECONDS,
        "status_counts_cpu_ms": round(tick_cpu * 1000, 3),
        "status_counts_by_pipeline_cpu_ms": round(tick_by_pipeline_cpu * 1000, 1),
        "status_share_of_a_core_pct": round(tick_share, 4),
        "target_share_pct": TARGET_SHARE,
        "total_share_pct": round(share + poll_share + tick_share, 3),
        "daemon": daemon,
        "daemon_targets": {"rss_mb": DAEMON_RSS_MB, "cpu_pct": DAEMON_CPU_PCT},
        "pass": (share + poll_share + tick_share < TARGET_SHARE and daemon["rss_mb_max"] < DAEMON_RSS_MB
                 and daemon["cpu_pct"] < DAEMON_CPU_PCT and daemon["files_taken_in_again"] == 0),
        "build_seconds": round(build_s, 1),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(f"inbox of {args.files:,} known files ({args.per_folder} to a folder), database {db_mb:.0f} MB; "
          f"median of {args.reps}")
    print(f"  the look (known_files + reconcile): {look_cpu:.2f} s CPU, {result['look_wall_s']:.2f} s wall, "
          f"{result['look_ms_per_1000_files']:.1f} ms per 1,000 files, peak {result['look_peak_python_mb']:.0f} MB "
          "of Python memory")
    print(f"  bare walk + lstat of the same tree: {walk_cpu:.2f} s CPU (the look: {result['ratio_to_bare_walk']}x)")
    print(f"  every {DEFAULT_RESCAN_MINUTES:g} min: {share:.3f}% of a core")
    print(f"the poll of a share, nothing changed: folders' mtimes {poll_cpu * 1000:.1f} ms CPU, keeping "
          f"{poller_mb:.0f} MB; watchdog's snapshot + diff {snapshot_cpu:.2f} s, keeping {snapshot_mb:.0f} MB")
    print(f"  every {DEFAULT_POLL_SECONDS:g} s: {poll_share:.3f}% of a core (watchdog's: {snapshot_share:.1f}%)")
    print(f"the service's status counts every {HEALTH_SECONDS:g} s ({args.files:,} finished jobs): "
          f"{tick_cpu * 1000:.2f} ms, {tick_share:.4f}% of a core (counted by pipeline, as `nightowl status` "
          f"shows them: {tick_by_pipeline_cpu * 1000:.0f} ms)")
    print(f"together: {result['total_share_pct']:.3f}% of a core (target < {TARGET_SHARE}%)")
    print(f"`nightowl run` on it, the inbox polled: started in {daemon['start_s']:.0f} s, then over "
          f"{daemon['window_s']:.0f} s {daemon['rss_mb_max']:.1f} MB RSS at most (target < {DAEMON_RSS_MB}), "
          f"{daemon['cpu_pct']:.2f}% of a core (target < {DAEMON_CPU_PCT}); files taken in again: "
          f"{daemon['files_taken_in_again']}")
    print("PASS" if result["pass"] else "FAIL")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
