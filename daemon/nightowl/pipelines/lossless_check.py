"""The lossless-check pipeline: a JSON report and a spectrogram as proof, into the mirror."""

from __future__ import annotations

import time
from pathlib import Path

from ..audio.decode import decode
from ..audio.probe import probe
from ..audio.spectrogram import render_spectrogram
from ..classify.analyse import lossless_check_of
from ..outputs import atomic_output, check_png, write_json
from . import LosslessCheckParams
from .context import JobContext

NAME = "lossless_check"


def run(ctx: JobContext) -> list[str]:
    """Check the input and write `<name>.lossless.json` and `<name>.spectrogram.png`."""
    params = LosslessCheckParams.model_validate(ctx.params)
    report_path = ctx.output_path(".lossless.json")
    done = ctx.skip_if_done(report_path)
    if done is not None:
        return done

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ctx.progress("probe", 0.05)
    info = probe(ctx.input)
    ctx.progress("check", 0.15)
    check = lossless_check_of(ctx.input, info)
    timings["check"] = time.perf_counter() - t0

    outputs: list[Path] = []
    if params.spectrogram:
        ctx.progress("spectrogram", 0.5)
        t1 = time.perf_counter()
        seconds = min(params.spectrogram_seconds, info.duration)
        start = max(0.0, (info.duration - seconds) / 2)
        audio, sr = decode(ctx.input, start=start, duration=seconds)
        image = ctx.output_path(".spectrogram.png")
        title = f"{Path(ctx.rel_path).name}: {check['verdict']}"
        if check.get("source_codec"):
            title += f" (from {check['source_codec']})"
        with atomic_output(image, check_png) as tmp:
            render_spectrogram(audio, sr, tmp, cutoff_hz=check.get("cutoff_hz"), title=title)
        outputs.append(image)
        timings["spectrogram"] = time.perf_counter() - t1

    ctx.progress("report", 0.95)
    report = {
        "file": ctx.rel_path,
        "verdict": check["verdict"],
        "source_codec": check.get("source_codec"),
        "cutoff_hz": check.get("cutoff_hz"),
        "confidence": check.get("confidence"),
        "reasons": check.get("reasons", []),
        "features": check.get("features", {}),
        "probe": info.to_dict(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "job": ctx.job_record(NAME, outputs),
    }
    # the report goes last: its presence means the job's outputs are complete
    write_json(report_path, report)
    return [str(report_path), *map(str, outputs)]
