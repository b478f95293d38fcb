"""`nightowl label`: a correction overrides the classifier, re-routes the file and is kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from conftest import DATA, write_config
from nightowl.classify.analyse import analyse
from nightowl.cli import main
from nightowl.config import load_settings
from nightowl.intake import Intake
from nightowl.rules import load_rules
from nightowl.store import Store


def test_a_label_reroutes_a_known_file_and_is_kept(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config)
    inbox = settings.inboxes[0]
    song = inbox.path / "song.flac"
    shutil.copy(DATA / "loop_tabla.flac", song)
    store = Store(settings.database)
    Intake(settings, store, load_rules(settings.rules), lambda p: analyse(p).to_dict(), False).handle(song, inbox)
    row = store.file_by_path(str(song))
    assert row is not None and row.file_class == "lossless_music" and store.jobs_for_file(row.id) == []

    result = CliRunner().invoke(main, ["--config", str(config), "label", str(song), "fake_lossless"])
    assert result.exit_code == 0, result.output
    assert "the classifier said lossless_music" in result.output
    row = store.file_by_path(str(song))
    assert row is not None and row.file_class == "fake_lossless" and row.confidence == 1.0
    assert [j.pipeline for j in store.jobs_for_file(row.id)] == ["lossless_check", "restore"]
    assert store.labels()[0]["class"] == "fake_lossless"  # kept as a training label

    # explain now shows the user's class, with the classifier's opinion in the reasons
    out = CliRunner().invoke(main, ["--config", str(config), "explain", "--json", str(song)]).output
    data = json.loads(out)
    assert data["class"] == "fake_lossless" and "labelled fake_lossless by you" in data["reasons"][0]


def test_a_label_for_an_unknown_file_applies_at_intake(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config)
    staged = tmp_path / "staged.flac"
    shutil.copy(DATA / "loop_tabla.flac", staged)
    result = CliRunner().invoke(main, ["--config", str(config), "label", str(staged), "concert"])
    assert result.exit_code == 0 and "applies when nightowl takes this file in" in result.output
    inbox = settings.inboxes[0]
    dropped = inbox.path / "live.flac"
    shutil.copy(staged, dropped)
    store = Store(settings.database)
    Intake(settings, store, load_rules(settings.rules), lambda p: analyse(p).to_dict(), False).handle(dropped, inbox)
    assert store.file_by_path(str(dropped)).file_class == "concert"  # type: ignore[union-attr]


def test_an_unknown_class_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(main, ["--config", str(config), "label", str(DATA / "loop_tabla.flac"), "jazz"])
    assert result.exit_code == 2


def _label_show_concert(tmp_path: Path, source: str) -> tuple[Store, int, str]:
    """A show's track the classifier took for lossless music, labelled `concert`: the
    store, the file's id and what `nightowl label` printed."""
    config = write_config(tmp_path)
    settings = load_settings(config)
    song = settings.inboxes[0].path / f"band1994-05-12.{source}.flac"
    shutil.copy(DATA / "loop_tabla.flac", song)
    store = Store(settings.database)
    fid = store.add_file(path=str(song), inbox="music", rel_path=song.name, size=1, mtime=0, fingerprint=source)
    store.set_classified(fid, probe={"codec": "flac"}, file_class="lossless_music", confidence=0.6,
                         evidence={"concert": {"source": source}, "lossless_check": {"verdict": "lossless"}})
    result = CliRunner().invoke(main, ["--config", str(config), "label", str(song), "concert"])
    assert result.exit_code == 0, result.output
    return store, fid, result.output


def test_a_soundboard_recording_labelled_concert_keeps_its_source(tmp_path: Path) -> None:
    """The rules still see what the evidence said of the recording (SBD: no de-rooming)."""
    _, _, output = _label_show_concert(tmp_path, "sbd")
    assert "rule 'soundboard recordings need no de-rooming'" in output


def test_a_label_to_a_pipeline_not_built_yet_says_nothing_is_queued(tmp_path: Path) -> None:
    store, fid, output = _label_show_concert(tmp_path, "aud")
    assert "pipeline: concert (not in this version yet: nothing is queued) (rule 'audience recordings')" in output
    assert store.jobs_for_file(fid) == []
