"""Transcription with the real Whisper tiny.en that ships with nightowl (CTranslate2, int8)."""

import numpy as np
import pytest
import soundfile as sf
from nightowl.podcast import transcribe as tr
from nightowl.podcast import vad
from nightowl.podcast.speakers import assign_speakers
from nightowl.podcast.turns import read_rttm
from nightowl.podcast.words import Segment, Word
from podcast_audio import SAMPLE_RTTM, SAMPLE_STM, SAMPLE_WAV

from bench import speech_eval


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, list, list]:
    x, _ = sf.read(SAMPLE_WAV, dtype="float32")
    spans, clips = vad.find_speech(x)
    return x, spans, clips


@pytest.fixture(scope="module")
def transcript(sample: tuple) -> tr.Transcript:
    x, spans, clips = sample
    model = tr.load_model("tiny.en", threads=2)
    return tr.transcribe(model, x, clips, spans, batch_size=1)


def test_bundled_tiny_en_resolves_without_a_models_folder() -> None:
    path, local = tr.resolve("tiny.en", None)
    assert local and path.endswith("model")


def test_vad_bounds_the_clips(sample: tuple) -> None:
    x, spans, clips = sample
    assert spans and spans[0][0] > 5.0  # the sample's first 6.5 s are silence
    assert all(b - a <= vad.MAX_CLIP_S for a, b in clips)
    assert clips[0][0] == spans[0][0] and clips[-1][1] == spans[-1][1]


def test_words_have_times_and_probabilities(transcript: tr.Transcript) -> None:
    words = [w for s in transcript.segments for w in s.words]
    assert len(words) > 50 and transcript.language == "en"
    assert all(0 <= w.start <= w.end <= 30.5 and 0 <= w.probability <= 1 for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))


def test_word_error_rate_on_the_sample(transcript: tr.Transcript) -> None:
    ref = " ".join(r.text for r in speech_eval.read_stm(SAMPLE_STM.read_text()))
    error, n = speech_eval.wer(ref, " ".join(s.text for s in transcript.segments))
    assert n > 70 and error <= 0.25  # measured 0.12 with tiny.en int8


def test_reference_turns_put_words_on_the_right_speaker(transcript: tr.Transcript) -> None:
    turns = read_rttm(SAMPLE_RTTM.read_text())
    ref = speech_eval.read_stm(SAMPLE_STM.read_text())
    segments = assign_speakers(transcript.segments, turns)
    labels = speech_eval.label_map([tuple(t) for t in turns], ref)
    share, scored = speech_eval.attribution([(w.text, w.speaker) for s in segments for w in s.words], ref, labels)
    assert scored > 60 and share >= 0.9  # measured 0.96


def test_clips_go_to_whisper_in_parts_of_bounded_span() -> None:
    clips = [(0.0, 20.0), (25.0, 50.0), (55.0, 80.0), (200.0, 230.0), (231.0, 260.0)]
    assert tr.parts(clips, 60.0) == [[(0.0, 20.0), (25.0, 50.0)], [(55.0, 80.0)], [(200.0, 230.0), (231.0, 260.0)]]
    assert tr.parts(clips, 1000.0) == [clips]
    assert tr.parts([(0.0, 30.0)], 10.0) == [[(0.0, 30.0)]]  # a clip longer than a part is one of its own
    assert tr.parts([], 10.0) == []


def test_a_long_episode_transcribed_in_parts_keeps_its_words_in_place(sample: tuple) -> None:
    """The sample three times over with pauses, each time in a part of its own: the words
    of every part land in that part's speech, in order, and each part's text is as good."""
    x, _, _ = sample
    gap = np.zeros(2 * vad.VAD_RATE, np.float32)
    episode = np.concatenate([x, gap, x, gap, x, gap])
    spans, clips = vad.find_speech(episode)
    runs = tr.parts(clips, 40.0)
    assert len(runs) == 3
    model = tr.load_model("tiny.en", threads=2)
    result = tr.transcribe(model, episode, clips, spans, batch_size=1, part_seconds=40.0)
    words = [w for s in result.segments for w in s.words]
    assert result.language == "en" and all(a.start <= b.start for a, b in zip(words, words[1:]))
    ref = " ".join(r.text for r in speech_eval.read_stm(SAMPLE_STM.read_text()))
    for run in runs:
        lo, hi = run[0][0] - 0.5, run[-1][1] + 0.5
        inside = [w for w in words if lo <= w.start <= hi]
        assert len(inside) > 60
        error, _ = speech_eval.wer(ref, " ".join(w.text for w in inside))
        assert error <= 0.3  # measured 0.16 over the three (0.19 in one part)
    assert len(words) == sum(1 for w in words if any(r[0][0] - 0.5 <= w.start <= r[-1][1] + 0.5 for r in runs))


