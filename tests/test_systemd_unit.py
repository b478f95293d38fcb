"""The shipped unit passes systemd's own checks and stays well hardened."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).parent.parent / "systemd" / "nightowl.service"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def _unit_for_this_machine(tmp_path: Path) -> Path:
    # verify insists the ExecStart binary exists: point it at the installed nightowl
    exe = Path(sys.executable).parent / "nightowl"
    text = UNIT.read_text().replace("/opt/nightowl/.venv/bin/nightowl", str(exe))
    out = tmp_path / "nightowl.service"
    out.write_text(text)
    return out


def test_unit_verifies_without_errors(tmp_path: Path) -> None:
    unit = _unit_for_this_machine(tmp_path)
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", "--recursive-errors=no", str(unit)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "Unknown key" not in res.stderr and "ignoring" not in res.stderr, res.stderr


def test_unit_exposure_is_at_most_3(tmp_path: Path) -> None:
    unit = _unit_for_this_machine(tmp_path)
    res = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=30", str(unit)],
                         capture_output=True, text=True)
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", res.stdout).group(1))  # type: ignore[union-attr]
    assert score <= 3.0
    assert res.returncode == 0


def test_unit_is_a_notify_service_with_watchdog_and_its_own_user() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "Restart=on-failure", "User=nightowl", "StateDirectory=nightowl",
                 "ConfigurationDirectory=nightowl", "ProtectSystem=strict", "NoNewPrivileges=true",
                 "PrivateTmp=true", "KillMode=mixed"):
        assert line in text
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    assert re.search(r"^ReadWritePaths=.+", text, re.M)
