from pathlib import Path

from click.testing import CliRunner
from nightowl.cli import main
from nightowl.pipelines import PodcastParams
from nightowl.podcast.fetch import Wanted, wanted

from tests.conftest import write_config


def test_the_rules_models_once_without_local_or_bundled_ones(tmp_path: Path) -> None:
    local = tmp_path / "my-whisper"
    local.mkdir()
    got = wanted([PodcastParams(), PodcastParams(whisper_model="small", separate="never"),
                  PodcastParams(whisper_model=str(local), diarize=False)])
    assert got == [Wanted("diarization", "pyannote/speaker-diarization-community-1"),
                   Wanted("separation", "htdemucs"), Wanted("whisper", "small")]


def test_fetch_offline_names_each_model_and_fails(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = write_config(tmp_path)
    runner = CliRunner()
    dry = runner.invoke(main, ["--config", str(config), "models", "fetch", "--dry-run"])
    assert dry.exit_code == 0 and "would fetch diarization model pyannote/speaker-diarization-community-1" in dry.output
    assert str(tmp_path / "state" / "models") in dry.output
    real = runner.invoke(main, ["--config", str(config), "models", "fetch"])
    assert real.exit_code == 1 and "2 of 2 models could not be fetched" in real.output
    assert "fetching separation model htdemucs" in real.output