def seg(start: float, end: float, text: str, *, prob: float = 0.9, ratio: float = 1.2,
        no_speech: float = 0.1, logprob: float = -0.3) -> Segment:
    words = tuple(Word(start + i * 0.3, start + i * 0.3 + 0.25, " " + t, prob) for i, t in enumerate(text.split()))
    return Segment(start, end, text, words, None, logprob, no_speech, ratio)


SPANS = [(0.0, 10.0), (20.0, 30.0)]


@pytest.mark.parametrize("segment,reason", [
    (seg(12.0, 18.0, "and so it goes"), "voice activity"),
    (seg(1.0, 5.0, "the the the the the the the"), None),
    (seg(1.0, 5.0, "again and again and again", ratio=3.1), "repeats itself"),
    (seg(1.0, 5.0, "mm", no_speech=0.8, logprob=-1.5), "judged it silence"),
    (seg(8.5, 12.0, "Thanks for watching!"), "stock phrase"),
    (seg(1.0, 3.0, "[Music]"), "sound description"),
    (seg(1.0, 3.0, "♪ ♪"), "sound description"),
])
def test_hallucination_rules(segment: Segment, reason: str | None) -> None:
    got = tr.drop_reason(segment, SPANS)
    assert (got is None) if reason is None else (got is not None and reason in got)


def test_a_sure_thank_you_inside_speech_is_kept() -> None:
    assert tr.drop_reason(seg(2.0, 3.0, "Thank you."), SPANS) is None


def test_unsure_words_outside_speech_are_dropped() -> None:
    s = seg(9.0, 11.0, "yes right", prob=0.9)
    s = Segment(s.start, 11.5, s.text, (s.words[0], Word(11.0, 11.4, " uh", 0.2)))
    kept = tr.keep_words(s, SPANS)
    assert kept is not None and [w.text for w in kept.words] == [" yes"]


def test_missing_model_offline_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(tr.TranscribeError, match="models fetch"):
        tr.load_model("small.en", models_dir=tmp_path)


def test_whisper_falls_back_to_the_cpu_when_ctranslate2_cannot_use_the_gpu(sample: tuple) -> None:
    # on this machine CUDA itself is missing; on a GPU whose cuBLAS is not the one
    # CTranslate2 was built for, the probe's first encode fails the same way
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    model, why = tr.load_model_for_gpu("tiny.en")
    assert model.model.device == "cpu" and why is not None and "CUDA" in why
    x, spans, clips = sample
    words = tr.transcribe(model, x, clips, spans, batch_size=1).to_dict()["segments"]
    assert words  # the CPU model transcribes


def test_a_broken_model_folder_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    with pytest.raises(tr.TranscribeError, match="cannot load Whisper model"):
        tr.load_model(str(tmp_path))
    with pytest.raises(tr.TranscribeError, match="cannot load Whisper model"):
        tr.load_model_for_gpu(str(tmp_path))


def test_the_wheels_cublas12_is_loaded_so_ctranslate2_finds_it_by_name(tmp_path) -> None:
    # stand-ins built here with the real library names and sonames: after the preload, a
    # dlopen by bare name (what CTranslate2 does) finds them, with no LD_LIBRARY_PATH
    import ctypes
    import shutil
    import subprocess

    if shutil.which("gcc") is None:
        pytest.skip("no C compiler to build the stand-in libraries")
    assert tr.preload_cublas12([str(tmp_path)]) == []  # nothing installed: nothing loaded
    lib = tmp_path / "nvidia" / "cublas" / "lib"
    lib.mkdir(parents=True)
    (tmp_path / "blas.c").write_text("int nightowl_standin(void) { return 12; }\n")
    for name in ("libcublasLt.so.12", "libcublas.so.12"):
        subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{name}", "-o", str(lib / name),
                        str(tmp_path / "blas.c")], check=True)
    with pytest.raises(OSError):
        ctypes.CDLL("libcublas.so.12")  # not on the loader's path
    loaded = tr.preload_cublas12([str(tmp_path)])
    assert loaded == [str(lib / "libcublasLt.so.12"), str(lib / "libcublas.so.12")]
    assert ctypes.CDLL("libcublas.so.12").nightowl_standin() == 12


def test_a_broken_cublas12_is_not_loaded(tmp_path) -> None:
    lib = tmp_path / "nvidia" / "cublas" / "lib"
    lib.mkdir(parents=True)
    for name in ("libcublasLt.so.12", "libcublas.so.12"):
        (lib / name).write_bytes(b"not a library")
    assert tr.preload_cublas12([str(tmp_path)]) == []
