"""The podcast pipeline end to end on real speech: every stage with real loaders (tiny random
Demucs and pyannote models, DeepFilterNet3, Whisper tiny.en), outputs, and a killed job resuming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC
from mutagen.oggopus import OggOpus
from nightowl.audio.decode import DecodeError, decode
from nightowl.audio.probe import ProbeError
from nightowl.pipelines.context import JobContext
from nightowl.pipelines.podcast import run
from nightowl.podcast.loudness import integrated_lufs, true_peak_dbtp

from tests.conftest import write_config
from tests.encoded import encode
from bench import speech_eval
from tests.podcast.podcast_audio import SAMPLE_STM, SAMPLE_WAV
from tests.podcast.tiny_demucs import build_tiny_demucs
from tests.podcast.tiny_models import build_tiny_pyannote

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {"diarization_model": str(build_tiny_pyannote(root / "pyannote")),
            "demucs_model": str(build_tiny_demucs(root / "demucs", "tiny"))}


def _episode(tmp_path: Path, seconds: float = 30.0, stereo: bool = True, noise_db: float | None = None) -> Path:
    """The pyannote sample's two speakers at 44.1 kHz, tagged, as an MP3 episode."""
    import soxr

    speech, sr = sf.read(SAMPLE_WAV, dtype="float32")
    speech = np.tile(speech, int(np.ceil(seconds / 30)))[: int(seconds * sr)]
    x = soxr.resample(speech, sr, 44100).astype(np.float32) * 0.3
    if noise_db is not None:
        x = x + np.random.default_rng(0).standard_normal(len(x)).astype(np.float32) * 10 ** (noise_db / 20)
    audio = np.stack([x, 0.8 * x], axis=1) if stereo else x[:, None]
    path = tmp_path / "show" / "episode-12.mp3"
    path.parent.mkdir(parents=True, exist_ok=True)
    encode(path, audio, 44100, "libmp3lame", "mp3")
    from mutagen.id3 import ID3, TIT2, TPE1

    tags = ID3()
    tags.add(TIT2(encoding=3, text=["Episode 12"]))
    tags.add(TPE1(encoding=3, text=["Night Radio"]))
    tags.save(path)
    return path


def _ctx(src: Path, out: Path, work: Path | None = None, **params: object) -> JobContext:
    return JobContext(input=src, rel_path=f"show/{src.name}", output_root=out, output_folder="podcasts",
                      params=params, fingerprint=f"fp-{src.name}", work_dir=work)


