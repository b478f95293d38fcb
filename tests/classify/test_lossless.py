"""The fake-lossless check on real music (CC0 sonic-pi samples in tests/data).

Transcodes are made at test time with the same helpers the benchmark corpus uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.transcode import Setting, as_flac, as_flac16, encode_bytes, made_hi_res, roundtrip, upsample
from nightowl.audio.decode import decode
from nightowl.classify.lossless import (
    MP3_FALL_HZ_DB,
    SOFT_FALL_HZ_DB,
    LosslessCheck,
    _final_fall,
    check_lossless,
    decide,
    loud_moments,
)

ROOT = Path(__file__).resolve().parents[2]

DATA = ROOT / "tests" / "data"


def load(name: str) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(DATA / f"{name}.flac", dtype="float32", always_2d=True)
    return audio, sr


@pytest.mark.parametrize("name", ["loop_tabla", "loop_amen_full", "guit_em9", "ambi_glass_hum"])
def test_genuine_is_never_called_transcoded(name: str) -> None:
    audio, sr = load(name)
    res = check_lossless([audio], sr)
    assert res.verdict in ("lossless", "inconclusive"), res.reasons


def test_full_band_genuine_is_lossless() -> None:
    audio, sr = load("loop_tabla")
    res = check_lossless([audio], sr)
    assert res.verdict == "lossless"
    assert res.source_codec is None


@pytest.mark.parametrize("name", ["loop_tabla", "guit_em9"])
def test_music_that_stops_short_of_nyquist_is_not_called_lossless(name: str) -> None:
    """A full-band genuine clip with its top (from 20.3 kHz, 20 dB down by 20.8) taken off:
    no lossy edge shows, but the music no longer reaches 21.6 kHz, and a transcode from
    Opus or LAME 320k, which stop near 20 kHz, would look the same up there."""
    audio, sr = load(name)
    spectrum = np.fft.rfft(audio, axis=0)
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    fall = 0.5 - 0.5 * np.cos(np.pi * np.clip((freqs - 20300) / 500, 0, 1))
    dulled = np.fft.irfft(spectrum * 10 ** (-20 / 20 * fall)[:, None], n=len(audio), axis=0).astype(np.float32)
    assert check_lossless([audio], sr).verdict == "lossless"
    res = check_lossless([as_flac16(dulled, sr)], sr)
    assert res.verdict == "inconclusive", res.reasons
    # and it says why: the music stops high, not "dull material"
    assert 20_000 <= res.features["music_top_hz"] < 21_000
    assert "dull" not in res.reasons[-1], res.reasons


@pytest.mark.parametrize(
    "setting", [Setting("mp3", "128k"), Setting("aac", "128k"), Setting("opus", "64k"), Setting("vorbis", "q2")],
    ids=lambda s: s.label,
)
def test_transcode_is_detected(setting: Setting) -> None:
    audio, sr = load("loop_tabla")
    fake = as_flac16(roundtrip(audio, sr, setting), sr)
    res = check_lossless([fake], sr)
    assert res.verdict == "transcoded", res.reasons
    assert res.cutoff_hz is not None and 15000 < res.cutoff_hz < 21000
    assert 0.6 <= res.confidence <= 1.0


@pytest.mark.parametrize("name", ["loop_tabla", "loop_amen_full"])
def test_opus_kept_at_its_own_48_khz_is_named(tmp_path: Path, name: str) -> None:
    """The usual fake FLAC from an .opus file: decoded at Opus's 48 kHz (FFmpeg, opusdec)
    and stored as is, so the wall at 20 kHz has 4 kHz of silence above it."""
    audio, sr = load(name)
    data, ext = encode_bytes(audio, sr, Setting("opus", "96k"))
    (tmp_path / f"x.{ext}").write_bytes(data)
    decoded, rate = decode(tmp_path / f"x.{ext}")
    assert rate == 48000
    res = check_lossless([as_flac16(decoded, rate)], rate)
    assert (res.verdict, res.source_codec) == ("transcoded", "opus"), res.reasons
    assert 19500 < res.cutoff_hz < 20500


# MP3's and Opus's marks are distinct, also where both stop near 20 kHz (MP3 256k/320k:
# LAME's lowpass ends more abruptly than Opus's resampled wall); AAC and Vorbis are named
# by their grid, tested in test_codecgrid.py
@pytest.mark.parametrize("setting", [Setting("mp3", "96k"), Setting("mp3", "128k"), Setting("mp3", "320k"),
                                     Setting("opus", "64k"), Setting("opus", "96k"), Setting("opus", "160k")],
                         ids=lambda s: s.label)
def test_mp3_and_opus_are_named(setting: Setting) -> None:
    audio, sr = load("loop_tabla")
    res = check_lossless([as_flac16(roundtrip(audio, sr, setting), sr)], sr)
    assert res.source_codec == setting.codec, (res.source_codec, res.reasons)


# measured on intake's excerpts of a genuine FluidSynth render looped to 3 minutes, at one of
# their placements (bench/long_files.py --placements): its instruments' top fades out at 20.7 kHz
SOFT_TOP = {
    "sample_rate": 44100.0, "frames": 189.0, "active_frames": 189.0, "floor_db": -127.323, "top_band_db": 3.106,
    "music_top_hz": 20596.509, "cutoff_hz": 20731.091, "drop_db": 20.79, "width_hz": 775.195, "flat_db": 4.786,
    "slope_db_khz": -2.813, "shelf_db": 2.121, "music_db": 22.911, "above_hz": 1318.909, "fall_hz_db": 59.147,
    "holes": 0.141, "variability_db": 9.309, "grid_aac_excess": 0.018, "grid_aac_ratio": 0.342, "grid_aac_z": 1.611,
    "grid_aac_at": 0.0, "grid_vorbis_excess": 0.02, "grid_vorbis_ratio": 0.38, "grid_vorbis_z": 1.995,
    "grid_vorbis_at": 0.0,
}


def test_music_fading_out_near_20_khz_is_no_lowpass() -> None:
    """A 21 dB fall within 800 Hz at 20.7 kHz is an edge by its size, but it fades out at
    59 Hz per dB, where every transcode's ends at 30 or faster: the music's own top."""
    assert SOFT_TOP["fall_hz_db"] > SOFT_FALL_HZ_DB
    assert decide(SOFT_TOP).verdict == "inconclusive"
    lame = decide(SOFT_TOP | {"fall_hz_db": 8.0})  # the same edge ending as LAME's lowpass ends
    assert lame.verdict == "transcoded"


def test_one_bin_dipping_on_the_fall_does_not_end_it() -> None:
    """How an edge near 20 kHz ends is read on the unsmoothed spectrum, where single bins
    dip a few dB. Opus's wall falls to a shoulder a dB or two over the nine-tenths level, then
    on to the floor: one bin dipping under that level on the shoulder must not make the fall
    read as abrupt as LAME's (it did, for an Opus 160k of the tabla loop, on one machine)."""
    freqs = np.arange(2049) * (44100 / 4096)
    cutoff = 20000.0
    # music at -98 dB up to the cutoff, then 20 Hz per dB down to a shoulder at -124 dB
    # (0.87 of the way to the floor), 300 Hz of shoulder, and on to the floor at -128 dB
    fall = np.clip((freqs - cutoff) / 20.0, 0.0, 26.0)
    tail = np.clip((freqs - (cutoff + 26 * 20.0 + 300.0)) / 20.0, 0.0, 4.0)
    raw = -98.0 - fall - tail
    smooth_fall = _final_fall(freqs, raw, cutoff, 44100)["fall_hz_db"]
    assert smooth_fall > MP3_FALL_HZ_DB
    k = int(np.searchsorted(freqs, cutoff + 26 * 20.0 + 100.0))  # on the shoulder
    raw[k] = -127.5
    assert _final_fall(freqs, raw, cutoff, 44100)["fall_hz_db"] == pytest.approx(smooth_fall)


