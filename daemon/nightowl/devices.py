"""Is there a GPU? Answered without importing torch (the daemon never does)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Mapping


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


def gpu_ids(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The GPUs a job may be given, as CUDA_VISIBLE_DEVICES names them.

    The daemon's own CUDA_VISIBLE_DEVICES when it has one (a service limited to some
    GPUs); else each GPU's UUID from `nvidia-smi -L` (UUIDs, not indices: CUDA may
    number the GPUs in another order than the driver does). Empty when neither says:
    jobs are then not pinned and CUDA picks.
    """
    given = environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [x.strip() for x in given.split(",") if x.strip()]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return re.findall(r"\(UUID: (GPU-[0-9a-fA-F-]+)\)", out.stdout) if out.returncode == 0 else []


def least_busy(ids: list[str], busy: list[str]) -> str | None:
    """Of `ids`, the GPU running the fewest jobs (`busy`: one entry per running job), the first on a tie."""
    if not ids:
        return None
    return min(ids, key=lambda gpu: (busy.count(gpu), ids.index(gpu)))
