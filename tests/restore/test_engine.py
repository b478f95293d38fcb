"""The DSP engine and the deficit gate, as pure functions on real music."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from nightowl.restore import engine, metrics
from nightowl.restore.engine import find_cutoff, plausible_cutoff, restore
from nightowl.restore.gate import GateSettings, gate_weights, residual
from nightowl.restore.stft import istft, stft

from bench.transcode import Setting, roundtrip, upsample

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def music() -> tuple[np.ndarray, int]:
    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    return audio[: 5 * sr], sr


def test_stft_inverts_exactly_and_zero_gives_zero(music: tuple[np.ndarray, int]) -> None:
    audio, _ = music
    spec = stft(audio.T)
    assert np.abs(istft(spec, len(audio)) - audio.T).max() < 1e-6
    assert not istft(np.zeros_like(spec), len(audio)).any()


def test_a_full_band_file_passes_through_untouched(music: tuple[np.ndarray, int]) -> None:
    audio, sr = music
    out = restore(audio, sr)
    assert out.cutoff.hz is None and out.audio is not None and np.array_equal(out.audio, audio)


@pytest.mark.parametrize(("setting", "lo", "hi"), [(Setting("mp3", "128k"), 15500, 17500),
                                                   (Setting("aac", "128k"), 14000, 18000)])
def test_codec_cutoffs_are_found(music: tuple[np.ndarray, int], setting: Setting, lo: float, hi: float) -> None:
    audio, sr = music
    cutoff = find_cutoff(roundtrip(audio, sr, setting), sr)
    assert cutoff.hz is not None and lo < cutoff.hz < hi


def test_an_upsampled_file_is_filled_from_its_resampler_wall(music: tuple[np.ndarray, int]) -> None:
    audio, sr = music
    out = restore(upsample(audio, sr, 22050), sr)
    assert out.cutoff.hz is not None and 10000 < out.cutoff.hz < 11025 and out.changed_share > 0.1


def test_edges_that_are_not_a_codec_are_left_alone() -> None:
    assert not plausible_cutoff(20000.0)  # many masters end there themselves
    assert plausible_cutoff(16000.0)
    assert not plausible_cutoff(12000.0)  # instruments can end at 12 kHz
    assert plausible_cutoff(12000.0, bitrate_kbps=64)  # a 64k MP3 does cut there
    assert plausible_cutoff(10500.0)  # the wall of a 22.05 kHz file brought up to 44.1
    assert plausible_cutoff(20200.0, drop_db=30.0)  # Opus's wall: a deep fall at 20 kHz
    assert not plausible_cutoff(20200.0, drop_db=16.0)  # a master's own anti-alias filter
    assert not plausible_cutoff(21000.0, drop_db=40.0)


def test_an_opus_wall_is_filled_and_brings_the_top_band_closer(music: tuple[np.ndarray, int]) -> None:
    audio, sr = music
    fake = roundtrip(audio, sr, Setting("opus", "96k"))
    out = restore(fake, sr)
    assert out.cutoff.hz is not None and 19500 < out.cutoff.hz < 20800 and out.changed_share > 0.3
    before, ref, _ = metrics.align(fake, audio, sr)
    after, ref2, _ = metrics.align(out.audio, audio, sr)
    assert metrics.hf_lsd(after, ref2, sr, out.cutoff.hz) < metrics.hf_lsd(before, ref, sr, out.cutoff.hz) - 3.0


def test_blocks_do_not_change_the_result(music: tuple[np.ndarray, int], monkeypatch: pytest.MonkeyPatch) -> None:
    audio, sr = music
    fake = roundtrip(audio, sr, Setting("mp3", "128k"))
    whole = restore(fake, sr).audio
    monkeypatch.setattr(engine, "BLOCK", 10 * engine.CONTEXT)  # ~2.3 s blocks: three of them here
    blocked = restore(fake, sr).audio
    assert np.abs(whole - blocked).max() < 1e-5


def test_the_gate_adds_nothing_where_the_input_is_not_short(music: tuple[np.ndarray, int]) -> None:
    audio, _ = music
    spec = stft(audio.T)
    # an estimate 6 dB over the input everywhere: under the 10 dB threshold
    lam = gate_weights(spec, spec * 2.0, GateSettings())
    assert not lam.any()
    assert not residual(spec, spec * 2.0, lam).any()
    # 30 dB over it: fully on, and only the difference is added
    lam = gate_weights(spec, spec * 31.6, GateSettings())
    assert lam[:, 100:900, 10:-10].min() > 0.99
    added = residual(spec, spec * 31.6, lam)
    assert np.allclose(np.abs(spec + added)[:, 100:900, 10:-10], 31.6 * np.abs(spec)[:, 100:900, 10:-10],
                       rtol=1e-3)


def test_the_gate_threshold_and_range_shape_lambda(music: tuple[np.ndarray, int]) -> None:
    audio, _ = music
    spec = stft(audio.T)
    est = spec * 10 ** (15 / 20)  # a 15 dB deficit everywhere
    lam = gate_weights(spec, est, GateSettings(threshold_db=10, range_db=10))
    assert np.allclose(lam[:, 100:900, 10:-10], 0.5, atol=1e-3)
    assert not gate_weights(spec, est, GateSettings(threshold_db=16, range_db=10)).any()
