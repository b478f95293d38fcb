"""Which parts of a file intake decodes: short files whole, long ones in excerpts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from bench.transcode import Setting, encode_bytes
from nightowl.audio.decode import decode, decode_ends, decode_plan, excerpt_offsets, excerpt_starts
from nightowl.audio.probe import probe
from nightowl.classify.analyse import (
    EDGE_SECONDS,
    EXCERPT_SECONDS,
    EXCERPTS,
    WHOLE_SECONDS,
    analyse,
    check_excerpts,
    lossless_check_of,
)

DATA = Path(__file__).resolve().parents[1] / "data"
SR = 44100


def _long_file(tmp_path: Path, seconds: float) -> Path:
    audio, sr = sf.read(DATA / "loop_amen_full.flac", dtype="float32", always_2d=True)
    reps = int(np.ceil(seconds * sr / len(audio)))
    path = tmp_path / f"long_{seconds:g}.flac"
    sf.write(path, np.tile(audio, (reps, 1))[: int(seconds * sr)], sr, subtype="PCM_16")
    return path


def test_files_up_to_the_whole_limit_are_one_excerpt() -> None:
    assert excerpt_starts(40.0, EXCERPTS, EXCERPT_SECONDS, whole_up_to=WHOLE_SECONDS) == [0.0]
    assert excerpt_offsets(40.0, EXCERPTS, EXCERPT_SECONDS, SR, WHOLE_SECONDS) == [0]
    starts = excerpt_starts(180.0, EXCERPTS, EXCERPT_SECONDS, whole_up_to=WHOLE_SECONDS)
    assert len(starts) == EXCERPTS
    # spread over the file, clear of the first and last 5%
    assert starts[0] == pytest.approx(9.0) and starts[-1] + EXCERPT_SECONDS == pytest.approx(171.0)


@pytest.mark.parametrize(("seconds", "whole"), [(40.0, True), (60.0, False)])
def test_decode_plan_takes_short_files_whole(tmp_path: Path, seconds: float, whole: bool) -> None:
    path = _long_file(tmp_path, seconds)
    plan = decode_plan(path, seconds, count=EXCERPTS, length=EXCERPT_SECONDS, edge=EDGE_SECONDS, sample_rate=SR,
                       whole_up_to=WHOLE_SECONDS)
    if whole:
        assert len(plan.middle) == 1 and len(plan.middle[0]) == int(seconds * SR) and plan.starts == [0]
    else:
        assert [len(x) for x in plan.middle] == [int(EXCERPT_SECONDS * SR)] * EXCERPTS
        assert plan.head is None and plan.tail is None  # left to decode_ends
        head, tail = decode_ends(path, seconds, EDGE_SECONDS)
        assert len(head) == len(tail) == int(EDGE_SECONDS * SR)
        assert plan.starts == excerpt_offsets(seconds, EXCERPTS, EXCERPT_SECONDS, SR)


@pytest.mark.parametrize("seconds", [35.0, 60.0])
def test_explain_and_the_check_pipeline_judge_the_same_samples(tmp_path: Path, seconds: float) -> None:
    """`nightowl explain` (analyse) and the lossless-check pipeline see the same excerpts,
    so a file's verdict and its measured features do not depend on which one asks."""
    path = _long_file(tmp_path, seconds)
    info = probe(path)
    excerpts, _, starts = check_excerpts(path, info.duration, info.sample_rate)
    assert len(excerpts) == (1 if seconds <= WHOLE_SECONDS else EXCERPTS) == len(starts)
    assert analyse(path).lossless_check == lossless_check_of(path, info)


def test_the_tail_is_read_to_the_end_and_cut_to_the_same_samples(tmp_path: Path) -> None:
    """The tail is read to the end of the file (libsndfile decodes a FLAC again from its
    start for a read ending inside its last frame) and cut to the samples asked for."""
    path = _long_file(tmp_path, 60.0)
    _, tail = decode_ends(path, 60.0, EDGE_SECONDS)
    want, _ = decode(path, start=60.0 - EDGE_SECONDS - 0.05, duration=EDGE_SECONDS)
    assert np.array_equal(tail, want)


@pytest.mark.parametrize("fmt", ["flac", "mp3"])
def test_the_ends_decoded_later_are_the_samples_of_their_spans(tmp_path: Path, fmt: str) -> None:
    """Intake decodes the middle first and the ends only where they matter, each from one
    opening of the file: the same samples as decoding each span on its own."""
    path = _long_file(tmp_path, 60.0)
    if fmt == "mp3":
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
        data, ext = encode_bytes(audio, sr, Setting("mp3", "192k"))
        path = tmp_path / f"long.{ext}"
        path.write_bytes(data)
    info = probe(path)
    plan = decode_plan(path, info.duration, count=EXCERPTS, length=EXCERPT_SECONDS, edge=EDGE_SECONDS,
                       sample_rate=info.sample_rate, whole_up_to=WHOLE_SECONDS)
    offsets = excerpt_offsets(info.duration, EXCERPTS, EXCERPT_SECONDS, info.sample_rate)
    for got, first in zip(plan.middle, offsets, strict=True):
        assert np.array_equal(got, decode(path, start=first / info.sample_rate, duration=EXCERPT_SECONDS)[0])
    head, tail = decode_ends(path, info.duration, EDGE_SECONDS)
    assert np.array_equal(head, decode(path, duration=EDGE_SECONDS)[0])
    assert np.array_equal(tail, decode(path, start=info.duration - EDGE_SECONDS - 0.05, duration=EDGE_SECONDS)[0])
