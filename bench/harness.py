"""What the daemon benchmarks (and the end-to-end test) share: a throwaway config and read-only queries."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def closed_window(now: datetime | None = None) -> str:
    """A [window] section for a one-minute overnight window twelve hours away (UTC): the
    daemon a benchmark starts is measured as in the daytime, whatever the clock says, and
    the jobs the shipped rules queue for the window (restore, podcast) wait."""
    start = (now or datetime.now(timezone.utc)) + timedelta(hours=12)
    end = start + timedelta(minutes=1)
    return f'start = "{start:%H:%M}"\nend = "{end:%H:%M}"\ntimezone = "UTC"'


def write_config(root: Path, settle: float) -> Path:
    """A config.toml for a daemon living inside `root` (inbox, output and state there), the
    shipped rules, and the overnight window closed for the next twelve hours."""
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    text = f"""
output = "output"
state_dir = "state"
rules = [{json.dumps(str(REPO / 'rules' / 'default.toml'))}]
device = "cpu"
settle_seconds = {settle}
rescan_minutes = 60
log_level = "INFO"

[[inboxes]]
path = "inbox"
name = "music"

[workers]
cpu_jobs = 1

[window]
{closed_window()}
"""
    path = root / "config.toml"
    path.write_text(text)
    return path


def query(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a read-only query on a running daemon's database."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def start_daemon(config: Path) -> subprocess.Popen[bytes]:
    """`nightowl run` on `config` as a child process, logging to daemon.log beside it (no systemd)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("NOTIFY_SOCKET", None)
    log = (config.parent / "daemon.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "nightowl", "--config", str(config), "run"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=config.parent)


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the graceful stop), SIGKILL after a minute."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
