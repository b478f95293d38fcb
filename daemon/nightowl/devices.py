"""Is there a GPU? Answered without importing torch (the daemon never does)."""

from __future__ import annotations

import glob
import shutil
import subprocess


def gpu_present() -> bool:
    """An NVIDIA GPU with a working driver is visible to this process."""
    if not glob.glob("/dev/nvidia[0-9]*"):
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return True  # device nodes without the tool: trust the nodes
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def use_gpu(device: str) -> bool:
    """Whether GPU pipelines get a GPU slot, given the `device` setting (auto|cpu|cuda)."""
    if device == "cpu":
        return False
    return gpu_present()
