"""Voice / bed separation through the real demucs loader and `apply_model`, on a tiny random
HTDemucs (tests/podcast/tiny_demucs.py): shapes, rates, lengths, the loader's lookups, and the
offline failure. Random weights separate nothing, so only properties that hold for any model
are checked."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
from nightowl.podcast.separate import (
    DEFAULT_MODEL,
    SeparateError,
    load_model,
    model_description,
    separate,
)

from tests.podcast.tiny_demucs import build_tiny_demucs

pytestmark = pytest.mark.usefixtures("one_thread")

torch = pytest.importorskip("torch")
pytest.importorskip("demucs")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return build_tiny_demucs(tmp_path_factory.mktemp("demucs") / "tiny")


@pytest.fixture(scope="module")
def model(tiny_folder):
    return load_model(str(tiny_folder))


def _signal(seconds: float, rate: int, channels: int | None, seed: int = 0) -> np.ndarray:
    """A voice-like tone plus a noise bed, float32, (frames,) or (frames, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    if channels is None:
        return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    noise = 0.05 * rng.standard_normal((t.size, channels))
    return (tone[:, None] * np.linspace(1.0, 0.6, channels) + noise).astype(np.float32)


def test_tiny_folder_layout(tiny_folder):
    names = sorted(p.name for p in tiny_folder.iterdir())
    assert len(names) == 2 and names[0] == "tiny.yaml"
    weights = names[1]  # <sig>-<first 8 hex of its sha256>.th, as LocalRepo checks it
    assert weights.startswith("tiny0-") and weights.endswith(".th")
    digest = hashlib.sha256((tiny_folder / weights).read_bytes()).hexdigest()
    assert weights == f"tiny0-{digest[:8]}.th"
    assert (tiny_folder / "tiny.yaml").read_text().strip() == "models: ['tiny0']"
    # deterministic: a second build writes the very same bytes
    again = build_tiny_demucs(tiny_folder.parent / "again")
    assert sorted(p.name for p in again.iterdir()) == names


def test_loads_folder_through_demucs(model, tiny_folder):
    from demucs.apply import BagOfModels

    assert isinstance(model, BagOfModels) and not model.training
    info = model_description(model, str(tiny_folder))
    assert info["sources"] == ["drums", "bass", "other", "vocals"]
    assert info["samplerate"] == 44100 and info["audio_channels"] == 2 and info["models"] == 1
    assert info["source"] == str(tiny_folder) and info["demucs"] == "4.1.0"
    # the bag file itself, too
    assert load_model(str(tiny_folder / "tiny.yaml")).sources == model.sources


def test_stereo_44k_end_to_end(model):
    audio = _signal(3.0, 44100, 2)
    seen: list[float] = []
    voice, bed = separate(model, audio, 44100, progress=seen.append)
    for out in (voice, bed):
        assert out.shape == audio.shape and out.dtype == np.float32
        assert np.all(np.isfinite(out)) and np.abs(out).max() > 0
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen) and len(seen) > 3  # 0, one per chunk but the last, 1
    # The stems are not constrained to sum to the mix (HTDemucs, random weights): no
    # voice + bed == audio check. Deterministic (no random shifts):
    voice2, bed2 = separate(model, audio, 44100)
    np.testing.assert_array_equal(voice, voice2)
    np.testing.assert_array_equal(bed, bed2)


def test_mono_16k_end_to_end(model):
    audio = _signal(3.0, 16000, None, seed=1)
    voice, bed = separate(model, audio, 16000)
    assert voice.shape == bed.shape == (48000,)
    assert voice.dtype == bed.dtype == np.float32
    assert np.all(np.isfinite(voice)) and np.all(np.isfinite(bed))
    # (frames, 1) is mono too and gives the same result
    v1, _ = separate(model, audio[:, None], 16000)
    assert v1.shape == (48000, 1)
    np.testing.assert_allclose(v1[:, 0], voice, atol=1e-6)


def test_scale_equivariant_and_silence(model):
    """True of any model: the mix is normalised by its std before the model and the stems
    scaled back after, so scaling the input scales both outputs, and silence stays silent."""
    audio = _signal(0.8, 22050, 2, seed=2)
    voice, bed = separate(model, audio, 22050)
    voice_h, bed_h = separate(model, 0.25 * audio, 22050)
    np.testing.assert_allclose(voice_h, 0.25 * voice, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(bed_h, 0.25 * bed, rtol=1e-3, atol=1e-6)
    silent_v, silent_b = separate(model, np.zeros((5000, 2), np.float32), 44100)
    assert silent_v.shape == (5000, 2)
    assert np.abs(silent_v).max() < 1e-5 and np.abs(silent_b).max() < 1e-5
    empty_v, empty_b = separate(model, np.zeros(0, np.float32), 16000)
    assert empty_v.shape == empty_b.shape == (0,)


def test_missing_voice_stem(model):
    with pytest.raises(SeparateError, match="no 'speech' stem"):
        separate(model, _signal(0.2, 44100, 2), 44100, voice_stem="speech")


def test_loads_name_from_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_tiny_demucs(tmp_path / "models" / "demucs", name=DEFAULT_MODEL)
    model = load_model(DEFAULT_MODEL, models_dir=tmp_path / "models")
    assert list(model.sources) == ["drums", "bass", "other", "vocals"] and not model.training
    voice, bed = separate(model, _signal(0.5, 44100, 2), 44100)
    assert voice.shape == bed.shape == (22050, 2)


@pytest.mark.parametrize("name", [DEFAULT_MODEL, "no_such_demucs_model"])
def test_unavailable_offline_fails_fast(name, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # empty caches, so the test does not depend on what this machine has downloaded
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "models" / "demucs").mkdir(parents=True)  # a models dir without it
    start = time.monotonic()
    with pytest.raises(SeparateError) as info:
        load_model(name, models_dir=tmp_path / "models")
    assert time.monotonic() - start < 5
    assert str(info.value) == (
        f"demucs model {name!r} is not available offline; "
        "run `nightowl models fetch` online or set demucs_model to a local folder")


def test_missing_folder(tmp_path):
    with pytest.raises(SeparateError, match="does not exist"):
        load_model(str(tmp_path / "nowhere"))


def test_long_audio_goes_in_cross_faded_blocks(model, monkeypatch):
    """A long episode is separated a few minutes at a time, blocks cross-faded: the result
    keeps its shape, progress runs over all blocks, and it stays linear in the input."""
    import nightowl.podcast.separate as sep

    monkeypatch.setattr(sep, "BLOCK_S", 1.0)
    monkeypatch.setattr(sep, "FADE_S", 0.1)
    audio = _signal(3.5, 44100, 2, seed=3)
    seen: list[float] = []
    voice, bed = separate(model, audio, 44100, progress=seen.append)
    assert voice.shape == bed.shape == audio.shape and np.all(np.isfinite(voice))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    unblocked = sep._chunk_count(model, len(audio))
    assert len(seen) > unblocked  # more chunks: every block overlaps its neighbours
    half_v, half_b = separate(model, 0.5 * audio, 44100)
    np.testing.assert_allclose(half_v, 0.5 * voice, rtol=1e-3, atol=1e-6)
