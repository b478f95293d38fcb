"""The `nightowl` command's contracts: output shapes and exit codes (0 ok, 1 failed, 2 bad usage/config)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner

from bench.transcode import Setting, roundtrip
from conftest import DATA
from encoded import music_video
from nightowl.cli import main
from nightowl.store import Store

EXPLAIN_KEYS = {"path", "class", "confidence", "lossless_check", "rule", "pipeline"}


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.output


def _fake(dest: Path) -> Path:
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    sf.write(dest, roundtrip(audio, sr, Setting("mp3", "128k")), sr, subtype="PCM_16")
    return dest


def test_explain_json_follows_the_contract(config_file: Path) -> None:
    fake = _fake(config_file.parent / "inbox" / "fake.flac")
    note = config_file.parent / "inbox" / "note.flac"
    note.write_text("text")
    code, out = run(config_file, "explain", "--json", str(fake), str(DATA / "loop_tabla.flac"), str(note))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert all(EXPLAIN_KEYS <= set(r) for r in rows)
    assert set(rows[0]["lossless_check"]) == {"verdict", "source_codec", "cutoff_hz", "confidence"}
    assert rows[0]["class"] == "fake_lossless" and rows[0]["pipeline"] == "lossless_check"
    assert rows[0]["lossless_check"]["verdict"] == "transcoded"
    assert rows[1]["class"] == "lossless_music" and rows[1]["lossless_check"]["source_codec"] is None
    assert rows[2]["class"] == "unknown" and rows[2]["pipeline"] is None
    # explaining queues nothing
    assert Store(config_file.parent / "state" / "nightowl.db").job_counts() == {}


def test_explain_text_says_why(config_file: Path) -> None:
    code, out = run(config_file, "explain", str(_fake(config_file.parent / "f.flac")))
    assert code == 0
    assert "class: fake_lossless" in out and "rule 'fake-lossless report' matches" in out and "kHz" in out


def test_explain_leaves_a_music_video_alone(config_file: Path) -> None:
    audio, sr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    clip = music_video(config_file.parent / "inbox" / "clip.mp4", audio[: 3 * sr], sr)
    code, out = run(config_file, "explain", str(clip))
    assert code == 0 and "with video" in out and "rule 'videos: leave alone' matches" in out
    code, out = run(config_file, "explain", "--json", str(clip))
    row = json.loads(out)
    assert row["class"] == "lossy_music" and row["pipeline"] is None and row["probe"]["video"] is True


def test_explain_says_a_lineage_file_is_not_audio(config_file: Path) -> None:
    lineage = config_file.parent / "inbox" / "band1994-05-12.txt"
    lineage.write_text("Source: AUD > DAT\n")
    code, out = run(config_file, "explain", str(lineage))
    assert code == 0 and "skipped: not audio (a text file): intake leaves it alone" in out
    code, out = run(config_file, "explain", "--json", str(lineage))
    row = json.loads(out)
    assert row["not_audio"] == "a text file" and row["class"] == "unknown" and row["pipeline"] is None


def test_explain_of_a_name_in_an_older_encoding_says_what_to_do(config_file: Path) -> None:
    raw = os.fsencode(config_file.parent / "inbox") + b"/Bj\xf6rk.flac"
    shutil.copy(DATA / "loop_tabla.flac", raw)
    code, out = run(config_file, "explain", os.fsdecode(raw))
    assert code == 0 and "Bj\\xf6rk.flac" in out and "not valid UTF-8" in out and "convmv" in out


def test_explain_marks_a_cue_that_weighs_nothing(config_file: Path) -> None:
    # a wall of distorted guitars: no pause to hear a room in, said with "=" (neither way)
    code, out = run(config_file, "explain", str(DATA / "rock" / "chaos_god_guitar.ogg"))
    assert code == 0 and "class: lossy_music" in out
    assert "    = the music never pauses" in out


def test_rules_check_names_file_rule_and_key(config_file: Path, tmp_path: Path) -> None:
    code, out = run(config_file, "rules", "check")
    assert code == 0 and "rule(s) valid" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\nmatch = { clas = "podcast" }\naction = { pipeline = "none" }\n')
    code, out = run(config_file, "rules", "check", str(bad))
    assert code == 2 and f"{bad}: rule #1 ('x'): match.clas: unknown key" in out


def test_bad_config_exits_2_with_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("settle_seconds = -1\n")
    code, out = run(cfg, "status")
    assert code == 2 and "settle_seconds" in out
    code, out = run(tmp_path / "missing.toml", "status")
    assert code == 2 and "config file not found" in out


def test_status_log_and_retry(config_file: Path) -> None:
    store = Store(config_file.parent / "state" / "nightowl.db")
    fid = store.add_file(path="/in/a.flac", inbox="music", rel_path="a.flac", size=1, mtime=0, fingerprint="f")
    job_id = store.queue_job(file_id=fid, pipeline="lossless_check", rule="r", params={}, output_folder="",
                             run_when="now", device="cpu")
    assert job_id is not None
    store.claim(devices=["cpu"], window_open=True, lease_seconds=60, pid=1)
    store.fail_job(job_id, "decoder exploded", max_attempts=1, backoff_seconds=0)
    store.add_event("failed", "job 1: decoder exploded", level="error", path="/in/a.flac", job_id=job_id)

    code, out = run(config_file, "status", "--json")
    data = json.loads(out)
    assert code == 0 and data["jobs"]["lossless_check"]["failed"] == 1
    assert data["failures"][0]["error"] == "decoder exploded"
    assert data["window"]["open"] is True
    code, out = run(config_file, "status")
    assert "1 failed" in out and "decoder exploded" in out
    assert "files: none classified; 1 waiting to be classified" in out
    store.set_classified(fid, probe={}, file_class="fake_lossless", confidence=0.9, evidence={})
    b = store.add_file(path="/in/b.txt", inbox="music", rel_path="b.txt", size=1, mtime=0, fingerprint="g",
                       state="not_audio")
    code, out = run(config_file, "status", "--json")
    data = json.loads(out)
    assert data["classes"] == {"fake_lossless": 1} and data["file_states"] == {"classified": 1, "not_audio": 1}
    assert "files: 1 fake_lossless; 1 not audio" in run(config_file, "status")[1] and b
    assert data["disks"]["output"]["present"] and data["disks"]["state"]["free_bytes"] > 0
    assert "disks: output " in run(config_file, "status")[1]
    store.daemon_started(1, "test")
    (config_file.parent / "output").rmdir()  # the share the output folder lives on is not mounted
    code, out = run(config_file, "status")
    assert "is MISSING (a share not mounted?): no job starts until it is there" in out

    code, out = run(config_file, "log", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["kind"] == "failed"

    assert run(config_file, "retry", str(job_id))[0] == 0
    assert store.job(job_id).state == "queued"  # type: ignore[union-attr]
    assert run(config_file, "retry", "999")[0] == 1


def test_log_of_a_file_or_a_folder(config_file: Path) -> None:
    """`nightowl log PATH`: what happened to that file (its earlier names included), or to
    everything under a folder; a name with % or _ matches only itself."""
    store = Store(config_file.parent / "state" / "nightowl.db")
    a = store.add_file(path="/in/Band/a.flac", inbox="music", rel_path="Band/a.flac", size=1, mtime=0, fingerprint="fa")
    store.add_event("new", "new file", path="/in/Band/old name.flac", file_id=a)
    store.move_file(a, path="/in/Band/a.flac", inbox="music", rel_path="Band/a.flac", mtime=0)
    store.add_event("moved", "renamed", path="/in/Band/a.flac", file_id=a)
    store.add_event("new", "new file", path="/in/Band/b.flac")
    store.add_event("new", "new file", path="/in/Band_2/c.flac")
    store.add_event("new", "new file", path="/in/Bandx/d.flac")
    store.add_event("daemon", "nightowl started")

    def logged(*paths: str) -> list[str]:
        code, out = run(config_file, "log", "--json", *paths)
        assert code == 0
        return [json.loads(line)["path"] for line in out.splitlines()]

    assert logged("/in/Band/a.flac") == ["/in/Band/old name.flac", "/in/Band/a.flac"]
    assert logged("/in/Band/") == ["/in/Band/old name.flac", "/in/Band/a.flac", "/in/Band/b.flac"]
    assert logged("/in/Band_2") == ["/in/Band_2/c.flac"]
    assert len(logged()) == 6


def test_process_runs_a_pipeline_and_skips_when_done(config_file: Path, tmp_path: Path) -> None:
    fake = _fake(tmp_path / "song.flac")
    out_dir = tmp_path / "out"
    code, out = run(config_file, "process", str(fake), "--pipeline", "lossless_check", "--out", str(out_dir),
                    "--set", "spectrogram_seconds=5", "--json")
    assert code == 0, out
    outputs = json.loads(out)["outputs"]
    assert {Path(p).name for p in outputs} == {"song.lossless.json", "song.spectrogram.png"}
    report = json.loads((out_dir / "song.lossless.json").read_text())
    mtime = (out_dir / "song.lossless.json").stat().st_mtime
    assert report["verdict"] == "transcoded"
    code, _ = run(config_file, "process", str(fake), "--pipeline", "lossless_check", "--out", str(out_dir),
                  "--set", "spectrogram_seconds=5")
    assert code == 0 and (out_dir / "song.lossless.json").stat().st_mtime == mtime  # skipped: already done


def test_process_keeps_apart_the_outputs_of_two_inputs_of_one_name(config_file: Path, tmp_path: Path) -> None:
    fake = _fake(tmp_path / "song.flac")
    wav = tmp_path / "song.wav"
    sf.write(wav, sf.read(fake, dtype="int16")[0], 44100, subtype="PCM_16")
    out_dir = tmp_path / "out"
    code, out = run(config_file, "process", str(fake), str(wav), "--pipeline", "lossless_check", "--out", str(out_dir),
                    "--set", "spectrogram_seconds=5", "--json")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [sorted(Path(p).name for p in r["outputs"]) for r in rows] == [
        ["song.lossless.json", "song.spectrogram.png"], ["song (wav).lossless.json", "song (wav).spectrogram.png"]]
    for name, src in (("song", fake), ("song (wav)", wav)):
        assert json.loads((out_dir / f"{name}.lossless.json").read_text())["job"]["input"] == str(src)


def test_process_rejects_unknown_pipeline_and_params(config_file: Path) -> None:
    assert run(config_file, "process", str(DATA / "loop_tabla.flac"), "--pipeline", "nope")[0] == 2
    assert run(config_file, "process", str(DATA / "loop_tabla.flac"), "--pipeline", "lossless_check",
               "--set", "colour=red")[0] == 2


def test_process_of_a_corrupt_file_fails_cleanly(config_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"fLaC" + b"\0" * 64)
    out_dir = tmp_path / "out"
    code, _ = run(config_file, "process", str(bad), "--pipeline", "lossless_check", "--out", str(out_dir))
    assert code == 1
    assert not any(p.is_file() for p in out_dir.rglob("*")) if out_dir.exists() else True


def test_doctor_checks_the_installation(config_file: Path) -> None:
    code, out = run(config_file, "doctor")
    assert "ok   config" in out and "inotify" in out and "decoders" in out and "gpu" in out
    output = next(line for line in out.splitlines() if " output: " in line)
    assert "writable" in output and "free" in output  # the space results have to go into
    assert code == 0, out


def test_doctor_warns_when_the_output_disk_is_nearly_full(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nightowl.outputs.shutil.disk_usage", lambda _: shutil._ntuple_diskusage(1 << 40, 1 << 40, 5 << 20))
    code, out = run(config_file, "doctor")
    output = next(line for line in out.splitlines() if " output: " in line)
    assert output.startswith("WARN") and "only 5 MiB free" in output and "fails" in output
    assert code == 0, out


def test_doctor_says_when_whisper_cannot_use_the_gpu(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a GPU the driver shows but CTranslate2 cannot use (here: no CUDA at all; on a real
    # server: no cuBLAS 12 beside torch's CUDA 13) is found by loading the model on it
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setattr("nightowl.doctor.gpu_present", lambda: True)
    monkeypatch.setenv("NIGHTOWL_DEVICE", "auto")  # the test config says "cpu"
    code, out = run(config_file, "doctor")
    line = next(x for x in out.splitlines() if "whisper on gpu" in x)
    assert line.startswith("WARN") and "CUDA" in line and "transcribe on the CPU" in line
    assert code == 0, out


def test_a_state_database_sqlite_cannot_read_is_said_in_one_line(config_file: Path) -> None:
    """Another file where the database should be, or a damaged one: every command says
    what to do, none shows a traceback, and the file is left as it is."""
    db = config_file.parent / "state" / "nightowl.db"
    db.parent.mkdir(exist_ok=True)
    db.write_bytes(b"these are not the pages of an SQLite database" * 100)
    before = db.read_bytes()
    for command in (["status"], ["log"], ["run"]):
        result = CliRunner().invoke(main, ["--config", str(config_file), *command])
        assert result.exit_code == 1, (command, result.output)
        assert f"{db} is not a database SQLite can read" in result.output and "Move it aside" in result.output
        assert "Traceback" not in result.output
    assert db.read_bytes() == before
