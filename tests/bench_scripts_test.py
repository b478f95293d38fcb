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
