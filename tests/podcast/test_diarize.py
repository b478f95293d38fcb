"""Diarization: pyannote.audio 4's real loading and inference path, on a tiny random pipeline.

The tiny pipeline (tests/podcast/tiny_models.py) is random: its turns mean nothing. What the
test proves is that a local folder in the community-1 layout loads through
`Pipeline.from_pretrained`, runs end to end on in-memory audio, and comes back as `Turn`s.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

# tests/conftest.py sets HF_HUB_OFFLINE=1 and PYANNOTE_METRICS_ENABLED=0 before this is imported
from nightowl.podcast.diarize import (
    DEFAULT_PIPELINE,
    DiarizeError,
    diarize,
    load_pipeline,
    pipeline_version,
    resolve,
)
from nightowl.podcast.turns import Turn, read_rttm

from tests.podcast.tiny_models import build_tiny_pyannote

pytestmark = pytest.mark.usefixtures("one_thread")

SAMPLE = Path(importlib.util.find_spec("pyannote.audio").submodule_search_locations[0]) / "sample"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return build_tiny_pyannote(tmp_path_factory.mktemp("pyannote") / "tiny-community-1")


def test_tiny_pipeline_layout(tiny_folder):
    files = sorted(str(p.relative_to(tiny_folder)) for p in tiny_folder.rglob("*") if p.is_file())
    assert files == ["config.yaml", "embedding/pytorch_model.bin", "plda/plda.npz",
                     "plda/xvec_transform.npz", "segmentation/pytorch_model.bin"]
    assert "$model/segmentation" in (tiny_folder / "config.yaml").read_text()


def test_diarize_end_to_end_on_tiny_pipeline(tiny_folder, one_thread):
    import soundfile as sf
    from pyannote.audio.pipelines import SpeakerDiarization

    pipeline = load_pipeline(tiny_folder)  # the real Pipeline.from_pretrained(folder) path
    assert isinstance(pipeline, SpeakerDiarization)
    assert str(tiny_folder) in pipeline_version(pipeline)
    assert pipeline_version(pipeline).startswith("pyannote.audio 4.")

    audio, sr = sf.read(SAMPLE / "sample.wav", dtype="float32")
    assert sr == 16000
    audio = audio[: 10 * sr]
    turns = diarize(pipeline, audio, sr, num_speakers=2)

    assert isinstance(turns, list) and turns
    assert all(isinstance(t, Turn) for t in turns)
    assert all(0.0 <= t.start < t.end <= 10.0 + 1e-6 for t in turns)
    assert turns == sorted(turns)
    assert all(isinstance(t.speaker, str) and t.speaker.startswith("SPEAKER_") for t in turns)
    assert 1 <= len({t.speaker for t in turns}) <= 2

    assert diarize(pipeline, audio[:0], sr) == []


def test_models_dir_keeps_the_hub_id_as_a_relative_path(tmp_path, tiny_folder):
    models = tmp_path / "models"
    target = models / "pyannote" / "speaker-diarization-community-1"
    assert resolve(DEFAULT_PIPELINE, models) == (DEFAULT_PIPELINE, False)
    target.mkdir(parents=True)
    (target / "config.yaml").write_text((tiny_folder / "config.yaml").read_text())
    assert resolve(DEFAULT_PIPELINE, models) == (str(target), True)


def test_missing_pipeline_offline_fails_fast_and_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(DiarizeError) as err:
        load_pipeline("nightowl-test/no-such-diarization-pipeline", models_dir=tmp_path)
    assert time.monotonic() - started < 5.0
    message = str(err.value)
    assert "\n" not in message
    assert "no-such-diarization-pipeline" in message
    assert "unreachable" in message and "nightowl models fetch" in message


def test_missing_folder_and_bad_folder(tmp_path):
    with pytest.raises(DiarizeError, match="does not exist"):
        load_pipeline(tmp_path / "nowhere")
    with pytest.raises(DiarizeError, match="no config.yaml"):
        load_pipeline(tmp_path)


def test_read_rttm_of_pyannote_sample():
    turns = read_rttm((SAMPLE / "sample.rttm").read_text())
    assert len(turns) == 10
    assert len({t.speaker for t in turns}) == 2
    assert turns == sorted(turns)
    assert all(t.start < t.end <= 30.0 for t in turns)


def test_bare_annotation_output_and_hints_passed_only_when_set():
    import numpy as np
    from pyannote.core import Annotation, Segment

    calls = []

    def legacy_pipeline(file, **hints):  # what a pipeline with legacy=True returns
        calls.append((file["waveform"].shape, file["sample_rate"], hints))
        annotation = Annotation(uri=file["uri"])
        annotation[Segment(2.0, 3.5)] = "SPEAKER_01"
        annotation[Segment(0.5, 2.0)] = "SPEAKER_00"
        annotation[Segment(1.0, 1.0)] = "SPEAKER_00"  # empty: dropped
        return annotation

    turns = diarize(legacy_pipeline, np.zeros(16000 * 4, dtype=np.float32), min_speakers=1, max_speakers=3)
    assert turns == [Turn(0.5, 2.0, "SPEAKER_00"), Turn(2.0, 3.5, "SPEAKER_01")]
    assert calls == [((1, 64000), 16000, {"min_speakers": 1, "max_speakers": 3})]
    diarize(legacy_pipeline, np.zeros(1600, dtype=np.float32))
    assert calls[-1][2] == {}
    with pytest.raises(DiarizeError):
        diarize(legacy_pipeline, np.zeros(1600, dtype=np.float32), min_speakers=3, max_speakers=2)
