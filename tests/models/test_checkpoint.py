"""Checkpoints: what goes in comes back, and every unusable file is refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import torch

from nightowl.models.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from nightowl.models.unet import N_BINS, UNet

TRAINING = {"steps": 1200, "dataset": "corpus-v1", "lr": 0.0003}
METRICS = {"lsd_db": 1.25, "si_sdr_db": 18.5}


def tiny(attention: bool = True) -> UNet:
    torch.manual_seed(0)
    return UNet(base=4, depth=2, attention=attention).eval()


def save(path: Path, model: UNet | None = None, **kw: Any) -> Path:
    args: dict[str, Any] = {"version": "2025.1", "training": TRAINING, "metrics": METRICS} | kw
    return save_checkpoint(path, model or tiny(), **args)


def rewrite(path: Path, change: dict[str, Any]) -> None:
    """Edit a checkpoint's fields in place, as another program (or version) might have written it."""
    payload = torch.load(path, weights_only=True)
    payload.update(change)
    torch.save(payload, path)


def test_a_loaded_model_gives_the_same_output_as_the_saved_one(tmp_path: Path) -> None:
    model = tiny()
    path = save(tmp_path / "m.pt", model)
    loaded, _ = load_checkpoint(path)
    x = torch.randn(2, 1, N_BINS, 19)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
    assert not loaded.training


def test_the_metadata_comes_back(tmp_path: Path) -> None:
    now = datetime(2025, 3, 1, 4, 30, tzinfo=UTC)
    path = save(tmp_path / "m.pt", version="v7", now=now)
    _, meta = load_checkpoint(path)
    assert meta.kind == "restore" and meta.version == "v7"
    assert meta.created == "2025-03-01T04:30:00+00:00"
    assert meta.training == TRAINING and meta.metrics == METRICS
    assert meta.architecture == tiny().describe()
    assert read_metadata(path) == meta


def test_created_is_utc_now_by_default(tmp_path: Path) -> None:
    created = datetime.fromisoformat(read_metadata(save(tmp_path / "m.pt")).created)
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


def test_saving_leaves_no_temporary_file_and_replaces_the_old_one(tmp_path: Path) -> None:
    save(tmp_path / "m.pt", version="old")
    save(tmp_path / "m.pt", version="new")
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert read_metadata(tmp_path / "m.pt").version == "new"


def test_training_details_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="training"):
        save(tmp_path / "m.pt", training={"started": datetime.now(UTC)})
    assert list(tmp_path.iterdir()) == []


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_a_file_that_is_not_a_torch_file_is_not_a_nightowl_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    path.write_bytes(b"fLaC" + bytes(range(256)) * 8)
    with pytest.raises(CheckpointError, match="not a nightowl checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a nightowl checkpoint"):
        read_metadata(path)


def test_another_programs_torch_file_is_not_a_nightowl_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"model": tiny().state_dict(), "epoch": 3}, path)
    with pytest.raises(CheckpointError, match="not a nightowl checkpoint"):
        load_checkpoint(path)


class Payload:
    """Stands for a pickle that would run code when loaded."""


def test_a_pickle_with_code_in_it_is_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "nightowl-checkpoint/1", "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="not a nightowl checkpoint"):
        load_checkpoint(path)


def test_a_newer_format_is_named_as_unsupported(tmp_path: Path) -> None:
    path = save(tmp_path / "m.pt")
    rewrite(path, {"format": "nightowl-checkpoint/2"})
    with pytest.raises(CheckpointError, match="nightowl-checkpoint/2.*not supported"):
        load_checkpoint(path)


def test_an_unknown_architecture_is_refused(tmp_path: Path) -> None:
    path = save(tmp_path / "m.pt")
    rewrite(path, {"architecture": {"name": "transformer-xl"}})
    with pytest.raises(CheckpointError, match="unknown architecture 'transformer-xl'"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="unknown architecture"):
        read_metadata(path)


def test_an_architecture_for_another_stft_is_refused(tmp_path: Path) -> None:
    path = save(tmp_path / "m.pt")
    rewrite(path, {"architecture": tiny().describe() | {"hop": 256}})
    with pytest.raises(CheckpointError, match="hop"):
        load_checkpoint(path)


def test_a_model_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = save(tmp_path / "m.pt", kind="concert")
    with pytest.raises(CheckpointError, match="wrong kind: a 'concert' model, not a 'restore' model"):
        load_checkpoint(path)
    assert load_checkpoint(path, kind="concert")[1].kind == "concert"


def test_weights_of_another_size_are_a_shape_mismatch(tmp_path: Path) -> None:
    path = save(tmp_path / "m.pt", tiny())
    rewrite(path, {"architecture": UNet(base=8, depth=2).describe()})
    with pytest.raises(CheckpointError, match="shape mismatch for encoders.0.0.weight"):
        load_checkpoint(path)


def test_weights_without_the_attention_layer_do_not_fit(tmp_path: Path) -> None:
    path = save(tmp_path / "m.pt", tiny(attention=False))
    rewrite(path, {"architecture": tiny(attention=True).describe()})
    with pytest.raises(CheckpointError, match="missing attention"):
        load_checkpoint(path)
