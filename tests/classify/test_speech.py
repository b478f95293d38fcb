"""Speech features on real audio: Silero VAD (ONNX), pacing, voices taking turns, music under talk.

Speech clips are in tests/data/speech (see SOURCES.md there); music clips are the CC0
sonic-pi samples in tests/data.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from nightowl.audio.decode import decode, decode_excerpts
from nightowl.audio.probe import probe
from nightowl.classify.speech import (
    BLOCK_WINDOWS,
    FEATURE_KEYS,
    VAD_RATE,
    WINDOW,
    mono16k,
    speech_features,
    speech_probabilities,
    speech_segments,
)

DATA = Path(__file__).resolve().parents[1] / "data"
SPEECH = DATA / "speech"
MUSIC = ["loop_tabla", "guit_em9", "loop_amen_full"]

# reference turns of the pyannote sample (sample.rttm): nobody speaks before 6.69 s
PYANNOTE_FIRST_SPEECH_S = 6.69


def load16k(path: Path) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    return soxr.resample(audio.mean(axis=1), sr, VAD_RATE).astype(np.float32)


def features_of(path: Path) -> dict[str, float]:
    """As intake would: a few 20 s excerpts spread over the file (short files whole)."""
    excerpts, sr = decode_excerpts(path, probe(path).duration, count=4, length=20.0)
    return speech_features(excerpts, sr)


def with_bed(speech: np.ndarray, sr: int, music_name: str, level_db: float) -> np.ndarray:
    """Speech (mono) over a looped stereo music bed `level_db` below it."""
    music, msr = sf.read(DATA / f"{music_name}.flac", dtype="float32", always_2d=True)
    music = soxr.resample(music, msr, sr)
    music = np.tile(music, (len(speech) // len(music) + 1, 1))[: len(speech)]
    gain = np.sqrt(np.mean(speech[np.abs(speech) > 1e-3] ** 2) / np.mean(music ** 2)) * 10 ** (level_db / 20)
    return (speech[:, None] + music * gain).astype(np.float32)


def test_one_probability_per_32ms_window() -> None:
    probs = speech_probabilities(np.zeros(VAD_RATE + 100, dtype=np.float32))
    assert probs.shape == (-(-(VAD_RATE + 100) // WINDOW),)
    assert probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    assert speech_probabilities(np.zeros(0, dtype=np.float32)).shape == (0,)


def test_vad_finds_the_conversation_in_the_pyannote_sample() -> None:
    probs = speech_probabilities(load16k(SPEECH / "pyannote_sample.flac"))
    t = np.arange(len(probs)) * WINDOW / VAD_RATE
    before = probs[t < PYANNOTE_FIRST_SPEECH_S - 0.3]
    after = probs[t >= PYANNOTE_FIRST_SPEECH_S + 0.3]
    assert np.mean(before > 0.5) < 0.05  # the silent lead-in
    assert np.mean(after > 0.5) > 0.7  # a busy two-person conversation
    segments = speech_segments(probs)
    assert segments and segments[0][0] * WINDOW / VAD_RATE == pytest.approx(PYANNOTE_FIRST_SPEECH_S, abs=0.4)


def test_vad_finds_the_arctic_sentence() -> None:
    probs = speech_probabilities(load16k(SPEECH / "arctic_a0007.flac"))
    assert np.mean(probs > 0.5) > 0.6


@pytest.mark.parametrize("name", MUSIC)
def test_no_speech_in_music(name: str) -> None:
    audio, sr = sf.read(DATA / f"{name}.flac", dtype="float32", always_2d=True)
    probs = speech_probabilities(soxr.resample(audio.mean(axis=1), sr, VAD_RATE))
    assert np.mean(probs > 0.5) < 0.02
    feats = speech_features([audio], sr)
    assert feats["speech_ratio"] == 0.0
    assert feats["voices"] == 0.0


@pytest.mark.parametrize("path", [SPEECH / "voice_memo.mp3", DATA / "loop_tabla.flac"], ids=lambda p: p.name)
def test_features_are_finite_plain_floats_with_documented_keys(path: Path) -> None:
    feats = features_of(path)
    assert set(feats) == set(FEATURE_KEYS)
    assert all(type(v) is float and np.isfinite(v) for v in feats.values())


def test_sequence_model_matches_silero_streaming_model() -> None:
    """The sequence export, a block of windows per call, must give the probabilities of
    silero's streaming model fed one window at a time with its state and context, across
    blocks too (the 30 s clip is 937 windows, BLOCK_WINDOWS 512)."""
    import importlib.util

    import onnxruntime

    spec = importlib.util.find_spec("silero_vad")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    stream = onnxruntime.InferenceSession(str(folder / "silero_vad.onnx"), providers=["CPUExecutionProvider"])
    x = load16k(SPEECH / "pyannote_sample.flac")
    assert len(x) // WINDOW > BLOCK_WINDOWS
    state, context, want = np.zeros((2, 1, 128), np.float32), np.zeros((1, 64), np.float32), []
    for i in range(len(x) // WINDOW):
        chunk = np.concatenate([context, x[None, i * WINDOW:(i + 1) * WINDOW]], axis=1)
        prob, state = stream.run(None, {"input": chunk, "state": state, "sr": np.array(VAD_RATE, np.int64)})
        want.append(prob[0, 0])
        context = chunk[:, -64:]
    got = speech_probabilities(x)
    assert len(got) == len(want) + (len(x) % WINDOW > 0)  # the last, partial window is padded
    np.testing.assert_allclose(got[:len(want)], want, atol=1e-5)
    assert np.mean(got > 0.5) > 0.3  # the comparison covers speech, not only the lead-in


def test_two_voices_take_turns_in_the_dialogue() -> None:
    feats = features_of(SPEECH / "dialogue_two_voices.mp3")
    assert feats["speech_ratio"] > 0.7
    assert feats["voices"] >= 2
    assert feats["turn_changes_per_minute"] >= 5
    assert 0.3 < feats["median_pause_s"] < 0.8  # the render's pauses are 0.25-0.7 s


def test_two_voices_take_turns_in_the_pyannote_sample() -> None:
    feats = features_of(SPEECH / "pyannote_sample.flac")
    assert feats["voices"] >= 2
    assert feats["turn_changes_per_minute"] >= 5  # the reference has ~20 changes per minute of speech


@pytest.mark.parametrize("name", ["voice_memo.mp3", "arctic_a0007.flac"])
def test_a_single_voice_is_one_voice(name: str) -> None:
    feats = features_of(SPEECH / name)
    assert feats["voices"] == 1
    assert feats["turn_changes_per_minute"] == 0


def test_voice_memo_pacing() -> None:
    feats = features_of(SPEECH / "voice_memo.mp3")
    assert 0.5 < feats["speech_ratio"] < 0.9
    assert feats["median_pause_s"] > 0.8  # thinking pauses
    assert 2.0 < feats["longest_speech_s"] < 10.0
    assert feats["gap_level_db"] < -30  # pauses are (nearly) silent
    assert feats["channels"] == 1.0
    assert feats["stereo_width_db"] == -120.0


@pytest.mark.parametrize("bed", ["guit_em9", "loop_tabla"])
def test_a_music_bed_sounds_between_the_words(bed: str) -> None:
    speech, sr = decode(SPEECH / "dialogue_two_voices.mp3", duration=40.0)
    alone = speech_features([speech], sr)
    mixed = speech_features([with_bed(speech[:, 0], sr, bed, -15.0)], sr)
    assert mixed["speech_ratio"] > 0.7  # the talk is still found
    assert mixed["gap_level_db"] > alone["gap_level_db"] + 12
    assert mixed["music_presence"] > alone["music_presence"] + 0.15
    assert mixed["channels"] == 2.0


def test_sung_notes_are_held_spoken_syllables_glide() -> None:
    sung = features_of(SPEECH / "sung_daisy.flac")
    assert sung["speech_ratio"] > 0.5  # the VAD takes singing for speech...
    assert sung["pitch_hold_ratio"] > 0.25  # ...but a singer holds notes
    for name in ["dialogue_two_voices.mp3", "voice_memo.mp3", "pyannote_sample.flac"]:
        assert features_of(SPEECH / name)["pitch_hold_ratio"] < 0.1, name


def test_music_alone_is_music_without_speech() -> None:
    audio, sr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    feats = speech_features([audio], sr)
    assert feats["speech_ratio"] == 0.0
    assert feats["gap_tonal_persistence"] > 0.5  # held notes keep their partials
    assert feats["music_presence"] >= 0.5


def test_cost_per_minute_is_small() -> None:
    excerpts, sr = decode_excerpts(SPEECH / "dialogue_two_voices.mp3", 121.0, count=4, length=20.0)
    speech_features(excerpts[:1], sr)  # load the model first
    start = time.process_time()
    feats = speech_features(excerpts, sr)
    per_minute = (time.process_time() - start) / (feats["duration_s"] / 60)
    assert per_minute < 1.0  # ~0.3 s on an idle core; generous for loaded test machines


def test_the_daemon_side_never_imports_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from nightowl.classify.speech import speech_probabilities\n"
        "speech_probabilities(np.zeros(16000, dtype=np.float32))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_16k_mono_made_in_blocks_is_the_whole_resampled(monkeypatch) -> None:
    """mono16k streams long audio through one resampler a block at a time (an hour's mid
    channel at 44.1 kHz would be 0.6 GB): the samples are those of resampling it whole."""
    import nightowl.classify.speech as speech
    from nightowl.classify.spectral import to_mono

    audio, sr = sf.read(DATA / "loop_tabla.flac", dtype="float32", always_2d=True)
    whole = soxr.resample(to_mono(audio), sr, VAD_RATE, quality="HQ")
    monkeypatch.setattr(speech, "MONO_BLOCK", 5000)  # many blocks, the last one short
    made = mono16k(audio, sr)
    assert made.dtype == np.float32 and made.flags.c_contiguous
    np.testing.assert_array_equal(made, whole)
    assert len(mono16k(audio[:0], sr)) == 0
    np.testing.assert_array_equal(mono16k(audio[:, 0], VAD_RATE), audio[:, 0])  # already 16 kHz: as it is
