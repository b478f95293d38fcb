"""Daemon memory and CPU while idle with 5,000 known files, and intake throughput.

    python bench/daemon_idle.py [--files 5000] [--folders 50] [--settle 1] [--window 60] [--out FILE]

An inbox in a temporary folder is filled with `--files` small real audio files
(1-2 s cut from the tests/data clips at varying offsets and gains, so every file's
content and fingerprint differ; four in five FLAC 16-bit, one in five MP3 192k),
spread over `--folders` folders. Then the real daemon (`python -m nightowl --config
CONFIG run`, device = cpu, shipped rules) is started on it: its start-up reconcile
scan finds the files and takes every one in for real (fingerprint, probe, check,
classify, route). Intake throughput is the number of files taken in divided by the
time from the first 'new' event to the last 'classified'/'unreadable'/'duplicate'
event in the `events` table (state/nightowl.db, opened read-only); the daemon's RSS
and its children's are sampled every second meanwhile.

Once every file is in `files` with state classified/duplicate/unreadable and no job is
running or queued to run now (jobs for the overnight window stay queued, as they do in
a daytime idle daemon: the benchmark's config keeps the window closed whatever the
time), the benchmark waits for the analysis child to be shut down (the
daemon releases it after ~60 s idle) and then measures for `--window` seconds: the
daemon's VmRSS (sampled every second, /proc/PID/status), its PSS and USS
(/proc/PID/smaps_rollup), its CPU use from the utime + stime delta of /proc/PID/stat
over the window (as % of one core), and the RSS and CPU of any child processes left.
Targets: RSS < 150 MB, CPU < 1 % of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench.harness import (children, cmdline, cpu_ticks, query, rollup_kb, start_daemon, status_kb,  # noqa: E402
                           stop_daemon, write_config)
from bench.transcode import Setting, encode_bytes  # noqa: E402

DATA = REPO / "tests" / "data"
TARGET_RSS_MB = 150.0
TARGET_CPU_PCT = 1.0
TICK = os.sysconf("SC_CLK_TCK")
DONE_STATES = ("classified", "duplicate", "unreadable")


# -- /proc ---------------------------------------------------------------------------

# -- setup ---------------------------------------------------------------------------

def make_inbox(inbox: Path, n: int, folders: int, seed: int = 1) -> dict[str, int]:
    """`n` distinct 1-2 s real audio files over `folders` folders; returns counts per format."""
    rng = np.random.default_rng(seed)
    clips = [sf.read(p, dtype="float32", always_2d=True) for p in sorted(DATA.glob("*.flac"))]
    counts = {"flac": 0, "mp3": 0}
    for i in range(n):
        audio, sr = clips[i % len(clips)]
        length = int(sr * rng.uniform(1.0, 2.0))
        start = int(rng.integers(0, max(1, len(audio) - length)))
        gain = 0.3 + 0.7 * (i / n)  # distinct per file, so no two files share a fingerprint
        piece = np.clip(audio[start:start + length] * gain, -1.0, 1.0)
        folder = inbox / f"artist{i % folders:02d}" / f"album{(i // folders) % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 5 == 4:
            data, ext = encode_bytes(piece, sr, Setting("mp3", "192k"))
            (folder / f"{i:05d}.{ext}").write_bytes(data)
            counts["mp3"] += 1
        else:
            sf.write(folder / f"{i:05d}.flac", piece, sr, subtype="PCM_16")
            counts["flac"] += 1
    return counts


def one(db: Path, sql: str, *args: Any) -> Any:
    try:
        return next(iter(query(db, sql, *args)[0].values()))
    except sqlite3.OperationalError:
        return None  # not created yet


# -- run -----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--folders", type=int, default=50)
    ap.add_argument("--settle", type=float, default=1.0, help="settle_seconds of the daemon")
    ap.add_argument("--window", type=float, default=60.0, help="idle measurement window, seconds")
    ap.add_argument("--intake-timeout", type=float, default=900.0)
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "daemon_idle.json")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nightowl-idle-") as tmp:
        root = Path(tmp)
        inbox = root / "inbox"
        t0 = time.perf_counter()
        counts = make_inbox(inbox, args.files, args.folders)
        print(f"made {args.files} files ({counts}) in {time.perf_counter() - t0:.0f} s", flush=True)
        config = write_config(root, args.settle)
        db = root / "state" / "nightowl.db"
        started = time.time()
        proc = start_daemon(config)
        pid = proc.pid
        intake_rss: list[int] = []
        child_rss: list[int] = []
        child_pids: set[int] = set()
        try:
            # -- intake ----------------------------------------------------------------
            last_print = 0.0
            done = 0
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"daemon exited with {proc.returncode}")
                intake_rss.append(status_kb(pid, "VmRSS") or 0)
                kids = children(pid)
                child_pids.update(kids)
                child_rss.append(sum(status_kb(k, "VmRSS") or 0 for k in kids))
                done = one(db, f"SELECT count(*) FROM files WHERE state IN {DONE_STATES}") or 0
                # jobs for the overnight window (restore of the MP3s) wait for the night by
                # design: a daemon idle in the daytime holds them, so they do not count as work
                busy = one(db, "SELECT count(*) FROM jobs WHERE state = 'running'"
                               " OR (state = 'queued' AND run_when = 'now')") or 0
                if done >= args.files and busy == 0:
                    break
                if time.time() - started > args.intake_timeout:
                    raise TimeoutError(f"only {done} of {args.files} files taken in after {args.intake_timeout} s")
                if time.time() - last_print >= 15:
                    print(f"  {time.time() - started:5.0f} s: {done} taken in, {busy} jobs pending,"
                          f" daemon RSS {intake_rss[-1] / 1024:.0f} MB, children {child_rss[-1] / 1024:.0f} MB",
                          flush=True)
                    last_print = time.time()
                time.sleep(1.0)
            all_done = time.time()
            by_state = {r["state"]: r["n"] for r in query(db, "SELECT state, count(*) AS n FROM files GROUP BY state")}
            by_class = {str(r["class"]): r["n"]
                        for r in query(db, "SELECT class, count(*) AS n FROM files GROUP BY class")}
            jobs = {r["state"]: r["n"] for r in query(db, "SELECT state, count(*) AS n FROM jobs GROUP BY state")}
            first_new = one(db, "SELECT min(ts) FROM events WHERE kind = 'new'")
            last_done = one(db, "SELECT max(ts) FROM events WHERE kind IN ('classified', 'unreadable', 'duplicate')")
            taken = sum(by_state.get(s, 0) for s in DONE_STATES)
            # throughput per tenth of the files, to see whether intake slows as the database grows
            ts = [r["ts"] for r in query(db, "SELECT ts FROM events WHERE kind IN ('classified', 'unreadable',"
                                             " 'duplicate') ORDER BY ts")]
            tenth = max(1, len(ts) // 10)
            per_tenth = [round(tenth / (ts[i + tenth - 1] - ts[i]), 1) if ts[i + tenth - 1] > ts[i] else None
                         for i in range(0, len(ts) - tenth + 1, tenth)]
            intake_s = last_done - first_new
            throughput = taken / intake_s if intake_s > 0 else None
            print(f"intake: {taken} files in {intake_s:.1f} s = {throughput:.1f} files/s "
                  f"({all_done - started:.0f} s from daemon start); states {by_state}", flush=True)

            # -- wait for the analysis child to be released ----------------------------
            t_wait = time.time()
            while True:
                kids = [k for k in children(pid) if "resource_tracker" not in cmdline(k)]
                if not kids or time.time() - t_wait > 240:
                    break
                time.sleep(1.0)
            release_s = time.time() - t_wait
            still = children(pid)
            print(f"analysis child released {release_s:.0f} s after the last file"
                  f" ({len(still)} child process(es) left: {[cmdline(k)[:60] for k in still]})", flush=True)

            # -- idle window -----------------------------------------------------------
            time.sleep(2.0)
            kids0 = children(pid)
            c0 = cpu_ticks(pid)
            k0 = {k: cpu_ticks(k) or 0 for k in kids0}
            w0 = time.monotonic()
            rss: list[int] = []
            kid_rss: list[int] = []
            while time.monotonic() - w0 < args.window:
                rss.append(status_kb(pid, "VmRSS") or 0)
                kid_rss.append(sum(status_kb(k, "VmRSS") or 0 for k in children(pid)))
                time.sleep(1.0)
            elapsed = time.monotonic() - w0
            c1 = cpu_ticks(pid)
            k1 = {k: cpu_ticks(k) or 0 for k in children(pid)}
            roll = rollup_kb(pid)
            hwm = status_kb(pid, "VmHWM")
            threads = status_kb(pid, "Threads")
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            kids_end = children(pid)
            kid_detail = [{"pid": k, "cmd": cmdline(k)[:120], "rss_kb": status_kb(k, "VmRSS")} for k in kids_end]
            kid_cpu = sum(k1[k] - k0.get(k, 0) for k in k1) / TICK
        finally:
            stop_daemon(proc)
        if proc.returncode not in (0, -signal.SIGTERM):
            print((root / "daemon.log").read_text()[-3000:], file=sys.stderr)

    assert c0 is not None and c1 is not None
    cpu_pct = 100.0 * (c1 - c0) / TICK / elapsed
    rss_mb = statistics.median(rss) / 1024
    rss_max_mb = max(rss) / 1024
    result = {
        "benchmark": "daemon_idle",
        "files": args.files, "folders": args.folders, "formats": counts, "settle_seconds": args.settle,
        "intake": {
            "files_taken_in": taken, "seconds_first_new_to_last_done": round(intake_s, 1),
            "files_per_s": round(throughput, 2) if throughput else None,
            "files_per_s_by_tenth": per_tenth,
            "seconds_from_daemon_start": round(all_done - started, 1),
            "states": by_state, "classes": by_class, "jobs": jobs,
            "daemon_rss_max_mb": round(max(intake_rss) / 1024, 1),
            "children_rss_max_mb": round(max(child_rss) / 1024, 1),
            "child_processes_seen": len(child_pids),
        },
        "analysis_child_released_after_s": round(release_s, 1),
        "idle": {
            "window_s": round(elapsed, 1),
            "rss_mb_median": round(rss_mb, 1), "rss_mb_max": round(rss_max_mb, 1),
            "pss_mb": round(roll["pss"] / 1024, 1) if roll else None,
            "uss_mb": round(roll["uss"] / 1024, 1) if roll else None,
            "vmhwm_mb": round(hwm / 1024, 1) if hwm else None,
            "cpu_pct_of_core": round(cpu_pct, 3),
            "threads": threads, "open_fds": fds,
            "children": kid_detail,
            "children_rss_mb_max": round(max(kid_rss) / 1024, 1) if kid_rss else 0.0,
            "children_cpu_pct_of_core": round(100.0 * kid_cpu / elapsed, 3),
        },
        "targets": {"rss_mb": TARGET_RSS_MB, "cpu_pct": TARGET_CPU_PCT},
        "pass": rss_max_mb < TARGET_RSS_MB and cpu_pct < TARGET_CPU_PCT,
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }

    idle = result["idle"]
    print()
    print(f"daemon idle with {taken} known files, {idle['window_s']:.0f} s window")
    print(f"{'metric':34} {'value':>10}  target")
    print("-" * 56)
    print(f"{'RSS median / max (MB)':34} {rss_mb:5.1f}/{rss_max_mb:4.1f}  < {TARGET_RSS_MB:.0f}")
    print(f"{'PSS / USS (MB)':34} {idle['pss_mb']}/{idle['uss_mb']}")
    print(f"{'peak RSS since start, VmHWM (MB)':34} {idle['vmhwm_mb']:10.1f}")
    print(f"{'CPU (% of one core)':34} {cpu_pct:10.3f}  < {TARGET_CPU_PCT:.0f}")
    print(f"{'threads / open fds':34} {threads:>4} / {fds:<4}")
    print(f"{'children left / their RSS (MB)':34} {len(kid_detail):>4} / {idle['children_rss_mb_max']:<5.1f}")
    print(f"{'children CPU (% of one core)':34} {idle['children_cpu_pct_of_core']:10.3f}")
    print(f"{'intake throughput (files/s)':34} {throughput:10.1f}")
    print(f"{'  per tenth of the files':34} {per_tenth}")
    print(f"{'daemon / children RSS max in intake':34} {result['intake']['daemon_rss_max_mb']:.0f} / "
          f"{result['intake']['children_rss_max_mb']:.0f} MB")
    print(f"{'analysis child released after (s)':34} {release_s:10.0f}")
    print("-" * 56)
    print("PASS" if result["pass"] else "FAIL")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # process command lines name this machine's paths: keep them out of the results
    args.out.write_text(json.dumps(result, indent=2).replace(str(REPO) + "/", ""))
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
