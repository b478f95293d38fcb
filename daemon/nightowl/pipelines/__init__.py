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
        *(
            Pipeline(name=name, module=f"nightowl.pipelines.{name}", params=PlannedParams, device="gpu",
                     summary=summary, available=False)
            for name, summary in (
                ("restore", "lossy music to full-band 24-bit FLAC (not built yet)"),
                ("concert", "audience recordings: less room and crowd (not built yet)"),
                ("podcast", "speech cleaned, diarized and transcribed (not built yet)"),
            )
        ),
    ]
}
