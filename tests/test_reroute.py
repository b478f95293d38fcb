"""`nightowl reroute`: the rules as they are now, applied to files taken in earlier."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nightowl.cli import main
from nightowl.config import load_settings
from nightowl.reroute import reroute
from nightowl.rules import load_rules
from nightowl.store import Store

REPO = Path(__file__).resolve().parent.parent


def _classified(store: Store, name: str, file_class: str, fp: str) -> int:
    fid = store.add_file(path=f"/in/{name}", inbox="music", rel_path=name, size=1, mtime=0, fingerprint=fp)
    store.set_classified(fid, probe={"codec": "flac", "sample_rate": 44100}, file_class=file_class, confidence=0.9,
                         evidence={"lossless_check": {"verdict": "lossless"}})
    return fid


def test_new_rules_reach_known_files(config_file: Path, tmp_path: Path) -> None:
    settings = load_settings(config_file)
    store = Store(settings.database)
    fake = _classified(store, "Band/fake.flac", "fake_lossless", "f1")
    genuine = _classified(store, "Band/genuine.flac", "lossless_music", "f2")
    other = _classified(store, "Other/genuine.flac", "lossless_music", "f3")
    first = list(reroute(settings, load_rules(settings.rules), None))
    assert first[-1] == "3 file(s) re-routed: 2 job(s) queued, 0 cancelled"
    assert [j.pipeline for j in store.jobs_for_file(fake)] == ["lossless_check", "restore"]
    assert list(reroute(settings, load_rules(settings.rules), None))[-1].endswith("0 job(s) queued, 0 cancelled")

    # the user now wants reports of genuine files too, and no more overnight restorations
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nname = "report all lossless"\n[rule.match]\nclass = ["fake_lossless", "lossless_music"]\n'
                     '[rule.action]\npipeline = "lossless_check"\noutput = "lossless-check"\n')
    mine = load_rules([rules])
    preview = list(reroute(settings, mine, ["/in/Band"], dry_run=True))
    assert preview == ["would cancel job 2: restore  /in/Band/fake.flac",
                       "would queue lossless_check  /in/Band/genuine.flac",
                       "2 file(s) looked at; nothing changed (--dry-run)"]
    assert [j.state for j in store.jobs_for_file(fake)] == ["queued", "queued"]  # a dry run changes nothing
    out = list(reroute(settings, mine, ["/in/Band/"]))
    assert out[-1] == "2 file(s) re-routed: 1 job(s) queued, 1 cancelled"
    assert [(j.pipeline, j.state) for j in store.jobs_for_file(fake)] == [("lossless_check", "queued"),
                                                                          ("restore", "cancelled")]
    assert [j.pipeline for j in store.jobs_for_file(genuine)] == ["lossless_check"]
    assert store.jobs_for_file(other) == []  # outside the folder named
    kinds = [e["kind"] for e in store.events()]
    assert kinds == ["queued", "queued", "cancelled", "queued"]  # no "nothing to do" for every file


def test_reroute_from_the_command_line(config_file: Path) -> None:
    store = Store(config_file.parent / "state" / "nightowl.db")
    _classified(store, "a.flac", "fake_lossless", "f1")
    result = CliRunner().invoke(main, ["--config", str(config_file), "reroute", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would queue lossless_check  /in/a.flac" in result.output and "nothing changed" in result.output
    assert store.jobs_for_file(1) == []


def test_a_rule_that_now_asks_for_other_parameters_replaces_the_queued_job(config_file: Path,
                                                                          tmp_path: Path) -> None:
    # a job is its pipeline and parameters: the queued one with the old parameters must
    # go, or both would run and write the same outputs; the dry run says so beforehand
    settings = load_settings(config_file)
    store = Store(settings.database)
    fake = _classified(store, "fake.flac", "fake_lossless", "f1")
    list(reroute(settings, load_rules(settings.rules), None))
    old = {j.pipeline: j for j in store.jobs_for_file(fake)}["restore"]
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nname = "restore to WAV"\n[rule.match]\nclass = "fake_lossless"\n'
                     '[rule.action]\npipeline = "restore"\noutput = "restored"\nwhen = "window"\n'
                     'params = { format = "wav" }\n')
    mine = load_rules([rules])
    preview = list(reroute(settings, mine, None, dry_run=True))
    assert preview[:2] == ["would queue restore (format=wav)  /in/fake.flac",
                           "would cancel job 1: lossless_check  /in/fake.flac"]
    assert f"would cancel job {old.id}: restore  /in/fake.flac" in preview
    out = list(reroute(settings, mine, None))
    assert out[-1] == "1 file(s) re-routed: 1 job(s) queued, 2 cancelled"
    jobs = [(j.pipeline, j.params["format"], j.state) for j in store.jobs_for_file(fake) if j.pipeline == "restore"]
    assert jobs == [("restore", "flac", "cancelled"), ("restore", "wav", "queued")]
    assert list(reroute(settings, mine, None, dry_run=True)) == ["1 file(s) looked at; nothing changed (--dry-run)"]
