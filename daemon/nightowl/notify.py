"""sd_notify: READY, STATUS, WATCHDOG, STOPPING (systemd-python when installed, the plain protocol otherwise)."""

from __future__ import annotations

import os
import socket

try:
    from systemd import daemon as _sd_daemon
except ImportError:  # not installed, or no libsystemd: speak the protocol ourselves
    _sd_daemon = None


def notify(message: str) -> bool:
    """Send one notification, e.g. "READY=1"; False when not run by systemd."""
    if _sd_daemon is not None:
        return bool(_sd_daemon.notify(message))
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract socket namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when systemd wants none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000
