"""What a pipeline gets to run one job: the input, where outputs go, params, a progress callback."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..outputs import OutputError, clear_stale_temporaries, mirror_path

ProgressFn = Callable[[str, float | None], None]


@dataclass
class JobContext:
    input: Path
    rel_path: str  # the input's path inside its inbox; outputs mirror it
    output_root: Path
    output_folder: str  # the rule's subfolder of the output root
    params: dict[str, Any]
    fingerprint: str
    # the worker's slot ("cpu" or "gpu"), or "auto" when run from the command line
    device: str = "cpu"
    progress: ProgressFn = field(default=lambda stage, fraction: None)
    # the active registered model of each kind ("restore": checkpoint path), if any
    models: dict[str, str] = field(default_factory=dict)
    # where fetched models live (Whisper, pyannote, Demucs), and where a job keeps the
    # checkpoints of its finished stages until its outputs are in place
    models_dir: Path | None = None
    work_dir: Path | None = None
    # what the classifier found about the file (probe, speech features...), when it ran
    evidence: dict[str, Any] = field(default_factory=dict)
    # False for the daemon's jobs: the output folder is there, and where it is gone (a
    # share unmounted) it is not made again under the mount point; `nightowl process`
    # and direct calls make the folder they are told to write to
    make_output_root: bool = True
    # the name (without extension) the outputs take, where it is not the input's own: the
    # daemon names them when it queues the job, so that two inputs' outputs never take one
    # name (see store.Store._name_outputs)
    output_name: str | None = None

    @property
    def torch_device(self) -> str:
        """The device setting for a model: "cpu" on a CPU slot, else "auto" (CUDA when torch sees one).

        A GPU slot still says "auto", not "cuda": a driver torch cannot use then costs
        speed, not the job.
        """
        return "cpu" if self.device == "cpu" else "auto"

    def output_path(self, suffix: str) -> Path:
        if not self.make_output_root and not self.output_root.is_dir():  # a share unmounted since the job started
            raise OutputError(f"the output folder {self.output_root} is missing (a share not mounted?): "
                              "nothing written; the job is tried again later")
        dest = mirror_path(self.output_root, self.output_folder, self.rel_path, suffix, self.output_name)
        clear_stale_temporaries(dest)
        return dest

    def already_done(self, report: Path) -> list[str] | None:
        """The outputs of an earlier run of this same input and params, if all are still there."""
        try:
            data = json.loads(report.read_text())
        except (OSError, ValueError):
            return None
        job = data.get("job") or {}
        if job.get("fingerprint") != self.fingerprint or job.get("params") != self.params:
            return None
        outputs = [str(report), *job.get("outputs", [])]
        return outputs if all(Path(p).exists() for p in outputs) else None

    def skip_if_done(self, report: Path) -> list[str] | None:
        """`already_done`, saying so in the job's progress when it is."""
        done = self.already_done(report)
        if done is not None:
            self.progress("skipped: already done", 1.0)
        return done

    def job_record(self, pipeline: str, outputs: list[Path]) -> dict[str, Any]:
        """The block every report carries so a rerun can tell the job is already done."""
        from .. import __version__

        return {
            "pipeline": pipeline,
            "input": str(self.input),
            "fingerprint": self.fingerprint,
            "params": self.params,
            "outputs": [str(p) for p in outputs],
            "nightowl": __version__,
        }
