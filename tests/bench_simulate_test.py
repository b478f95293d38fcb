"""Fast checks of the corpus simulations (bench/simulate.py), container helpers (bench/corpus.py)
and the transcoder (bench/transcode.py)."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from bench import simulate as sim
from bench.transcode import Setting, roundtrip

SR = 44100


def _tone(seconds: float, f: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_dialogue_turns_match_the_audio() -> None:
    rng = np.random.default_rng(1)
    utts = [("a", _tone(1.0), "one."), ("b", _tone(0.5, 330), "two."), ("b", _tone(0.7, 330), "three."),
            ("a", _tone(0.8), "four.")]
    audio, turns = sim.assemble_dialogue(utts, SR, rng, (0.3, 1.5), lead=0.4)
    assert [t.speaker for t in turns] == ["a", "b", "a"]  # b's two sentences merge into one turn
    assert turns[1].text == "two. three."
    mono = audio[:, 0]
    for t in turns:
        inside = mono[int(t.start * SR) + 100:int((t.start + t.dur) * SR) - 100]
        assert np.abs(inside).max() > 0.01
    gaps = [b.start - (a.start + a.dur) for a, b in zip(turns, turns[1:])]
    assert all(0.3 <= g <= 1.5 for g in gaps)
    assert np.abs(mono[: int(0.39 * SR)]).max() == 0
    line = sim.rttm("ep1", turns).splitlines()[0].split()
    assert line[0] == "SPEAKER" and line[1] == "ep1" and line[7] == "a" and len(line) == 10


def test_applause_is_deterministic_and_broadband() -> None:
    a = sim.synth_applause(3.0, SR, np.random.default_rng(5))
    b = sim.synth_applause(3.0, SR, np.random.default_rng(5))
    assert a.shape == (3 * SR, 2) and np.array_equal(a, b)
    spec = np.abs(np.fft.rfft(a[:, 0])) ** 2
    f = np.fft.rfftfreq(len(a), 1 / SR)
    assert spec[(f > 4000) & (f < 8000)].sum() > 1e-3 * spec.sum()


def test_handheld_boosts_lows_and_rolls_off_highs() -> None:
    x = np.random.default_rng(0).standard_normal((SR * 2, 1)).astype(np.float32) * 0.1
    y = sim.handheld(x, SR, boom_db=6.0, lowpass_hz=12000.0)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    gain = np.abs(np.fft.rfft(y[:, 0])) ** 2 / (np.abs(np.fft.rfft(x[:, 0])) ** 2 + 1e-20)

    def band(lo: float, hi: float) -> float:
        return 10 * np.log10(gain[(f > lo) & (f < hi)].mean())

    assert 4.0 < band(50, 90) < 7.5
    assert abs(band(1000, 3000)) < 1.0
    assert band(18000, 20000) < -6.0


def test_soft_limit_keeps_the_level() -> None:
    x = _tone(1.0)[:, None] * 3.0  # over full scale
    y = sim.soft_limit(x, -1.0)
    assert abs(np.abs(y).max() - sim.db(-1.0)) < 1e-4
    assert sim.rms(y) / np.abs(y).max() > 0.65  # a sine stays a sine (rms/peak ~0.707)


def test_clean_prompts_keeps_real_sentences() -> None:
    lines = ["; header", "beep: [this is a beep]", "a: Please enter your password followed by the pound key.",
             "b: press 1.", "c: (2 seconds of silence) Hello.", "d: Thank you for calling. Goodbye now my friend."]
    assert sim.clean_prompts(lines) == ["Goodbye now my friend.", "Please enter your password followed by the pound key.",
                                        "Thank you for calling."]


def test_kept_containers_are_deterministic() -> None:
    from bench.corpus import encode_container

    x = np.stack([_tone(2.0), _tone(2.0, 440)], axis=1)
    for fmt, setting in (("mp3", "V2"), ("m4a", "128k"), ("opus", "96k"), ("ogg", "q4")):
        a, b = encode_container(x, SR, fmt, setting), encode_container(x, SR, fmt, setting)
        assert a == b, fmt
    audio, rate = sf.read(io.BytesIO(encode_container(x, SR, "ogg", "q4")))
    assert rate == SR and abs(len(audio) - len(x)) < SR // 10


def test_vorbis_encodes_minutes_of_audio() -> None:
    """libsndfile's Vorbis encoder crashes on one write of a minute or more: long audio
    goes in blocks (the long-file benches transcode 3-minute files)."""
    sr = 44100
    t = np.arange(70 * sr) / sr
    audio = (0.3 * np.sin(2 * np.pi * 440 * t))[:, None].repeat(2, axis=1).astype(np.float32)
    out = roundtrip(audio, sr, Setting("vorbis", "q4"))
    assert out.shape == audio.shape
    assert np.corrcoef(out[sr:-sr, 0], audio[sr:-sr, 0])[0, 1] > 0.99


def test_packaged_songs_are_cut_by_copying_packets(tmp_path) -> None:
    """The corpus keeps a packaged song's first seconds as its own coded packets: the
    samples are the original's first ones, the same bytes every build; a file FFmpeg
    cannot demux, or no longer than the cut, is kept whole."""
    from bench.corpus import encode_container, first_seconds

    x = np.stack([_tone(6.0), _tone(6.0, 440)], axis=1)
    song = tmp_path / "song.ogg"
    song.write_bytes(encode_container(x, SR, "ogg", "q4"))
    data, cut = first_seconds(song, 2.0)
    assert cut and data == first_seconds(song, 2.0)[0] and len(data) < song.stat().st_size / 2
    part, rate = sf.read(io.BytesIO(data), dtype="float32")
    whole, _ = sf.read(song, dtype="float32")
    assert rate == SR and 2.0 * SR <= len(part) <= 2.1 * SR
    np.testing.assert_array_equal(part, whole[:len(part)])
    assert first_seconds(song, 10.0) == (song.read_bytes(), False)
    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"OggS not really")
    assert first_seconds(junk, 2.0) == (junk.read_bytes(), False)


def test_dull_sources_get_the_shorter_transcode_clip() -> None:
    """A source with music in 15.5-19.5 kHz keeps 6 s for its transcodes (the lowpass edge
    needs them); a dull one, which shows no edge at any length, 5 s."""
    from scipy.signal import butter, sosfilt

    from bench.corpus import DULL_TRANSCODE_CLIP, TRANSCODE_CLIP, Source, transcode_clip_seconds

    noise = np.random.default_rng(3).standard_normal((8 * SR, 2)).astype(np.float32) * 0.1
    dull = sosfilt(butter(8, 4000, fs=SR, output="sos"), noise, axis=0).astype(np.float32)
    assert transcode_clip_seconds(Source("bright", noise, SR, "test")) == TRANSCODE_CLIP == 6.0
    assert transcode_clip_seconds(Source("dull", dull, SR, "test")) == DULL_TRANSCODE_CLIP == 5.0