def test_upsampled_is_detected() -> None:
    audio, sr = load("loop_tabla")
    res = check_lossless([as_flac16(upsample(audio, sr, 22050), sr)], sr)
    assert res.verdict == "upsampled", res.reasons
    assert res.cutoff_hz is not None and 9900 < res.cutoff_hz < 11100


def test_upsampled_with_its_wall_high_is_upsampled() -> None:
    """loop_amen_full from 22.05 kHz: soxr's wall measures 10.74 kHz, 97.4% of 11.025."""
    audio, sr = load("loop_amen_full")
    res = check_lossless([as_flac16(upsample(audio, sr, 22050), sr)], sr)
    assert res.verdict == "upsampled", res.reasons
    assert 10600 < res.cutoff_hz < 10800


def test_an_mp3_whose_lowpass_sits_where_a_resampler_wall_would_is_a_transcode() -> None:
    """LAME 96k stops at ~15.3 kHz, just where a 32 kHz file's resampler wall sits: its
    granule grid tells the two apart (it was called upsampled)."""
    audio, sr = load("loop_amen_full")
    res = check_lossless([as_flac16(roundtrip(audio, sr, Setting("mp3", "96k")), sr)], sr)
    assert 14900 < res.cutoff_hz < 15600
    assert (res.verdict, res.source_codec) == ("transcoded", "mp3"), res.reasons


