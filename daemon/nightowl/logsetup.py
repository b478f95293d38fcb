"""Logging to stderr and, where systemd-python and journald are there, to the journal with fields."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(level: str) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    # journald captures stderr of a service too; the journal handler adds the FILE/JOB fields
    if os.path.exists("/run/systemd/journal/socket"):
        try:
            from systemd.journal import JournalHandler
        except ImportError:
            return
        journal = JournalHandler(SYSLOG_IDENTIFIER="nightowl")
        journal.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(journal)
        # both would be stored when stderr goes to the journal too: keep the structured one
        if os.environ.get("JOURNAL_STREAM"):
            root.removeHandler(stderr)
    for noisy in ("apscheduler", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
