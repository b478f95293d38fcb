"""Shared fixtures: a temporary nightowl installation (config, inbox, output, state)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent


def run_daemon_while(daemon, scenario) -> None:  # type: ignore[no-untyped-def]
    """Run `daemon` in this thread, as `nightowl run` does (its signal handlers need the
    main thread), while `scenario(store)` runs on another once the daemon is up (its
    migrations have run); the daemon stops when the scenario ends, whose failure fails
    the test."""
    import threading

    from nightowl.store import Store

    failures: list[BaseException] = []

    def helper() -> None:
        store = None
        try:
            wait_until(lambda: daemon.lanes_alive() and daemon.worker.alive(), 60)
            store = Store(daemon.settings.database)
            scenario(store)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failures.append(exc)
        finally:
            if store is not None:
                store.close()
            daemon.stop_requested.set()

    thread = threading.Thread(target=helper)
    thread.start()
    daemon.run()
    thread.join(timeout=30)
    if failures:
        raise failures[0]


def wait_until(condition, seconds: float = 15.0, why=None) -> None:  # type: ignore[no-untyped-def]
    """Poll `condition` until it holds; fail the test after `seconds` (saying `why()`, where given)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out{': ' + str(why()) if why else ''}"
        time.sleep(0.05)


def write_config(root: Path, *, settle: float = 1.0, extra: str = "", window: str | None = None) -> Path:
    """A config.toml for a nightowl living entirely inside `root` (its inbox and output
    folders made, as the daemon's first start makes them)."""
    (root / "inbox").mkdir(exist_ok=True)
    (root / "output").mkdir(exist_ok=True)
    window = window or 'start = "00:00"\nend = "00:00"'  # start == end: always open
    text = f"""
output = "output"
state_dir = "state"
rules = ["{REPO / 'rules' / 'default.toml'}"]
device = "cpu"
settle_seconds = {settle}
rescan_minutes = 60
{extra}

[[inboxes]]
path = "inbox"
name = "music"

[window]
{window}

[workers]
cpu_jobs = 2
job_timeout_minutes = 10
max_attempts = 3
retry_backoff_seconds = 1
stop_timeout_seconds = 20
poll_seconds = 0.3
"""
    path = root / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture(scope="module")
def one_thread():
    """Torch models on one thread (the machine is shared, results stay stable); restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
