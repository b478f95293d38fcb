"""Every benchmark script still starts: its imports resolve and its options parse.

The benchmarks run by hand (`make bench`), not in the suite, so a helper moved out
from under one of them would otherwise go unnoticed until someone measures again.
"""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

SCRIPTS = sorted(p for p in (REPO / "bench").glob("*.py") if "def main(" in p.read_text())


def test_there_are_benchmark_scripts() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"corpus.py", "classify.py", "intake_cost.py", "lossless_accuracy.py", "restore.py"} <= names


def test_every_benchmark_script_answers_help() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # all at once: most of the time is each interpreter importing numpy (and torch for some)
    running = {p.name: subprocess.Popen([sys.executable, str(p), "--help"], cwd=REPO, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for p in SCRIPTS}
    failed = {}
    for name, proc in running.items():
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0 or "usage:" not in out:
            failed[name] = (proc.returncode, err.strip().splitlines()[-1:] or out[-200:])
    assert not failed, failed


def test_benchmark_daemons_run_outside_the_overnight_window() -> None:
    # the daemon benchmarks measure a daytime daemon; at night the shipped rules' window
    # jobs (a restore of every MP3) would run in the middle of the measurement
    from datetime import datetime, timedelta, timezone

    from bench.harness import closed_window
    from nightowl.config import Window
    from nightowl.schedule import in_window

    day = datetime(2026, 3, 29, tzinfo=timezone.utc)
    for minutes in range(0, 24 * 60, 13):  # every start time of day, midnight crossings too
        now = day + timedelta(minutes=minutes)
        fields = dict(line.split(" = ") for line in closed_window(now).splitlines())
        window = Window(**{k: v.strip('"') for k, v in fields.items()})
        assert not any(in_window(window, now + timedelta(minutes=m)) for m in range(0, 12 * 60, 5))
        assert in_window(window, now + timedelta(hours=12, seconds=30))
