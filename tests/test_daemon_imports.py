"""The daemon process stays small: what it imports never includes FFmpeg, the analysis or models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent


def test_the_daemon_imports_no_decoder_analysis_or_model() -> None:
    code = (
        "import sys\n"
        "from nightowl.config import load_settings\n"
        "from nightowl.service import Daemon\n"
        "import nightowl.cli, nightowl.logsetup\n"
        f"load_settings({str(REPO / 'config.toml')!r}).class_options()\n"
        "heavy = ('av', 'soundfile', 'scipy', 'matplotlib', 'torch', 'onnxruntime', 'mutagen', 'soxr')\n"
        "print(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_daemon_keeps_pandas_out() -> None:
    code = (
        "import sys\n"
        "from nightowl.cli import keep_daemon_small\n"
        "keep_daemon_small()\n"
        "from nightowl.service import Daemon\n"
        "from nightowl.store import Store\n"
        "print(sys.modules.get('pandas') is None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_nightowl_run_starts_without_pandas(tmp_path: Path) -> None:
    """The command line itself imports nothing that brings pandas in before `run` keeps
    it out (about 30 MB of the daemon's RSS): what is loaded when `run` begins."""
    config = tmp_path / "config.toml"
    config.write_text(f'output = "out"\nstate_dir = "state"\nrules = [{str(REPO / "rules" / "default.toml")!r}]\n'
                      '[[inboxes]]\npath = "inbox"\n')
    code = (
        "import sys\n"
        "from nightowl import cli\n"
        "cli.run.callback = lambda *a, **k: print(' '.join(m for m in ('pandas', 'numpy', 'sqlite_utils')"
        " if m in sys.modules))\n"
        f"cli.main(['--config', {str(config)!r}, 'run'], standalone_mode=False)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
