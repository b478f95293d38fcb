from __future__ import annotations

from pathlib import Path

import pytest

from nightowl.config import ConfigError, load_settings


def test_shipped_config_loads_with_paths_inside_the_checkout() -> None:
    repo = Path(__file__).parent.parent
    s = load_settings(repo / "config.toml")
    assert s.inboxes[0].path == repo / "inbox"
    assert s.output == repo / "output"
    assert s.state_dir == repo / "state"
    assert s.rules == [repo / "rules" / "default.toml"]


def test_relative_paths_are_relative_to_the_config_file(config_file: Path) -> None:
    s = load_settings(config_file)
    assert s.inboxes[0].path == config_file.parent / "inbox"
    assert s.database == config_file.parent / "state" / "nightowl.db"


def test_environment_overrides_nested_keys(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTOWL_WORKERS__CPU_JOBS", "4")
    monkeypatch.setenv("NIGHTOWL_SETTLE_SECONDS", "9")
    s = load_settings(config_file)
    assert s.workers.cpu_jobs == 4
    assert s.settle_seconds == 9


def test_config_path_from_environment(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTOWL_CONFIG", str(config_file))
    assert load_settings().settle_seconds == 1.0


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_unknown_key_and_bad_value_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('colour = "blue"\n[workers]\ncpu_jobs = 0\n[window]\ntimezone = "Mars/Base"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    text = str(err.value)
    assert "colour: unknown key" in text
    assert "workers.cpu_jobs" in text
    assert "window.timezone" in text and "Mars/Base" in text


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("output = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


def test_a_bad_environment_override_is_named(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file may be fine: the message says which variable holds the bad value."""
    monkeypatch.setenv("NIGHTOWL_WINDOW__START", "25:00")
    with pytest.raises(ConfigError) as err:
        load_settings(config_file)
    assert "window.start (from NIGHTOWL_WINDOW__START='25:00')" in str(err.value)


def test_folders_that_would_feed_back_are_refused(tmp_path: Path) -> None:
    """Results or the database inside an inbox would come back in as new files; an inbox
    inside another would give its files two inboxes."""
    bad = tmp_path / "c.toml"
    bad.write_text('output = "music/results"\nstate_dir = "music/.state"\n'
                   '[[inboxes]]\npath = "music"\n[[inboxes]]\npath = "music/live"\nname = "live"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    text = str(err.value)
    assert "inboxes: music" in text and "live" in text and "would belong to both" in text
    assert "output:" in text and "own results" in text
    assert "state_dir:" in text and "database" in text
    bad.write_text('output = "out"\n[[inboxes]]\npath = "out/incoming"\n')
    with pytest.raises(ConfigError, match="lies inside the output"):
        load_settings(bad)
    ok = tmp_path / "ok.toml"
    ok.write_text('output = "out"\nstate_dir = "state"\n[[inboxes]]\npath = "music"\n[[inboxes]]\npath = "musicals"\n')
    assert [i.name for i in load_settings(ok).inboxes] == ["music", "musicals"]  # a shared prefix is no overlap


def test_the_shipped_ignore_list_is_the_default() -> None:
    from nightowl.config import DEFAULT_IGNORE

    assert load_settings(Path(__file__).parent.parent / "config.toml").ignore == DEFAULT_IGNORE
