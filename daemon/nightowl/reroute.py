"""`nightowl reroute`: the rules, as they are now, decide afresh for files taken in earlier.

After an edit to the rules (and `systemctl reload nightowl`), new files follow the new
rules; this applies them to the files already known too. Jobs the rules now ask for are
queued (none twice for the same content), queued jobs they no longer ask for are
cancelled, and jobs done stay done. Nothing is analysed again: the stored class and
evidence are what the rules see.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .config import Settings
from .devices import use_gpu
from .eventlog import record
from .intake import facts_of_row, route_file
from .pipelines import PIPELINES
from .rules import Rule, decide
from .store import Store


def reroute(settings: Settings, rules: list[tuple[Rule, str]], paths: list[str] | None,
            dry_run: bool = False) -> Iterator[str]:
    """Re-route the classified files at or under `paths` (all of them without); say what changed."""
    gpu = use_gpu(settings.device)
    store = Store(settings.database)
    files = queued = cancelled = 0
    try:
        for row in store.classified_files(paths):
            files += 1
            facts = facts_of_row(row)  # a label is the stored class already
            if dry_run:
                # the same questions the real run asks: queue_job's, and cancel_queued's
                wanted = [(p, params) for p, params in decide(rules, facts).jobs if PIPELINES[p].available]
                for pipeline, params in wanted:
                    if not store.has_job(row.id, pipeline, params):
                        yield f"would queue {pipeline}{_shown(pipeline, params)}  {row.path}"
                for job in store.unwanted_queued(row.id, wanted):
                    yield f"would cancel job {job.id}: {job.pipeline}{_shown(job.pipeline, job.params)}  {row.path}"
                continue
            decision, new = route_file(settings, store, rules, gpu, row.id, row.path, facts, quiet=True)
            for job_id in new:
                queued += 1
                job = store.job(job_id)
                shown = f"{job.pipeline}{_shown(job.pipeline, job.params)}" if job else "?"
                yield f"queued job {job_id}: {shown}  {row.path}"
            for job_id in store.cancel_queued(row.id, keep=decision.jobs):
                cancelled += 1
                record(store, "cancelled", f"job {job_id} cancelled: the rules no longer ask for it",
                       path=row.path, file_id=row.id, job_id=job_id)
                yield f"cancelled job {job_id}  {row.path}"
        if not dry_run:
            yield f"{files} file(s) re-routed: {queued} job(s) queued, {cancelled} cancelled"
        else:
            yield f"{files} file(s) looked at; nothing changed (--dry-run)"
    finally:
        store.close()


def _shown(pipeline: str, params: dict[str, Any]) -> str:
    """The parameters a rule sets away from the pipeline's defaults: ` (format=wav)`."""
    defaults = PIPELINES[pipeline].params().model_dump() if pipeline in PIPELINES else {}
    changed = {k: v for k, v in sorted(params.items()) if defaults.get(k, object()) != v}
    return f" ({', '.join(f'{k}={v}' for k, v in changed.items())})" if changed else ""
