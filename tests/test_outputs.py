from __future__ import annotations

import json
from pathlib import Path

import pytest

from nightowl.outputs import OutputError, atomic_output, check_json, mirror_path, write_json


def test_outputs_mirror_the_inbox_tree(tmp_path: Path) -> None:
    p = mirror_path(tmp_path, "reports", "Artist/Album/01 Song.flac", ".lossless.json")
    assert p == (tmp_path / "reports" / "Artist" / "Album" / "01 Song.lossless.json").resolve()


@pytest.mark.parametrize("rel", ["../../etc/passwd", "/etc/passwd"])
def test_an_output_never_leaves_the_output_root(tmp_path: Path, rel: str) -> None:
    with pytest.raises(ValueError):
        mirror_path(tmp_path / "out", "", rel, ".json")


def test_a_failed_check_leaves_nothing_behind(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "r.json"
    with pytest.raises(OutputError):
        with atomic_output(dest, check_json) as tmp:
            tmp.write_text("{not json")
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_an_error_while_writing_keeps_the_old_output(tmp_path: Path) -> None:
    dest = tmp_path / "r.json"
    write_json(dest, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_output(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads(dest.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
