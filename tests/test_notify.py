from __future__ import annotations

import socket
from pathlib import Path

import pytest

from nightowl import notify


def test_notify_speaks_the_sd_notify_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
        assert notify.notify("READY=1")
        assert sock.recv(1024) == b"READY=1"


def test_no_socket_means_no_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not notify.notify("READY=1")


def test_watchdog_interval_is_half_of_watchdog_sec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert notify.watchdog_interval() == 30.0
