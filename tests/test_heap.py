"""The analysis child keeps freed memory for reuse (glibc's mallopt)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

DAEMON = Path(__file__).resolve().parents[1] / "daemon"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_thresholds_are_raised_on_glibc() -> None:
    # in a fresh interpreter, as the analysis child calls it: the setting lasts for the process
    code = "from nightowl.heap import keep_freed_memory; print(keep_freed_memory())"
    env = {**os.environ, "PYTHONPATH": str(DAEMON)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "True"
