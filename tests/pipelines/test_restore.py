"""The restore pipeline on real files: passthrough, tags and cover, mirror, skips, failures, engines."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from mutagen.flac import FLAC
from mutagen.flac import Picture as FlacPicture
from mutagen.id3 import APIC, ID3, TALB, TIT2, TPE1, TRCK
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from nightowl.cli import main
from nightowl.pipelines.context import JobContext
from nightowl.pipelines.restore import RestoreError, run
from nightowl.restore.metrics import align, hf_lsd

from bench.transcode import Setting, roundtrip
from tests.conftest import write_config
from tests.encoded import encode, png

DATA = Path(__file__).resolve().parents[1] / "data"


def _music(seconds: float = 4.0) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    return audio[: int(seconds * sr)], sr


def _ctx(src: Path, out: Path, rel: str | None = None, **params: object) -> JobContext:
    return JobContext(input=src, rel_path=rel or src.name, output_root=out, output_folder="restored",
                      params=params, fingerprint=f"fp-{src.name}")


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_genuine_lossless_file_comes_out_sample_identical(tmp_path: Path) -> None:
    src = DATA / "loop_amen_full.flac"
    outputs = run(_ctx(src, tmp_path))
    flac = Path(outputs[1])
    original, sr = sf.read(src, dtype="int32")
    restored, sr_out = sf.read(flac, dtype="int32")
    assert sr_out == sr == 44100 and sf.info(str(flac)).subtype == "PCM_24"
    assert np.array_equal(original, restored)  # int32 reads put 16 and 24 bits on one scale
    report = json.loads(Path(outputs[0]).read_text())
    assert report["cutoff_hz"] is None and report["filled_share"] == 0.0


def test_a_transcode_gets_its_band_back_and_keeps_the_rest(tmp_path: Path) -> None:
    music, sr = _music()
    fake = tmp_path / "fake.flac"
    sf.write(fake, roundtrip(music, sr, Setting("mp3", "128k")), sr, subtype="PCM_16")
    outputs = run(_ctx(fake, tmp_path / "out"))
    report = json.loads(Path(outputs[0]).read_text())
    cutoff = report["cutoff_hz"]
    assert cutoff is not None and 15000 < cutoff < 17500 and report["filled_share"] > 0.05
    restored, _ = sf.read(outputs[1], dtype="float32", always_2d=True)
    before, _ = sf.read(fake, dtype="float32", always_2d=True)
    est_in, ref, _ = align(before, music, sr)
    est_out, ref_out, _ = align(restored, music, sr)
    assert hf_lsd(est_out, ref_out, sr, cutoff) < hf_lsd(est_in, ref, sr, cutoff) - 3.0
    # what was added lies above the cutoff: 1.5 kHz under it, it is 40 dB down at most
    # (the gate fades tiles in and out, which spreads a little of the added band)
    added = restored - before
    spectrum = np.abs(np.fft.rfft(added[:, 0]))
    freqs = np.fft.rfftfreq(len(added), 1 / sr)
    assert spectrum[freqs < cutoff - 1500].max() < 1e-2 * spectrum[freqs > cutoff].max()
    assert "synthesis" in FLAC(outputs[1])["NIGHTOWL_NOTE"][0]


def _tag_mp3(path: Path) -> None:
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Night Song"))
    tags.add(TPE1(encoding=3, text="Owl"))
    tags.add(TALB(encoding=3, text="Dark Hours"))
    tags.add(TRCK(encoding=3, text="3/12"))
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=png(2, 2)))
    tags.save(path)


def _tag_m4a(path: Path) -> None:
    mp4 = MP4(path)
    mp4["\xa9nam"], mp4["\xa9ART"], mp4["\xa9alb"] = ["Night Song"], ["Owl"], ["Dark Hours"]
    mp4["trkn"] = [(3, 12)]
    mp4["covr"] = [MP4Cover(png(2, 2), imageformat=MP4Cover.FORMAT_PNG)]
    mp4.save()


def _tag_opus(path: Path) -> None:
    block = FlacPicture()
    block.type, block.mime, block.desc, block.data = 3, "image/png", "cover", png(2, 2)
    opus = OggOpus(path)
    opus["TITLE"], opus["ARTIST"], opus["ALBUM"], opus["TRACKNUMBER"] = "Night Song", "Owl", "Dark Hours", "3/12"
    opus["METADATA_BLOCK_PICTURE"] = [base64.b64encode(block.write()).decode("ascii")]
    opus.save()


def test_a_file_the_check_called_transcoded_is_restored_as_lossy(tmp_path: Path) -> None:
    # dull music over a dither floor: AAC's lowpass falls too little there to be taken
    # for a codec's on its own, but the lossless check's verdict vouches for it
    music, sr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    fake = tmp_path / "fake.flac"
    sf.write(fake, roundtrip(music, sr, Setting("aac", "128k")), sr, subtype="PCM_16")
    plain_ctx = _ctx(fake, tmp_path / "a")
    plain_ctx.evidence = {"lossless_check": {"verdict": "inconclusive", "source_codec": None}}
    plain = json.loads(Path(run(plain_ctx)[0]).read_text())
    ctx = _ctx(fake, tmp_path / "b")
    ctx.evidence = {"lossless_check": {"verdict": "transcoded", "source_codec": "aac"}}
    known = json.loads(Path(run(ctx)[0]).read_text())
    assert plain["cutoff_hz"] is None and known["cutoff_hz"] is not None and known["filled_share"] > 0.05
    assert (plain["source_codec"], known["source_codec"]) == (None, "aac")
    assert known["hole_share"] == 0.0  # AAC leaves no holes to fill
    # a file that reaches restore without the daemon's evidence (`nightowl process`)
    # gets the check run on it there: the same verdict, the same restore
    fresh = json.loads(Path(run(_ctx(fake, tmp_path / "c"))[0]).read_text())
    assert (fresh["lossless_check"], fresh["source_codec"]) == ("transcoded", "aac")
    assert fresh["cutoff_hz"] == known["cutoff_hz"]


@pytest.mark.parametrize(("name", "codec", "fmt", "tagger"), [
    ("song.mp3", "libmp3lame", "mp3", _tag_mp3),
    ("song.m4a", "aac", "ipod", _tag_m4a),
    ("song.opus", "libopus", "ogg", _tag_opus),
])
def test_tags_and_cover_art_are_carried(tmp_path: Path, name: str, codec: str, fmt: str,
                                        tagger) -> None:  # type: ignore[no-untyped-def]
    music, sr = _music(2.0)
    src = encode(tmp_path / name, music, sr, codec, fmt)
    tagger(src)
    outputs = run(_ctx(src, tmp_path / "out"))
    assert json.loads(Path(outputs[0]).read_text())["source_codec"] == name.split(".")[1].replace("m4a", "aac")
    flac = FLAC(outputs[1])
    assert (flac["TITLE"], flac["ARTIST"], flac["ALBUM"]) == (["Night Song"], ["Owl"], ["Dark Hours"])
    assert (flac["TRACKNUMBER"], flac["TRACKTOTAL"]) == (["3"], ["12"])
    [picture] = flac.pictures
    assert (picture.data, picture.mime, picture.type) == (png(2, 2), "image/png", 3)
    assert flac["NIGHTOWL_ENGINE"][0].startswith("dsp ") and "NIGHTOWL_RESTORED" in flac
    assert flac.info.sample_rate == 44100 and flac.info.bits_per_sample == 24 and flac.info.channels == 2


def test_outputs_mirror_the_inbox_path_and_a_rerun_is_skipped(tmp_path: Path) -> None:
    music, sr = _music(2.0)
    src = encode(tmp_path / "track.mp3", music, sr, "libmp3lame", "mp3")
    out = tmp_path / "out"
    first = run(_ctx(src, out, rel="Artist/Album/track.mp3"))
    assert _tree(out) == ["restored/Artist/Album/track.flac", "restored/Artist/Album/track.restore.json"]
    stamp = Path(first[1]).stat().st_mtime_ns
    again = run(_ctx(src, out, rel="Artist/Album/track.mp3"))
    assert again == first and Path(first[1]).stat().st_mtime_ns == stamp
    # a restored file dropped back in is not restored again
    assert run(_ctx(Path(first[1]), tmp_path / "second")) == []
    assert not (tmp_path / "second").exists()


def test_wav_and_no_tags_options(tmp_path: Path) -> None:
    music, sr = _music(2.0)
    src = encode(tmp_path / "track.mp3", music, sr, "libmp3lame", "mp3")
    _tag_mp3(src)
    outputs = run(_ctx(src, tmp_path / "out", format="wav", tags=False))
    info = sf.info(outputs[1])
    assert outputs[1].endswith(".wav") and (info.samplerate, info.subtype) == (44100, "PCM_24")
    assert sf.SoundFile(outputs[1]).copy_metadata() == {}  # no tags written


def test_mono_stays_mono(tmp_path: Path) -> None:
    music, sr = _music(2.0)
    src = encode(tmp_path / "mono.mp3", music[:, :1].copy(), sr, "libmp3lame", "mp3", setting="64k")
    outputs = run(_ctx(src, tmp_path / "out"))
    assert sf.info(outputs[1]).channels == 1


def test_a_corrupt_file_fails_cleanly_and_leaves_nothing(tmp_path: Path) -> None:
    music, sr = _music(2.0)
    good = encode(tmp_path / "good.mp3", music, sr, "libmp3lame", "mp3")
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3" + bytes(10) + good.read_bytes()[5000:5100])
    out = tmp_path / "out"
    with pytest.raises(Exception):  # noqa: B017 - any clear error; what matters is what is left behind
        run(_ctx(broken, out))
    assert _tree(out) == [] or not out.exists()


def test_asking_for_a_model_without_one_is_an_error(tmp_path: Path) -> None:
    music, sr = _music(1.0)
    src = encode(tmp_path / "a.mp3", music, sr, "libmp3lame", "mp3")
    with pytest.raises(RestoreError, match="no restore model is active"):
        run(_ctx(src, tmp_path / "out", engine="model"))


def test_the_active_registered_model_is_used(tmp_path: Path) -> None:
    from nightowl.models.registry import register
    from nightowl.store import Store

    from tests.restore.test_neural import tiny_checkpoint

    config = write_config(tmp_path)
    from nightowl.config import load_settings

    settings = load_settings(config)
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt", version="tiny-1")
    store = Store(settings.database)
    register(store, checkpoint, activate=True)
    store.close()
    music, sr = _music(2.0)
    fake = tmp_path / "fake.flac"
    sf.write(fake, roundtrip(music, sr, Setting("mp3", "128k")), sr, subtype="PCM_16")
    result = CliRunner().invoke(main, ["--config", str(config), "process", "--pipeline", "restore",
                                       "--out", str(tmp_path / "out"), "--json", str(fake)])
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.output.strip().splitlines()[-1])["outputs"]
    report = json.loads(Path(outputs[0]).read_text())
    assert (report["engine"], report["engine_version"]) == ("unet", "tiny-1")
    assert FLAC(outputs[1])["NIGHTOWL_ENGINE"] == ["unet tiny-1"]


def test_a_job_on_a_gpu_slot_runs_its_model(tmp_path: Path) -> None:
    # the worker hands a GPU slot's jobs device "gpu"; the model runs on CUDA where torch
    # sees it, and on the CPU where it does not, instead of refusing the device's name
    import torch

    from tests.restore.test_neural import tiny_checkpoint

    music, sr = _music(1.0)
    fake = tmp_path / "fake.flac"
    sf.write(fake, roundtrip(music, sr, Setting("mp3", "128k")), sr, subtype="PCM_16")
    ctx = _ctx(fake, tmp_path / "out", engine="model")
    ctx.device = "gpu"
    ctx.models = {"restore": str(tiny_checkpoint(tmp_path / "tiny.pt", version="tiny-1"))}
    report = json.loads(Path(run(ctx)[0]).read_text())
    assert (report["engine"], report["engine_version"]) == ("unet", "tiny-1")
    assert report["engine_device"] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cli_dry_run_writes_nothing_and_options_are_checked(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    music, sr = _music(2.0)
    src = encode(tmp_path / "a.mp3", music, sr, "libmp3lame", "mp3")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["--config", str(config), "process", "--pipeline", "restore", "--dry-run",
                                       "--json", "--format", "wav", "--out", str(out), str(src)])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["action"] in ("restore", "copy (nothing missing)") and plan["output"].endswith("a.wav")
    assert (plan["source_codec"], plan["lossless_check"]) == ("mp3", None)  # a lossy file: no check
    assert not out.exists()
    bad = CliRunner().invoke(main, ["--config", str(config), "process", "--pipeline", "lossless_check",
                                    "--no-tags", str(src)])
    assert bad.exit_code == 2 and "options of the restore pipeline" in bad.output
    result = CliRunner().invoke(main, ["--config", str(config), "process", "--pipeline", "restore",
                                       "--gate-threshold", "12", "--gate-range", "6", "--no-tags",
                                       "--out", str(out), "--json", str(src)])
    assert result.exit_code == 0, result.output
    report = json.loads(Path(json.loads(result.output.splitlines()[-1])["outputs"][0]).read_text())
    assert report["gate"] == {"threshold_db": 12.0, "range_db": 6.0} and report["job"]["params"]["tags"] is False