def test_denoised_diarized_transcript_and_master(tmp_path: Path, models: dict[str, str]) -> None:
    src = _episode(tmp_path, noise_db=-55)
    outputs = run(_ctx(src, tmp_path / "out", tmp_path / "work", separate="never", denoise="on", num_speakers=2,
                       speaker_names={"SPEAKER_00": "Diane"}, diarization_model=models["diarization_model"]))
    names = sorted(Path(p).name for p in outputs)
    assert names == sorted(f"episode-12.{s}" for s in ("podcast.json", "srt", "vtt", "json", "txt", "flac"))
    assert all(Path(p).parent == tmp_path / "out" / "podcasts" / "show" for p in outputs)
    report = json.loads((tmp_path / "out/podcasts/show/episode-12.podcast.json").read_text())
    stages = report["stages"]
    assert not stages["separate"]["ran"] and stages["denoise"]["ran"] and stages["diarize"]["ran"]
    assert not any((tmp_path / "work").iterdir())  # checkpoints cleared once the outputs are in place

    transcript = json.loads((tmp_path / "out/podcasts/show/episode-12.json").read_text())
    assert set(transcript["models"]) == {"transcription", "diarization", "denoising"}
    assert transcript["models"]["transcription"]["source"] == "tiny.en"
    words = [w for s in transcript["segments"] for w in s["words"]]
    assert len(words) > 50 and all({"start", "end", "text", "probability", "speaker"} <= set(w) for w in words)
    assert all(s["speaker"] is not None for s in transcript["segments"])
    # the denoised speech is still speech (the sample is a phone call; tiny.en gets 12% of it wrong)
    ref = " ".join(r.text for r in speech_eval.read_stm(SAMPLE_STM.read_text()))
    assert speech_eval.wer(ref, " ".join(s["text"] for s in transcript["segments"]))[0] <= 0.5
    vtt = (tmp_path / "out/podcasts/show/episode-12.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "<v " in vtt

    master = tmp_path / "out/podcasts/show/episode-12.flac"
    audio, sr = sf.read(master, dtype="float32")
    assert sr == 44100 and audio.shape[1] == 2 and sf.info(str(master)).subtype == "PCM_24"
    assert integrated_lufs(audio, sr) == pytest.approx(-16.0, abs=0.5) and true_peak_dbtp(audio) <= -1.0
    assert FLAC(master)["TITLE"] == ["Episode 12"] and "NIGHTOWL_LOUDNESS" in FLAC(master)


def test_separated_bed_is_remixed_into_the_master_and_lossy_copies(tmp_path: Path, models: dict[str, str]) -> None:
    src = _episode(tmp_path, seconds=10.0)
    outputs = run(_ctx(src, tmp_path / "out", separate="always", demucs_model=models["demucs_model"],
                       denoise="off", diarize=False, transcripts=["json"], bed_level_db=-6.0,
                       master_formats=["mp3", "opus"]))
    assert sorted(Path(p).suffix for p in outputs) == [".flac", ".json", ".json", ".mp3", ".opus"]
    report = json.loads(Path(outputs[0]).read_text())["stages"]
    assert report["separate"]["ran"] and report["separate"]["model"]["sources"] == ["drums", "bass", "other", "vocals"]
    assert report["master"]["bed_level_db"] == -6.0
    transcript = json.loads((tmp_path / "out/podcasts/show/episode-12.json").read_text())
    assert "separation" in transcript["models"]
    # a random model's stems are near silence, too quiet to reach -16 LUFS: the report says so
    master, sr = sf.read(tmp_path / "out/podcasts/show/episode-12.flac", dtype="float32")
    assert integrated_lufs(master, sr) == pytest.approx(report["master"]["lufs"], abs=0.05)
    assert report["master"]["target_met"] == (abs(report["master"]["lufs"] + 16) <= 0.5)
    assert true_peak_dbtp(master) <= -1.0
    assert OggOpus(tmp_path / "out/podcasts/show/episode-12.opus")["ARTIST"] == ["Night Radio"]
    lossy, _ = decode(tmp_path / "out/podcasts/show/episode-12.mp3")
    assert abs(len(lossy) - len(master)) < 0.1 * sr


def test_without_models_the_stages_say_why_they_were_skipped(tmp_path: Path) -> None:
    src = _episode(tmp_path, seconds=30.0, stereo=False)
    outputs = run(_ctx(src, tmp_path / "out", separate="always", demucs_model="htdemucs",
                       diarization_model="pyannote/speaker-diarization-community-1", transcripts=["json", "txt"]))
    report = json.loads(Path(outputs[0]).read_text())["stages"]
    assert not report["separate"]["ran"] and "models fetch" in report["separate"]["note"]
    assert not report["diarize"]["ran"] and "unlabelled" in report["diarize"]["note"]
    # "auto" measured the noise floor (the sample is a phone call: its line noise is audible)
    assert report["denoise"]["noise_floor_db"] > -50 and report["denoise"]["ran"]
    transcript = json.loads((tmp_path / "out/podcasts/show/episode-12.json").read_text())
    assert transcript["speakers"] == [] and len(transcript["notes"]) == 3
    assert not (tmp_path / "out/podcasts/show/episode-12.srt").exists()
    master, sr = sf.read(tmp_path / "out/podcasts/show/episode-12.flac", dtype="float32")
    assert master.ndim == 1 and integrated_lufs(master, sr) == pytest.approx(-19.0, abs=0.5)
    assert true_peak_dbtp(master) <= -1.0


def test_a_rerun_skips_and_a_corrupt_file_leaves_nothing(tmp_path: Path) -> None:
    src = _episode(tmp_path, seconds=30.0)
    first = run(_ctx(src, tmp_path / "out", diarize=False, denoise="off", transcripts=["txt"], master=False))
    mtime = Path(first[1]).stat().st_mtime_ns
    assert run(_ctx(src, tmp_path / "out", diarize=False, denoise="off", transcripts=["txt"], master=False)) == first
    assert Path(first[1]).stat().st_mtime_ns == mtime
    bad = tmp_path / "show" / "broken.mp3"
    bad.write_bytes(b"ID3" + os.urandom(4000))
    with pytest.raises((ProbeError, DecodeError)):
        run(_ctx(bad, tmp_path / "out2", diarize=False))
    assert not (tmp_path / "out2").exists() or not any(p.is_file() for p in (tmp_path / "out2").rglob("*"))


def test_a_job_killed_during_transcription_resumes_without_redoing_stages(tmp_path: Path,
                                                                          models: dict[str, str]) -> None:
    config = write_config(tmp_path)
    src = _episode(tmp_path, seconds=90.0, stereo=False, noise_db=-40)
    cmd = [sys.executable, "-m", "nightowl", "--config", str(config), "process", str(src), "--pipeline", "podcast",
           "--out", str(tmp_path / "out"), "--set", "denoise=on", "--set", f"diarization_model={models['diarization_model']}",
           "--set", "num_speakers=2", "--set", "transcripts=[\"json\"]", "--set", "master=false"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    work = tmp_path / "state" / "work"
    deadline = time.monotonic() + 240
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        manifests = list(work.glob("*/stages.json"))
        if manifests and "diarize" in json.loads(manifests[0].read_text())["stages"]:
            proc.send_signal(signal.SIGKILL)  # transcription has begun
            killed = True
            break
        time.sleep(0.05)
    proc.wait()
    assert killed, proc.stderr.read().decode()[-2000:] if proc.stderr else "process ended before transcription"
    stages = json.loads(next(work.glob("*/stages.json")).read_text())["stages"]
    assert set(stages) == {"separate", "denoise", "vad", "diarize"}  # transcribe had not finished
    before = {p.name: p.stat().st_mtime_ns for p in next(work.glob("*")).iterdir() if p.suffix == ".npy"}
    assert "denoise.speech.npy" in before

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "out/episode-12.podcast.json").read_text())["stages"]
    assert all(report[s].get("resumed") for s in ("separate", "denoise", "vad", "diarize"))
    assert not report["transcribe"].get("resumed") and report["transcribe"]["seconds"] > 0
    assert not any(work.iterdir())  # the finished job cleared its checkpoints


