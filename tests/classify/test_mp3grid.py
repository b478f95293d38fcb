"""The MP3 granule-grid check on real music (CC0 sonic-pi samples in tests/data), with
transcodes made at test time by the corpus's own encoders (LAME)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from nightowl.audio.decode import decode_excerpts, excerpt_offsets
from nightowl.classify import mp3grid
from nightowl.classify.lossless import check_lossless, decide

from bench.transcode import Setting, as_flac16, roundtrip

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def load(name: str) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(DATA / f"{name}.flac", dtype="float32", always_2d=True)
    return audio, sr


def test_filterbank_passes_the_noise_gain_it_is_calibrated_with() -> None:
    """The rounding-noise level the check compares lines with: white noise through the
    hybrid filterbank comes out at LINE_NOISE_GAIN of its sigma in every line."""
    x = np.random.default_rng(3).standard_normal(576 * 60 + 2048).astype(np.float32)
    steps = 18 * 50 + 36
    sub = mp3grid.polyphase(x, 0, np.arange(steps) * 32)[:, None, :]  # one phase
    lines = mp3grid.lines(sub, 50, bands=(1, 31))  # (18, 50 granules, 18 phases, 1, bands)
    gain = float(np.sqrt(np.mean(lines[:, :, 0].astype(np.float64) ** 2)))
    assert gain == pytest.approx(mp3grid.LINE_NOISE_GAIN, rel=0.02)


def test_polyphase_paths_agree() -> None:
    """Every-sample starts (slices) and scattered starts (gathers) compute the same windows."""
    x = np.random.default_rng(4).standard_normal(4096).astype(np.float32)
    every = mp3grid.polyphase(x, 100, np.arange(600))
    some = mp3grid.polyphase(x, 100, np.array([3, 35, 67, 590]))
    assert np.allclose(every[[3, 35, 67, 590]], some, atol=1e-6)


@pytest.mark.parametrize(("name", "setting"), [("guit_em9", "V0"), ("ambi_glass_hum", "128k"), ("loop_amen_full", "320k")])
def test_lame_round_trip_shows_its_granules(name: str, setting: str) -> None:
    audio, sr = load(name)
    fake = as_flac16(roundtrip(audio, sr, Setting("mp3", setting)), sr)
    f = mp3grid.grid_features([fake], sr, [0])
    assert mp3grid.shows_grid(f), f
    assert f["grid_mp3_at"] == 48  # where LAME's priming, trimmed by the decoder, leaves the granules
    res = check_lossless([fake], sr)
    assert res.verdict == "transcoded" and res.source_codec == "mp3", res


def test_granules_catch_what_the_lowpass_cannot() -> None:
    """guit_em9 at V0: the music is too dull and LAME's V0 lowpass too high for an edge to
    show; without the granule grid the check would let the file pass as lossless."""
    audio, sr = load("guit_em9")
    res = check_lossless([as_flac16(roundtrip(audio, sr, Setting("mp3", "V0")), sr)], sr)
    assert res.verdict == "transcoded" and res.source_codec == "mp3"
    spectral_only = {k: v for k, v in res.features.items() if not k.startswith("grid_mp3")}
    assert decide(spectral_only).verdict != "transcoded"


@pytest.mark.parametrize("name", ["loop_tabla", "loop_amen_full", "guit_em9", "ambi_glass_hum"])
def test_genuine_music_shows_no_granules(name: str) -> None:
    audio, sr = load(name)
    f = mp3grid.grid_features([audio], sr, [0])
    assert not mp3grid.shows_grid(f), f


@pytest.mark.parametrize("setting", [Setting("aac", "128k"), Setting("vorbis", "q4"), Setting("opus", "96k")])
def test_other_codecs_show_no_mp3_granules(setting: Setting) -> None:
    audio, sr = load("loop_amen_full")
    fake = as_flac16(roundtrip(audio, sr, setting), sr)
    assert not mp3grid.shows_grid(mp3grid.grid_features([fake], sr, [0]))


@pytest.mark.parametrize("trim", [0, 333])
def test_excerpts_of_a_long_file_are_searched_on_one_grid(tmp_path: Path, trim: int) -> None:
    """A long transcode is checked on excerpts; with each excerpt's place in the file they
    share one grid, wherever a decoder left it (here also 333 samples further on)."""
    audio, sr = load("guit_em9")
    long = np.concatenate([audio] * 6)
    fake = as_flac16(roundtrip(long, sr, Setting("mp3", "V0")), sr)
    path = tmp_path / "fake.flac"
    sf.write(path, fake[trim:], sr, subtype="PCM_16")
    duration = sf.info(path).duration
    excerpts, rate = decode_excerpts(path, duration, count=4, length=4.5, sample_rate=sr)
    starts = excerpt_offsets(duration, 4, 4.5, sr)
    assert len(excerpts) == 4 == len(starts)
    f = mp3grid.grid_features(excerpts, rate, starts)
    assert mp3grid.shows_grid(f), f
    whole = mp3grid.grid_features([fake], sr, [0])
    assert f["grid_mp3_at"] == (whole["grid_mp3_at"] - trim) % 576
