"""The child process that runs one job: `python -m nightowl.jobrun DB JOB_ID OUTPUT_ROOT [MODELS_DIR]`.

A fresh interpreter per job: heavy imports, GPU memory and crashes stay out of
the daemon. The child writes progress, outputs and errors to the job row; the
daemon owns the job's state and decides about retries.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

from .models.registry import active_paths
from .pipelines import PIPELINES
from .pipelines.context import JobContext
from .store import Store


def run_job(store: Store, job_id: int, output_root: Path, models_dir: Path | None = None) -> bool:
    job = store.job(job_id)
    if job is None:
        raise SystemExit(f"job {job_id} not found")
    file = store.file(job.file_id)
    assert file is not None
    last_write = 0.0

    last_stage: str | None = None

    def progress(stage: str, fraction: float | None) -> None:
        nonlocal last_write, last_stage
        now = time.monotonic()
        # throttle database writes; stage changes always go through
        if now - last_write > 0.5 or fraction in (None, 0.0, 1.0) or stage != last_stage:
            store.set_progress(job_id, stage, fraction)
            last_write, last_stage = now, stage

    ctx = JobContext(
        input=Path(file.path),
        rel_path=file.rel_path,
        output_root=output_root,
        output_folder=job.output_folder,
        params=job.params,
        fingerprint=file.fingerprint,
        device=job.device,
        progress=progress,
        models=active_paths(store),
        models_dir=models_dir,
        work_dir=store.path.parent / "work",
        evidence=file.evidence or {},
        make_output_root=False,
        output_name=job.output_name,
    )
    started = time.perf_counter()
    try:
        module = importlib.import_module(PIPELINES[job.pipeline].module)
        outputs = module.run(ctx)
    except Exception as exc:  # any failure is the job's, reported on its row
        store.record_error(job_id, f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
        return False
    store.record_result(job_id, list(outputs), {"total": round(time.perf_counter() - started, 3)})
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    db, job_id, output_root = Path(args[0]), int(args[1]), Path(args[2])
    models_dir = Path(args[3]) if len(args) > 3 else None
    store = Store(db)
    try:
        return 0 if run_job(store, job_id, output_root, models_dir) else 1
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
