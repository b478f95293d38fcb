"""The daemon as a user runs it: a real process, real inotify, real SQLite, real audio.

Drops a genuine FLAC, a FLAC decoded from a 128 kbps MP3, an MP3, a text file
named .flac and a slowly copied file into the inbox, checks what nightowl did,
then kills it with SIGKILL mid-work, restarts it and checks every file ends up
processed exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.harness import query
from bench.transcode import Setting, encode_bytes, roundtrip
from conftest import DATA, write_config

pytestmark = pytest.mark.slow

SLOW_COPY_SECONDS = 30.0


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clip(name: str) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(DATA / name, dtype="float32", always_2d=True)
    return audio, sr


def write_fake(dest: Path, name: str, gain: float = 1.0) -> None:
    """A FLAC decoded from a 128 kbps MP3 of a real recording (the classic fake)."""
    audio, sr = clip(name)
    sf.write(dest, roundtrip(audio * gain, sr, Setting("mp3", "128k")), sr, subtype="PCM_16")


class Daemon:
    def __init__(self, config: Path, notify_socket: Path) -> None:
        env = dict(os.environ, NOTIFY_SOCKET=str(notify_socket), PYTHONUNBUFFERED="1")
        self.log = (config.parent / "daemon.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "nightowl", "--config", str(config), "run"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)


class Notifications:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, text: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in m for m in self.messages):
                return
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                pass
        raise AssertionError(f"no {text!r} notification; got {self.messages}")


def wait_until(pred, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except sqlite3.OperationalError:
            pass  # database not created yet
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(kids - found)
            found |= kids
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def slow_copy(src: Path, dest: Path, seconds: float, done: dict[str, float]) -> None:
    data = src.read_bytes()
    chunks = 60
    step = len(data) // chunks + 1
    with dest.open("wb") as fh:
        for i in range(chunks):
            fh.write(data[i * step:(i + 1) * step])
            fh.flush()
            time.sleep(seconds / chunks)
    done["end"] = time.time()


def test_daemon_end_to_end(tmp_path: Path) -> None:
    config = write_config(tmp_path, settle=2.0)
    inbox, output, db = tmp_path / "inbox", tmp_path / "output", tmp_path / "state" / "nightowl.db"
    staging = tmp_path / "staging"
    staging.mkdir()
    genuine = DATA / "loop_amen_full.flac"
    write_fake(staging / "fake-mp3-128.flac", "loop_tabla.flac")
    write_fake(staging / "slow.flac", "loop_amen_full.flac")
    audio, sr = clip("guit_em9.flac")
    (staging / "song.mp3").write_bytes(encode_bytes(audio, sr, Setting("mp3", "192k"))[0])
    (staging / "notes.flac").write_text("this is not audio, just a text file with the wrong name\n")

    notes = Notifications(tmp_path / "notify.sock")
    daemon = Daemon(config, tmp_path / "notify.sock")
    try:
        notes.wait_for("READY=1")
        # drop the files: cp of a genuine file, mv from outside, a temp-then-rename, a slow copy
        (inbox / "Band" / "Album").mkdir(parents=True)
        shutil.copy(genuine, inbox / "Band" / "Album" / "01 genuine.flac")
        os.rename(staging / "fake-mp3-128.flac", inbox / "Band" / "Album" / "02 fake.flac")
        shutil.copy(staging / "song.mp3", inbox / "song.mp3.part")
        os.rename(inbox / "song.mp3.part", inbox / "song.mp3")
        shutil.copy(staging / "notes.flac", inbox / "notes.flac")
        (inbox / "Band" / "Album" / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(256))
        copy_done: dict[str, float] = {}
        copier = threading.Thread(target=slow_copy,
                                  args=(staging / "slow.flac", inbox / "slow.flac", SLOW_COPY_SECONDS, copy_done))
        copier.start()
        inputs = {p: sha(p) for p in inbox.rglob("*") if p.is_file() and p.name != "slow.flac"}

        def classified(n: int) -> bool:
            return len(query(db, "SELECT id FROM files WHERE state IN ('classified', 'unreadable')")) >= n

        wait_until(lambda: classified(4), 60, "the first four files to be classified")
        copier.join()
        wait_until(lambda: classified(5), 30, "the slowly copied file")
        wait_until(lambda: query(db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'"
                                 " AND pipeline = 'lossless_check'")[0]["n"] >= 2, 60, "both fake-lossless reports")
        # the window is always open here: the restorations (two fakes, one MP3) run too
        wait_until(lambda: query(db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'"
                                 " AND pipeline = 'restore'")[0]["n"] >= 3, 90, "the three restorations")

        files = {Path(r["path"]).name: r for r in query(db, "SELECT * FROM files")}
        assert files["01 genuine.flac"]["class"] == "lossless_music"
        assert files["02 fake.flac"]["class"] == "fake_lossless"
        assert json.loads(files["02 fake.flac"]["evidence"])["lossless_check"]["source_codec"] == "mp3"
        assert files["song.mp3"]["class"] == "lossy_music"
        assert files["notes.flac"]["state"] == "unreadable"
        assert files["slow.flac"]["class"] == "fake_lossless"

        events = query(db, "SELECT * FROM events ORDER BY id")
        by_file: dict[str, list[str]] = {}
        for e in events:
            if e["path"]:
                by_file.setdefault(Path(e["path"]).name, []).append(e["kind"])
        fake_events = by_file["02 fake.flac"]
        assert fake_events[:4] == ["new", "classified", "queued", "queued"]  # a report and a restoration
        assert fake_events.count("started") == 2 and fake_events.count("done") == 2
        assert by_file["01 genuine.flac"] == ["new", "classified", "routed"]
        assert by_file["notes.flac"] == ["new", "unreadable"]
        assert by_file["cover.jpg"] == ["skipped"]  # the album's cover: noted, never opened as audio
        assert files["cover.jpg"]["state"] == "not_audio"
        assert "song.mp3.part" not in by_file  # ignored pattern, then renamed
        # the slow copy was taken in exactly once, after the copy ended
        assert by_file["slow.flac"].count("classified") == 1
        slow_classified = next(e for e in events if e["kind"] == "classified" and e["path"].endswith("slow.flac"))
        assert slow_classified["ts"] >= copy_done["end"]

        report = output / "lossless-check" / "Band" / "Album" / "02 fake.lossless.json"
        image = output / "lossless-check" / "Band" / "Album" / "02 fake.spectrogram.png"
        data = json.loads(report.read_text())
        assert data["verdict"] == "transcoded" and data["source_codec"] == "mp3"
        assert 14000 < data["cutoff_hz"] < 18000
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (output / "lossless-check" / "slow.lossless.json").exists()
        assert not (output / "lossless-check" / "Band" / "Album" / "01 genuine.lossless.json").exists()
        restored = output / "restored" / "Band" / "Album" / "02 fake.flac"
        assert sf.info(str(restored)).subtype == "PCM_24"
        assert json.loads(restored.with_suffix(".restore.json").read_text())["cutoff_hz"] is not None
        assert (output / "restored" / "song.flac").exists()  # lossy music is restored as well
        assert not (output / "restored" / "Band" / "Album" / "01 genuine.flac").exists()

        # -- SIGKILL in the middle of work, then a restart ---------------------------------
        batch = inbox / "batch"
        batch.mkdir()
        for i, name in enumerate(["loop_tabla.flac", "loop_amen_full.flac"] * 3):
            write_fake(batch / f"{i:02d}.flac", name, gain=0.9 - 0.1 * i)
        inputs.update({p: sha(p) for p in batch.iterdir()})
        wait_until(lambda: query(db, "SELECT count(*) AS n FROM jobs WHERE state = 'running'")[0]["n"] >= 1, 60,
                   "a job to be running")
        children = descendants(daemon.proc.pid)
        assert children  # the analysis process, and the job running
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(10)
        # nothing the daemon started outlives it: jobs die with it, the analysis child exits
        wait_until(lambda: not any(alive(p) for p in children), 15, "the daemon's children to exit")

        notes.messages.clear()
        daemon = Daemon(config, tmp_path / "notify.sock")
        notes.wait_for("READY=1")
        # eight fakes (a report and a restoration each) and the MP3 (a restoration)
        wait_until(lambda: query(db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'")[0]["n"] == 17, 240,
                   "all seventeen jobs to be done")
        time.sleep(1.0)
        jobs = query(db, "SELECT file_id, pipeline, state FROM jobs")
        # one job per file and pipeline, no duplicates
        assert len(jobs) == 17 and len({(j["file_id"], j["pipeline"]) for j in jobs}) == 17
        assert all(j["state"] == "done" for j in jobs)
        for i in range(6):
            assert (output / "lossless-check" / "batch" / f"{i:02d}.lossless.json").exists()
            assert (output / "restored" / "batch" / f"{i:02d}.flac").exists()
        leftovers = [p for p in output.rglob("*") if ".nightowl-tmp" in p.name]
        assert leftovers == []
        assert any(e["kind"] == "requeued" for e in query(db, "SELECT kind FROM events"))
        # the inputs were never touched
        assert {p: sha(p) for p in inputs} == inputs

        # graceful stop: SIGTERM, STOPPING=1, exit 0
        daemon.proc.send_signal(signal.SIGTERM)
        notes.wait_for("STOPPING=1")
        assert daemon.proc.wait(60) == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        print((tmp_path / "daemon.log").read_text()[-5000:])


def test_sighup_reloads_the_rules_and_refuses_bad_ones(tmp_path: Path) -> None:
    """`systemctl reload nightowl`: an edit that does not validate is refused (the rules in
    force stay); a good one applies to the files taken in from then on."""
    rules = tmp_path / "rules.toml"
    shutil.copy(Path(__file__).parent.parent / "rules" / "default.toml", rules)
    config = write_config(tmp_path)
    text = config.read_text()
    start = text.index("rules = [")
    config.write_text(text[:start] + f'rules = ["{rules}"]' + text[text.index("\n", start):])
    db = tmp_path / "state" / "nightowl.db"
    notes = Notifications(tmp_path / "notify.sock")
    daemon = Daemon(config, tmp_path / "notify.sock")

    def event(text: str) -> bool:
        return any(text in r["message"] for r in query(db, "SELECT message FROM events"))

    try:
        notes.wait_for("READY=1")
        good = rules.read_text()
        rules.write_text('[[rule]]\nname = "typo"\n[rule.match]\nclass = "podcats"\n[rule.action]\npipeline = "none"\n'
                         + good)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: event("rules not reloaded"), 30, "the bad edit to be refused")
        assert event("unknown class 'podcats'")
        rules.write_text('[[rule]]\nname = "check my lossless files too"\n[rule.match]\nclass = "lossless_music"\n'
                         '[rule.action]\npipeline = "lossless_check"\noutput = "checked"\n' + good)
        daemon.proc.send_signal(signal.SIGHUP)
        count = good.count("[[rule]]") + 1
        wait_until(lambda: event(f"rules reloaded: {count} rule(s)"), 30, "the good edit to be taken")
        notes.wait_for("RELOADING=1")
        shutil.copy(DATA / "loop_amen_full.flac", tmp_path / "inbox" / "genuine.flac")
        wait_until(lambda: query(db, "SELECT count(*) AS n FROM jobs WHERE rule = 'check my lossless files too'"
                                 " AND state = 'done'")[0]["n"] == 1, 60, "the new rule's job")
        assert (tmp_path / "output" / "checked" / "genuine.lossless.json").exists()
        status = subprocess.run([sys.executable, "-m", "nightowl", "--config", str(config), "status"],
                                capture_output=True, text=True, check=True).stdout
        assert "daemon: running since" in status and f"pid {daemon.proc.pid}" in status
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=60) == 0
        status = subprocess.run([sys.executable, "-m", "nightowl", "--config", str(config), "status", "--json"],
                                capture_output=True, text=True, check=True).stdout
        assert json.loads(status)["daemon"]["state"] == "stopped"
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        daemon.log.close()
        notes.sock.close()
