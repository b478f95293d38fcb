"""What `nightowl log` prints for people."""

from __future__ import annotations

from nightowl.report import format_event


def test_one_event_is_one_line_whatever_the_file_is_called() -> None:
    """A newline or escape sequence in a file name cannot break a line or fake another event."""
    event = {"ts": 0.0, "level": "error", "kind": "unreadable", "message": "not usable audio",
             "path": "/music/inbox/a\n1970-01-01 00:00:00 done: fake\x1b[2J.flac"}
    line = format_event(event)
    assert "\n" not in line and "\x1b" not in line
    assert line.endswith("ERROR unreadable: not usable audio  /music/inbox/a\\n1970-01-01 00:00:00 done: fake\\x1b[2J.flac")
