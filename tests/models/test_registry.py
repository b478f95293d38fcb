"""The model registry on a real Store: register, activate, find the active model, list."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sqlite_utils import Database

from nightowl.models.checkpoint import CheckpointError, save_checkpoint
from nightowl.models.registry import RegistryError, activate, active, list_models, register
from nightowl.models.unet import UNet
from nightowl.store import MIGRATIONS, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state" / "nightowl.db")


def checkpoint(folder: Path, version: str, kind: str = "restore") -> Path:
    torch.manual_seed(0)
    folder.mkdir(exist_ok=True)
    return save_checkpoint(folder / f"{kind}-{version}.pt", UNet(base=4, depth=2, attention=False), kind=kind,
                           version=version, training={"steps": 10}, metrics={"lsd_db": 2.5})


def test_a_registered_model_carries_its_checkpoints_metadata(store: Store, tmp_path: Path) -> None:
    path = checkpoint(tmp_path / "models", "v1")
    record = register(store, path)
    assert (record.kind, record.version, record.path) == ("restore", "v1", path.resolve())
    assert record.metrics == {"lsd_db": 2.5} and record.training == {"steps": 10}
    assert record.created.endswith("+00:00")
    assert not record.active
    assert active(store, "restore") is None


def test_registering_with_activate_makes_it_the_active_model(store: Store, tmp_path: Path) -> None:
    record = register(store, checkpoint(tmp_path / "models", "v1"), activate=True)
    assert record.active
    assert active(store, "restore") == record


def test_exactly_one_model_of_a_kind_is_active(store: Store, tmp_path: Path) -> None:
    v1 = register(store, checkpoint(tmp_path / "models", "v1"), activate=True)
    v2 = register(store, checkpoint(tmp_path / "models", "v2"))
    assert activate(store, v2.id).active
    assert [(m.version, m.active) for m in list_models(store)] == [("v1", False), ("v2", True)]
    activate(store, v1.id)
    assert active(store, "restore").version == "v1"  # type: ignore[union-attr]


def test_each_kind_has_its_own_active_model(store: Store, tmp_path: Path) -> None:
    register(store, checkpoint(tmp_path / "models", "r1"), activate=True)
    register(store, checkpoint(tmp_path / "models", "c1", kind="concert"), activate=True)
    assert active(store, "restore").version == "r1"  # type: ignore[union-attr]
    assert active(store, "concert").version == "c1"  # type: ignore[union-attr]


def test_the_database_refuses_two_active_models_of_a_kind(store: Store, tmp_path: Path) -> None:
    register(store, checkpoint(tmp_path / "models", "v1"), activate=True)
    v2 = register(store, checkpoint(tmp_path / "models", "v2"))
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("UPDATE models SET active = 1 WHERE id = ?", [v2.id])


def test_activating_an_unknown_model_changes_nothing(store: Store, tmp_path: Path) -> None:
    v1 = register(store, checkpoint(tmp_path / "models", "v1"), activate=True)
    with pytest.raises(KeyError):
        activate(store, 999)
    assert active(store, "restore") == v1


def test_a_file_that_is_not_a_checkpoint_is_refused(store: Store, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a nightowl checkpoint"):
        register(store, junk)
    assert list_models(store) == []


def test_registering_the_same_file_twice_is_one_model(store: Store, tmp_path: Path) -> None:
    path = checkpoint(tmp_path / "models", "v1")
    first = register(store, path)
    again = register(store, path, activate=True)
    assert again.id == first.id and again.active
    assert len(list_models(store)) == 1


def test_a_version_registered_for_another_file_is_refused(store: Store, tmp_path: Path) -> None:
    register(store, checkpoint(tmp_path / "a", "v1"))
    with pytest.raises(RegistryError, match="already registered"):
        register(store, checkpoint(tmp_path / "b", "v1"))


def test_an_active_model_whose_file_vanished_is_not_offered(store: Store, tmp_path: Path) -> None:
    path = checkpoint(tmp_path / "models", "v1")
    register(store, path, activate=True)
    path.unlink()
    assert active(store, "restore") is None
    assert list_models(store)[0].active  # still recorded: the disk may come back


def test_a_database_from_before_models_is_upgraded(tmp_path: Path) -> None:
    db_path = tmp_path / "nightowl.db"
    db = Database(sqlite3.connect(str(db_path)))
    MIGRATIONS.apply(db, stop_before="m003_models")
    db.execute("INSERT INTO labels (fingerprint, path, class, created) VALUES ('fp', '/in/a.flac', 'concert', 1)")
    db.close()
    assert "models" not in Database(sqlite3.connect(str(db_path))).table_names()

    store = Store(db_path)
    assert "models" in store.db.table_names()
    assert "m003_models" in [m.name for m in MIGRATIONS.applied(store.db)] and not MIGRATIONS.pending(store.db)
    assert store.label_for("fp") == "concert"
    assert register(store, checkpoint(tmp_path / "models", "v1"), activate=True).active


def test_the_registry_does_not_import_torch() -> None:
    code = "import sys, nightowl.models.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
