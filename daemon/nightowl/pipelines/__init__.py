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


class PodcastParams(PipelineParams):
    # music bed: "auto" separates when the classifier heard music under the speech
    separate: Literal["auto", "always", "never"] = "auto"
    demucs_model: str = "htdemucs"  # a Demucs model name, or a local model folder
    bed_level_db: float = Field(default=0.0, le=12)  # the bed's level in the master, relative to the original
    # speech denoising (DeepFilterNet3): "auto" skips clean studio speech
    denoise: Literal["auto", "on", "off"] = "auto"
    denoise_strength_db: float = Field(default=30.0, gt=0, le=100)  # how far noise may be pulled down
    # diarization (pyannote): a hub pipeline id or a local pipeline folder
    diarize: bool = True
    diarization_model: str = "pyannote/speaker-diarization-community-1"
    num_speakers: int | None = Field(default=None, ge=1)
    min_speakers: int | None = Field(default=None, ge=1)
    max_speakers: int | None = Field(default=None, ge=1)
    speaker_names: dict[str, str] = Field(default_factory=dict)  # SPEAKER_00 = "Alice"
    # transcription (faster-whisper): a model name (tiny.en ships with nightowl) or a local folder
    whisper_model: str = "tiny.en"
    language: str | None = None  # None: detected
    compute_type: str | None = None  # None: int8 on the CPU, float16 on a GPU
    beam_size: int = Field(default=5, ge=1)
    batch_size: int | None = Field(default=None, ge=1)  # None: 8 on a GPU, 1 (in order) on the CPU
    transcripts: list[Literal["srt", "vtt", "json", "txt"]] = Field(
        default_factory=lambda: ["srt", "vtt", "json", "txt"])
    # the master: loudness-normalised FLAC, and optionally lossy copies
    master: bool = True
    master_formats: list[Literal["mp3", "opus"]] = Field(default_factory=list)
    target_lufs: float | None = Field(default=None, ge=-40, le=-5)  # None: -16 stereo, -19 mono
    true_peak_dbtp: float = Field(default=-1.0, ge=-9, le=0)
    tags: bool = True


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
        Pipeline(
            name="podcast",
            module="nightowl.pipelines.podcast",
            params=PodcastParams,
            device="gpu",
            summary="speech cleaned, diarized, transcribed (SRT/VTT/JSON/TXT), loudness-normalised master",
        ),
        Pipeline(name="concert", module="nightowl.pipelines.concert", params=PlannedParams, device="gpu",
                 summary="audience recordings: less room and crowd (not built yet)", available=False),
    ]
}


def pipeline_shown(name: str | None) -> str:
    """A rule's pipeline as people are told it: a rule may name one this version does not
    have yet, for which the daemon queues nothing (and says so in its log)."""
    if not name:
        return "none"
    if name in PIPELINES and not PIPELINES[name].available:
        return f"{name} (not in this version yet: nothing is queued)"
    return name