@pytest.mark.parametrize(("name", "rate"), [("guit_em9", 96000), ("ambi_glass_hum", 96000), ("guit_em9", 192000),
                                           ("loop_tabla", 96000)])
def test_fake_hi_res_is_called_upsampled(name: str, rate: int) -> None:
    """A CD-rate file resampled to a "hi-res" rate and kept at 24 bits: the resampler's
    wall just under 22.05 kHz, measured higher than in a 16-bit file (a deeper floor);
    under it, the tabla's sparse top flickers below 16-bit rounding, which is not a codec's."""
    audio, sr = load(name)
    res = check_lossless([as_flac(made_hi_res(audio, sr, rate), rate, 24)], rate)
    assert res.verdict == "upsampled", res.reasons
    assert 20500 < res.cutoff_hz < 21800
    assert "44.1 kHz" in res.reasons[-1]


@pytest.mark.parametrize("name", ["loop_tabla", "guit_em9"])
def test_hi_res_made_from_an_mp3_is_named(name: str) -> None:
    """An MP3 made "hi-res": decoded, resampled to 96 kHz, kept at 24 bits. The resampler's
    wall is the strongest edge; LAME's lowpass is found under it, as 16 bits would show it
    (24 bits keep the decoder's uneven residue over the lowpass)."""
    audio, sr = load(name)
    hi = made_hi_res(roundtrip(audio, sr, Setting("mp3", "128k")), sr, 96000)
    res = check_lossless([as_flac(hi, 96000, 24)], 96000)
    assert (res.verdict, res.source_codec) == ("transcoded", "mp3"), res.reasons
    assert 16000 < res.cutoff_hz < 17000  # LAME's 128k lowpass, not the wall at ~21.2 kHz
    assert "upsampled" in res.reasons[0]


def test_dull_and_silent_material_is_inconclusive() -> None:
    audio, sr = load("ambi_glass_hum")  # nothing above ~4 kHz
    assert check_lossless([audio], sr).verdict == "inconclusive"
    silence = np.zeros((sr * 3, 2), dtype=np.float32)
    assert check_lossless([silence], sr).verdict == "inconclusive"
    assert check_lossless([], sr).verdict == "inconclusive"


def test_low_rate_is_not_applicable() -> None:
    audio, sr = load("loop_tabla")
    assert check_lossless([audio[::2]], 22050).verdict == "not_applicable"


def test_result_is_json_friendly_and_explained() -> None:
    audio, sr = load("loop_tabla")
    res = check_lossless([as_flac16(roundtrip(audio, sr, Setting("mp3", "128k")), sr)], sr)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["verdict"] == "transcoded" and d["reasons"]
    assert all(isinstance(v, float) for v in d["features"].values())
    assert isinstance(res, LosslessCheck)


@pytest.mark.parametrize("frames", [3, 4, 10, 11, 384])
def test_loud_moments_is_numpys_closest_observation_quantile(frames: int) -> None:
    power = np.random.default_rng(frames).exponential(size=(frames, 64)).astype(np.float32)
    expected = np.quantile(power, 0.9, axis=0, method="closest_observation")
    assert np.array_equal(loud_moments(power), expected)


def test_a_high_rate_file_reaching_far_past_any_lossy_band_is_not_likened_to_opus() -> None:
    # a 96 kHz file whose faint top reaches 47 kHz: inconclusive, but "Opus and LAME at
    # 320 kbps stop about there" (20 kHz) would be a wrong reason
    sr = 96000
    t = np.arange(sr * 8) / sr
    x = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # its rounding noise is the faint top
    result = check_lossless([x], sr)
    assert result.verdict == "inconclusive"
    assert result.reasons == ["the music reaches 47.6 kHz and no further, with no codec's edge: "
                              "too faint up there to call it lossless"]