def test_dry_run_names_the_models_and_writes_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from nightowl.cli import main

    config = write_config(tmp_path)
    src = _episode(tmp_path, seconds=5.0)
    result = CliRunner().invoke(main, ["--config", str(config), "process", str(src), "--pipeline", "podcast",
                                       "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output.strip().splitlines()[-1])
    assert plan["action"] == "run podcast" and plan["transcription"]["from"].endswith("model")
    assert plan["diarization"]["from"].startswith("the hub")
    assert not (tmp_path / "output").exists() or not any((tmp_path / "output").rglob("*.*"))


def test_whisper_on_a_gpu_it_cannot_use_runs_on_the_cpu_and_says_so(tmp_path: Path) -> None:
    import torch
    from nightowl.pipelines import PodcastParams
    from nightowl.pipelines.podcast import _transcribe
    from nightowl.podcast import vad

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    speech, _ = sf.read(SAMPLE_WAV, dtype="float32")
    spans, clips = vad.find_speech(speech)
    ctx = _ctx(tmp_path / "episode.mp3", tmp_path / "out")
    result = _transcribe(ctx, PodcastParams(), speech, {"spans": spans, "clips": clips}, "cuda", lambda f: None)
    model = result["model"]
    assert (model["device"], model["compute_type"], model["batch_size"]) == ("cpu", "int8", 1)
    assert "CUDA" in model["gpu_unusable"] and result["segments"]


def test_without_speech_whisper_is_not_needed(tmp_path: Path) -> None:
    from nightowl.pipelines import PodcastParams
    from nightowl.pipelines.podcast import _transcribe

    # a model that cannot be found would fail the job if it were loaded
    params = PodcastParams(whisper_model=str(tmp_path / "no-such-model"))
    result = _transcribe(_ctx(tmp_path / "episode.mp3", tmp_path / "out"), params, np.zeros(16000, np.float32),
                         {"spans": [], "clips": []}, "cpu", lambda f: None)
    assert result["segments"] == [] and result["model"]["ran"] is False
