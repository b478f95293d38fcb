"""The pipelines nightowl can run, and what a rule may set for each.

This module stays light (no numpy, no models): the daemon and `rules check`
import it to validate rules. The heavy code of a pipeline lives in its own
module and is imported only in the child process that runs a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PipelineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LosslessCheckParams(PipelineParams):
    spectrogram: bool = True
    # seconds of audio drawn in the spectrogram image (from the middle of the file)
    spectrogram_seconds: float = Field(default=60.0, gt=0)


class RestoreParams(PipelineParams):
    format: Literal["flac", "wav"] = "flac"  # 44.1 kHz 24-bit either way
    tags: bool = True  # carry the input's tags and cover art, and say it was restored
    # "auto": the active registered model if there is one, else the DSP engine
    engine: Literal["auto", "dsp", "model"] = "auto"
    # the deficit gate: nothing is added under `gate_threshold_db` of deficit, all of the
    # estimate from `gate_threshold_db + gate_range_db` on
    gate_threshold_db: float = Field(default=10.0, ge=0)
    gate_range_db: float = Field(default=10.0, gt=0)


class PlannedParams(PipelineParams):
    """Parameters of a pipeline that is not built yet: any are accepted and kept."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class Pipeline:
    name: str
    module: str
    params: type[PipelineParams]
    # "gpu" pipelines take a GPU slot when a GPU is there and run on the CPU otherwise
    device: Literal["cpu", "gpu"]
    summary: str
    # rules may already name a planned pipeline; nothing is queued for it until it exists
    available: bool = True


PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in [
        Pipeline(
            name="lossless_check",
            module="nightowl.pipelines.lossless_check",
            params=LosslessCheckParams,
            device="cpu",
            summary="fake-lossless report: verdict, source codec, cutoff, spectrogram",
        ),
        Pipeline(
            name="restore",
            module="nightowl.pipelines.restore",
            params=RestoreParams,
            device="gpu",
            summary="lossy music to full-band 44.1 kHz 24-bit FLAC, tags and cover kept",
        ),
        *(
            Pipeline(name=name, module=f"nightowl.pipelines.{name}", params=PlannedParams, device="gpu",
                     summary=summary, available=False)
            for name, summary in (
                ("concert", "audience recordings: less room and crowd (not built yet)"),
                ("podcast", "speech cleaned, diarized and transcribed (not built yet)"),
            )
        ),
    ]
}
