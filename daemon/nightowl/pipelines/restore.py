"""The restore pipeline: lossy music to full-band 44.1 kHz 24-bit FLAC (or WAV).

Stages: probe, decode, restore (engine + deficit gate), write (audio, then tags and
cover art, checked, renamed into place), report. The report goes last: its
presence means the outputs are complete, and a rerun with the same input and
parameters finds it and skips.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .. import __version__
from ..audio.decode import DecodeError, decode
from ..audio.probe import Probe, probe
from ..audio.tags import Tags, is_restored, read_tags, restored_tags, write_tags
from ..outputs import atomic_output, audio_check, write_json
from ..restore.engine import (
    SAMPLE_RATE,
    Estimator,
    Restored,
    find_cutoff,
    restore,
    to_output_rate,
)
from ..restore.gate import GateSettings
from . import RestoreParams
from .context import JobContext

NAME = "restore"
SUBTYPE = "PCM_24"


class RestoreError(Exception):
    """The job cannot be done as asked (for example: a model was asked for, none is active)."""


def note(cutoff_hz: float | None) -> str:
    """What the restored file says about itself, in its tags and its report."""
    if cutoff_hz is None:
        return "No band was missing; the audio is the input's, unchanged."
    return (f"Frequencies above {cutoff_hz / 1000:.1f} kHz were missing and are a plausible "
            "synthesis by nightowl, not recovered data.")


def _model_path(ctx: JobContext, params: RestoreParams) -> str | None:
    """The checkpoint the job uses, or None for the DSP engine."""
    if params.engine == "dsp":
        return None
    path = ctx.models.get("restore")
    if path is None and params.engine == "model":
        raise RestoreError("engine = \"model\" but no restore model is active (see `nightowl models`)")
    return path


def _estimator(ctx: JobContext, params: RestoreParams) -> Estimator | None:
    path = _model_path(ctx, params)
    if path is None:
        return None
    from ..restore.neural import NeuralEstimator  # torch: only when a model is used

    return NeuralEstimator.from_checkpoint(path, device=ctx.torch_device)


def _bitrate_kbps(info: Probe) -> float | None:
    return info.bitrate / 1000 if info.bitrate and not info.lossless else None


def _lossless_check(ctx: JobContext, info: Probe) -> dict[str, Any]:
    """The lossless check's report on a lossless input: the one intake stored with the
    file, or, where there is none (`nightowl process` on a file the daemon has not
    taken in), a fresh one, which reads four short excerpts. Empty for lossy files."""
    if not info.lossless:
        return {}
    stored = ctx.evidence.get("lossless_check")
    if stored:
        return dict(stored)
    # the check's transforms are imported only where they run
    from ..classify.analyse import lossless_check_of

    try:
        return lossless_check_of(ctx.input, info)
    except DecodeError:
        return {}  # restore's own decode says what is wrong with the file


def known_lossy(check: dict[str, Any], info: Probe) -> bool:
    """Has the input been through a lossy codec: a lossy file, or one the lossless check
    called a transcode? (The engine then takes weaker edges for the codec's lowpass.)"""
    return not info.lossless or check.get("verdict") == "transcoded"


def source_codec(check: dict[str, Any], info: Probe) -> str | None:
    """The lossy codec the input came through, if known: the file's own, or the family
    the lossless check named in a transcode (the engine fills MP3's holes)."""
    if not info.lossless:
        return info.codec
    return check.get("source_codec") if check.get("verdict") == "transcoded" else None


def plan(ctx: JobContext) -> dict[str, Any]:
    """What a run would do, without writing anything (`nightowl process --dry-run`)."""
    params = RestoreParams.model_validate(ctx.params)
    info = probe(ctx.input)
    dest = ctx.output_path(f".{params.format}")
    out: dict[str, Any] = {"input": str(ctx.input), "output": str(dest)}
    if is_restored(ctx.input):
        return {**out, "action": "skip", "reason": "the input is already a restored file"}
    if ctx.already_done(ctx.output_path(".restore.json")) is not None:
        return {**out, "action": "skip", "reason": "already done with these parameters"}
    check = _lossless_check(ctx, info)
    audio, sr = decode(ctx.input)
    x = to_output_rate(audio, sr)
    cutoff = find_cutoff(x, SAMPLE_RATE, _bitrate_kbps(info), lossy=known_lossy(check, info))
    engine = "dsp" if _model_path(ctx, params) is None else "model"
    return {**out, "action": "restore" if cutoff.hz else "copy (nothing missing)",
            "cutoff_hz": cutoff.hz, "engine": engine, "lossless_check": check.get("verdict"),
            "source_codec": source_codec(check, info),
            "from": f"{info.codec} {info.sample_rate} Hz {info.channels} ch"}


def _write(dest: Path, result: Restored, params: RestoreParams, tags: Tags | None) -> None:
    audio = result.audio
    check = audio_check(len(audio), audio.shape[1], result.sample_rate)
    with atomic_output(dest, check) as tmp:
        sf.write(str(tmp), audio, result.sample_rate, subtype=SUBTYPE, format=params.format.upper())
        if tags is not None:
            write_tags(tmp, tags)


def run(ctx: JobContext) -> list[str]:
    params = RestoreParams.model_validate(ctx.params)
    report_path = ctx.output_path(".restore.json")
    done = ctx.skip_if_done(report_path)
    if done is not None:
        return done
    if is_restored(ctx.input):
        # restoring a restored file would synthesise on top of a synthesis
        ctx.progress("skipped: input is already restored", 1.0)
        return []

    timings: dict[str, float] = {}
    t = time.perf_counter()
    ctx.progress("probe", 0.02)
    info = probe(ctx.input)
    ctx.progress("decode", 0.05)
    audio, sr = decode(ctx.input)
    if audio.size == 0:
        raise RestoreError(f"{ctx.input.name}: no audio samples")
    timings["decode"] = time.perf_counter() - t

    t = time.perf_counter()
    estimator = _estimator(ctx, params)
    check = _lossless_check(ctx, info)
    codec = source_codec(check, info)
    result = restore(audio, sr, estimator=estimator,
                     gate=GateSettings(params.gate_threshold_db, params.gate_range_db),
                     bitrate_kbps=_bitrate_kbps(info), lossy=known_lossy(check, info),
                     source_codec=codec,
                     progress=lambda f: ctx.progress("restore", 0.1 + 0.75 * f))
    timings["restore"] = time.perf_counter() - t

    ctx.progress("write", 0.88)
    t = time.perf_counter()
    version = estimator.version if estimator is not None else __version__
    when = datetime.now(UTC).replace(microsecond=0).isoformat()
    tags = None
    if params.tags:
        tags = restored_tags(read_tags(ctx.input), engine=result.engine, version=version, when=when,
                             note=note(result.cutoff.hz))
    dest = ctx.output_path(f".{params.format}")
    _write(dest, result, params, tags)
    timings["write"] = time.perf_counter() - t

    peak = float(np.max(np.abs(result.audio))) if result.audio.size else 0.0
    report = {
        "file": ctx.rel_path,
        "output": str(dest),
        "engine": result.engine,
        "engine_version": version,
        # where the model ran: a GPU slot whose job ran on the CPU shows here (driver, sandbox)
        "engine_device": estimator.device.type if estimator is not None else "cpu",
        "cutoff_hz": None if result.cutoff.hz is None else round(result.cutoff.hz, 1),
        "filled_share": round(result.changed_share, 4),
        "lossless_check": check.get("verdict"),
        "source_codec": codec,
        "hole_share": round(result.hole_share, 4),
        "note": note(result.cutoff.hz),
        "gate": {"threshold_db": params.gate_threshold_db, "range_db": params.gate_range_db},
        "output_format": {"format": params.format, "sample_rate": result.sample_rate,
                          "bit_depth": 24, "channels": int(result.audio.shape[1]), "peak": round(peak, 6)},
        "restored_at": when,
        "probe": info.to_dict(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "job": ctx.job_record(NAME, [dest]),
    }
    write_json(report_path, report)
    ctx.progress("done", 1.0)
    return [str(report_path), str(dest)]
