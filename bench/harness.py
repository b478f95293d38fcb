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


def write_config(root: Path, settle: float, poll: bool = False) -> Path:
    """A config.toml for a daemon living inside `root` (inbox, output and state there), the
    shipped rules, and the overnight window closed for the next twelve hours; `poll`: the
    inbox is polled, as a network share is."""
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
poll = {str(poll).lower()}

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


# -- a running daemon, from /proc ---------------------------------------------------

def status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rollup_kb(pid: int) -> dict[str, int]:
    """Pss and Uss (private clean + dirty) from smaps_rollup, in kB ({} when unavailable)."""
    try:
        fields = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"):
                fields[parts[0][:-1]] = int(parts[1])
    except (OSError, ValueError):
        return {}
    return {"pss": fields.get("Pss", 0), "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def cpu_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc/PID/task/*/children, recursively)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out
