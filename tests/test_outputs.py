from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nightowl.outputs import OutputError, atomic_output, check_json, mirror_path, output_key, output_name, write_json


def test_outputs_mirror_the_inbox_tree(tmp_path: Path) -> None:
    p = mirror_path(tmp_path, "reports", "Artist/Album/01 Song.flac", ".lossless.json")
    assert p == (tmp_path / "reports" / "Artist" / "Album" / "01 Song.lossless.json").resolve()


@pytest.mark.parametrize("rel", ["../../etc/passwd", "/etc/passwd"])
def test_an_output_never_leaves_the_output_root(tmp_path: Path, rel: str) -> None:
    with pytest.raises(ValueError):
        mirror_path(tmp_path / "out", "", rel, ".json")


@pytest.mark.parametrize("title", [
    "Symphony No. 9 in D minor, Op. 125 'Choral' - IV. Presto - Allegro assai - Allegro assai vivace "
    "(alla marcia) - Andante maestoso - Allegro energico, sempre ben marcato - Allegro ma non tanto - "
    "Prestissimo (live, 1994-05-12)",
    "交響曲第9番ニ短調作品125合唱付き第4楽章プレスト・アレグロ・アッサイ・アレグロ・アッサイ・ヴィヴァーチェ・アンダンテ・マエストーソ・アレグロ・エネルジコ",
])
def test_a_long_name_is_shortened_to_fit_with_its_temporary(tmp_path: Path, title: str) -> None:
    """Names may hold 255 bytes: an output of a long (or a three-bytes-a-character) title
    and its temporary beside it must both fit, the same name every time, two titles that
    begin alike kept apart."""
    assert len(f"{title}.flac".encode()) <= 255 < len(f".{title}.spectrogram.nightowl-tmp-4194304.png".encode())
    dest = mirror_path(tmp_path, "reports", f"Album/{title}.flac", ".spectrogram.png")
    assert dest.name.endswith(".spectrogram.png") and dest == mirror_path(
        tmp_path, "reports", f"Album/{title}.flac", ".spectrogram.png")
    other = mirror_path(tmp_path, "reports", f"Album/{title} (encore).flac", ".spectrogram.png")
    assert other != dest and other.name[:40] == dest.name[:40]
    with atomic_output(dest) as tmp:
        tmp.write_bytes(b"x" * 200)
    assert dest.read_bytes() == b"x" * 200
    short = mirror_path(tmp_path, "reports", "Album/01 Song.flac", ".spectrogram.png")
    assert short.name == "01 Song.spectrogram.png"


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


def _full_disk_mount(tmp_path: Path) -> Path:
    """A real 256 KiB file system (tmpfs), where this user may mount one."""
    where = tmp_path / "small"
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    return where


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("System error.")])
def test_a_full_disk_is_said_in_those_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            error: Exception) -> None:
    # libsndfile says only "System error." when a FLAC does not fit: the free space tells
    monkeypatch.setattr("nightowl.outputs.shutil.disk_usage", lambda _: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))
    dest = tmp_path / "song.flac"
    with pytest.raises(OutputError, match=r"no space left on the disk of .* \(0 KiB free\) while writing song\.flac"):
        with atomic_output(dest) as tmp:
            tmp.write_bytes(b"half")
            raise error
    assert list(tmp_path.iterdir()) == []


def test_other_errors_on_a_roomy_disk_pass_unchanged(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="System error"):
        with atomic_output(tmp_path / "song.flac"):
            raise RuntimeError("System error.")


def test_a_restore_onto_a_really_full_disk_fails_cleanly(tmp_path: Path) -> None:
    """The restore pipeline's 24-bit FLAC on a file system it does not fit on: the job
    fails saying so, and neither the output nor its temporary is left behind."""
    from click.testing import CliRunner

    from conftest import DATA
    from nightowl.cli import main

    small = _full_disk_mount(tmp_path)
    try:
        src = tmp_path / "song.flac"
        src.write_bytes((DATA / "loop_tabla.flac").read_bytes())
        result = CliRunner().invoke(main, ["process", str(src), "--pipeline", "restore", "--out", str(small)])
        assert result.exit_code == 1
        assert "no space left on the disk of" in result.output and "nothing was put in place" in result.output
        assert [p.name for p in small.rglob("*") if p.is_file()] == []
        assert src.read_bytes() == (DATA / "loop_tabla.flac").read_bytes()
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_output_name_is_the_inputs_own_unless_another_input_takes_it() -> None:
    assert output_name("Album/song.m4a", set()) == "song"
    assert output_name("Album/song.m4a", {"song"}) == "song (m4a)"
    assert output_name("Album/song.M4A", {"SONG", "Song (m4a)"}) == "song (m4a 2)"
    assert output_name("Album/song", {"song"}) == "song (2)"  # no extension to tell it by
    taken = {"song", "song (m4a)", *(f"song (m4a {n})" for n in range(2, 9))}
    assert output_name("song.m4a", taken) == "song (m4a 9)"


def test_output_key_is_where_outputs_would_collide() -> None:
    assert output_key("restored", "A/Song.mp3") == output_key("restored", "a/song.m4a") == "restored/a/song"
    assert output_key("", "song.mp3") == "song" != output_key("reports", "song.mp3")


def test_mirror_path_takes_the_given_name(tmp_path: Path) -> None:
    p = mirror_path(tmp_path, "restored", "Artist/Album/01 Song.m4a", ".flac", "01 Song (m4a)")
    assert p == (tmp_path / "restored" / "Artist" / "Album" / "01 Song (m4a).flac").resolve()
