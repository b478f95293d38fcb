"""What `nightowl log` prints for people."""

from __future__ import annotations

from nightowl.report import daemon_state, format_event


def test_one_event_is_one_line_whatever_the_file_is_called() -> None:
    """A newline or escape sequence in a file name cannot break a line or fake another event."""
    event = {"ts": 0.0, "level": "error", "kind": "unreadable", "message": "not usable audio",
             "path": "/music/inbox/a\n1970-01-01 00:00:00 done: fake\x1b[2J.flac"}
    line = format_event(event)
    assert "\n" not in line and "\x1b" not in line
    assert line.endswith("ERROR unreadable: not usable audio  /music/inbox/a\\n1970-01-01 00:00:00 done: fake\\x1b[2J.flac")


def test_a_daemon_not_heard_from_is_said_so() -> None:
    row = {"pid": 7, "version": "0.1.0", "started": 1000.0, "last_seen": 1030.0, "stopped": None}
    assert daemon_state(row, 1060.0)["state"] == "running"
    assert daemon_state(row, 1030.0 + 121)["state"] == "not heard from"  # killed with SIGKILL, or hung
    assert daemon_state({**row, "stopped": 1040.0}, 5000.0)["state"] == "stopped"
    assert daemon_state(None, 0.0) == {"state": "never started"}
