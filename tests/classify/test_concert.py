"""Audience-recording cues on real music (CC0 sonic-pi clips) put into real and simulated rooms.

An "audience recording" is made here the way one happens: the music is heard through a
hall (the measured-style pyo hall response, or a pyroomacoustics room with RT60 ~2 s), a
real crowd recording (lincity-ng) runs under it at 10 dB below the music, and the crowd
swells into cheering before the first song and after the last.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import soxr

from nightowl.classify.concert import (
    Cue,
    audio_cues,
    concert_features,
    concert_score,
    end_features,
    is_roomy,
    score_with_applause_at_ends,
)
from nightowl.classify.taper import taper_cues

DATA = Path(__file__).resolve().parents[1] / "data"
SR = 44100
SONGS = ["guit_em9", "loop_tabla", "loop_amen_full", "ambi_glass_hum", "guit_em9", "loop_tabla"]


def load(path: Path) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    return audio if sr == SR else soxr.resample(audio, sr, SR).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    """About 60 s of songs with short pauses between them (44.1 kHz stereo)."""
    parts = []
    for name in SONGS:
        parts += [load(DATA / f"{name}.flac"), np.zeros((int(0.8 * SR), 2), np.float32)]
    return np.concatenate(parts)


def through(music: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """The band heard through a room: one source, a stereo pair of microphones."""
    src = music.mean(axis=1)
    out = np.stack([scipy.signal.fftconvolve(src, ir[:, ch]) for ch in range(ir.shape[1])], axis=1)
    return out[: len(music)].astype(np.float32)


def crowd(n: int) -> np.ndarray:
    """The 4 s crowd recording looped with crossfades (alternately reversed) to n frames."""
    c = load(DATA / "concert" / "SportsCroud1.flac")
    fade = SR // 2
    w = np.ones(len(c), np.float32)
    w[:fade], w[-fade:] = np.linspace(0, 1, fade), np.linspace(1, 0, fade)
    out = np.zeros((n + len(c), 2), np.float32)
    pos, flip = 0, False
    while pos < n:
        seg = (c[::-1] if flip else c) * w[:, None]
        out[pos : pos + len(c)] += seg
        pos, flip = pos + len(c) - fade, not flip
    return out[:n]


def show(songs: np.ndarray, snr_db: float = 10.0) -> np.ndarray:
    """Songs with a crowd under them at `snr_db`, cheering 4 s before and after."""
    pad = np.zeros((4 * SR, 2), np.float32)
    full = np.concatenate([pad, songs, pad])
    bed = crowd(len(full))
    bed *= rms(songs) / rms(bed) * 10 ** (-snr_db / 20)
    swell = np.concatenate([np.full(4 * SR, 12.0), np.linspace(12.0, 2.0, SR)])
    gain = np.full(len(full), 2.0)
    gain[: len(swell)], gain[-len(swell) :] = swell, swell[::-1]
    y = full + bed * gain[:, None]
    return (y / np.abs(y).max() * 0.9).astype(np.float32)


def features(y: np.ndarray) -> dict[str, float]:
    """What intake passes: 3 excerpts of 6 s from the middle, the first and last 10 s."""
    n, length = len(y), 6 * SR
    starts = np.linspace(n * 0.05, n * 0.95 - length, 3).astype(int)
    return concert_features([y[s : s + length] for s in starts], SR, y[: 10 * SR], y[-10 * SR :])


def room_ir(rt60: float, dims: list[float], src: list[float], mics: list[list[float]], *, rays: bool) -> np.ndarray:
    pra = pytest.importorskip("pyroomacoustics")
    absorption, order = pra.inverse_sabine(rt60, dims)
    room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(absorption), max_order=order,
                       air_absorption=True, ray_tracing=rays)
    if rays:
        room.set_ray_tracing(receiver_radius=0.5, n_rays=2000, energy_thres=1e-5)
    room.add_source(src)
    room.add_microphone_array(np.array(mics).T)
    room.compute_rir()
    n = min(len(r[0]) for r in room.rir)
    return np.stack([r[0][:n] for r in room.rir], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def hall_show(music: np.ndarray) -> np.ndarray:
    return show(through(music, load(DATA / "concert" / "IRMediumHallStereo.flac")))


@pytest.fixture(scope="module")
def studio(music: np.ndarray) -> np.ndarray:
    """A mix with a small room's reverb (RT60 0.4 s) blended in, as studios add it."""
    ir = room_ir(0.4, [6, 5, 3], [2, 3, 1.5], [[4, 2.4, 1.5], [4, 2.6, 1.5]], rays=False)[:SR]
    wet = through(music, ir / np.abs(ir).max())
    return (0.5 * music + 0.5 * wet * rms(music) / rms(wet)).astype(np.float32)


def test_audience_recording_in_a_hall_scores_high(hall_show: np.ndarray) -> None:
    f = features(hall_show)
    score, cues = concert_score(f, [])
    names = {c.name for c in cues if c.weight > 0}
    assert score >= 0.9, (f, cues)
    assert {"reverb", "applause", "crowd_bed"} <= names
    assert f["reverb_s"] >= 0.9 and is_roomy(f)
    assert all(isinstance(v, float) for v in f.values())


def test_simulated_large_hall_scores_high(music: np.ndarray) -> None:
    ir = room_ir(2.0, [25, 18, 10], [5, 9, 2], [[18, 8.85, 1.7], [18, 9.15, 1.7]], rays=True)
    f = features(show(through(music, ir)))
    score, cues = concert_score(f, [])
    assert score >= 0.9, (f, cues)
    assert is_roomy(f)
    assert f["coh_high"] < 0.3  # a spaced pair in a diffuse field decorrelates in the highs


def test_dry_music_scores_low(music: np.ndarray) -> None:
    f = features(music)
    score, cues = concert_score(f, [])
    assert score <= 0.1, (f, cues)
    assert f["reverb_s"] < 0.6 and f["applause_head"] == 0 and f["applause_tail"] == 0


def test_studio_reverb_is_not_a_concert(studio: np.ndarray) -> None:
    f = features(studio)
    score, cues = concert_score(f, [])
    assert score <= 0.1, (f, cues)
    assert not is_roomy(f)


def test_soundboard_is_a_concert_without_room(music: np.ndarray) -> None:
    """Board feed: the band dry, the crowd faint (25 dB down) but cheering at the ends."""
    f = features(show(music, snr_db=25.0))
    assert not is_roomy(f), f  # no de-rooming needed
    assert f["applause_head"] > 0.25 and f["applause_tail"] > 0.25
    audio_only, _ = concert_score(f, [])
    named, cues = concert_score(f, taper_cues(Path("/music/band2004-07-04.sbd.flac16/band2004-07-04d1t01.flac"), {}))
    assert named >= 0.9 > audio_only, cues
    assert any(c.name == "source_sbd" for c in cues)


def test_the_ends_are_measured_apart_from_the_middle(hall_show: np.ndarray) -> None:
    """Intake measures the middle first and the first and last seconds only where they
    could change the class: the two steps give what one call with the ends gives."""
    n, length = len(hall_show), 6 * SR
    starts = np.linspace(n * 0.05, n * 0.95 - length, 3).astype(int)
    mids = [hall_show[s : s + length] for s in starts]
    head, tail = hall_show[: 10 * SR], hall_show[-10 * SR :]
    middle = concert_features(mids, SR)
    assert "applause_head" not in middle and "applause_tail" not in middle
    assert middle | end_features(head, tail, SR, middle) == concert_features(mids, SR, head, tail)
    assert end_features(head, tail, SR, middle)["applause_head"] > 0.25


def test_more_than_two_channels_are_heard_as_the_front_pair(hall_show: np.ndarray) -> None:
    """A file with more channels is heard through its first two, in the middle and at the
    ends alike, whatever the others hold: the ends' applause is weighed against the
    middle's loud level, so both must come from the same mix."""
    for rear in (np.zeros_like(hall_show), -hall_show):  # silent; or cancelling an all-channel mix
        quad = np.concatenate([hall_show, rear], axis=1)
        assert features(quad) == features(hall_show)


def test_applause_at_the_ends_bounds_what_they_can_add(music: np.ndarray, studio: np.ndarray,
                                                       hall_show: np.ndarray) -> None:
    for y in (music, studio, show(music, snr_db=25.0), hall_show):
        f = features(y)
        assert score_with_applause_at_ends(f) >= concert_score(f, [])[0]
    # a dry mix cannot be made a live recording by its ends: intake need not decode them
    assert score_with_applause_at_ends(features(music)) < 0.5
    # a board feed can: its crowd is heard only at the ends
    board = show(music, snr_db=25.0)
    n, length = len(board), 6 * SR
    starts = np.linspace(n * 0.05, n * 0.95 - length, 3).astype(int)
    sbd_middle = concert_features([board[s : s + length] for s in starts], SR)
    named = taper_cues(Path("/music/band2004-07-04.sbd.flac16/band2004-07-04d1t01.flac"), {})
    assert score_with_applause_at_ends(sbd_middle, named) >= 0.5


def test_a_wall_of_distorted_guitars_is_no_crowd(hall_show: np.ndarray) -> None:
    """20 s of a studio metal song's guitar stem (tests/data/rock): dense distorted guitars
    are as flat and as steady in 1-5 kHz as a crowd, and they never pause. Their low-mids
    are as loud, where claps and cheers are bright, so none of it is heard as applause;
    and with no pauses the room cues are left out: it is no live recording."""
    guitar = load(DATA / "rock" / "chaos_god_guitar.ogg")
    n, length = len(guitar), 3 * SR
    starts = np.linspace(n * 0.05, n * 0.95 - length, 3).astype(int)
    f = concert_features([guitar[s : s + length] for s in starts], SR, guitar[: 5 * SR], guitar[-5 * SR :])
    assert f["gap_db"] > -5.5  # a continuous wall
    assert f["applause_head"] < 0.25 and f["applause_tail"] < 0.25 and f["applause_mid"] < 0.3
    score, cues = concert_score(f, [])
    assert score < 0.5, cues
    reverb = next(c for c in cues if c.name == "reverb")
    assert reverb.weight == 0.0 and "never pauses" in reverb.text
    assert not any(c.name == "filled_gaps" for c in cues)
    # the crowd recording itself claps: heard at both ends of the show
    crowd_ends = end_features(hall_show[: 4 * SR], hall_show[-4 * SR :], SR, features(hall_show))
    assert min(crowd_ends.values()) >= 0.5


@pytest.mark.parametrize("name", ["SportsCroud1", "SportsCroud2", "SportsCroud3"])
def test_cheering_crowds_read_as_applause(name: str, music: np.ndarray) -> None:
    """Three real cheering crowds (two of them used nowhere else) as the first and last
    seconds of a show: most of their half-seconds are applause (bright, noise-like,
    unrhythmic), heard against music of the crowd's own loudness."""
    cheer = load(DATA / "concert" / f"{name}.flac")
    band = music[: 6 * SR] * (rms(cheer) / rms(music[: 6 * SR]))
    ends = end_features(cheer, cheer, SR, concert_features([band], SR))
    assert min(ends.values()) >= 0.5, ends


def test_a_bed_must_lie_under_the_music() -> None:
    """A crowd-like 'bed' as loud as the music is the music itself (a wall of guitars)."""
    base = {"music_range_db": 8.0, "bed_crowd": 1.0, "gap_db": -9.0}
    assert any(c.name == "crowd_bed" and c.weight > 0 for c in audio_cues(base | {"bed_db": -12.0}))
    assert not any(c.name == "crowd_bed" and c.weight > 0 for c in audio_cues(base | {"bed_db": -3.0}))


def test_a_crowd_as_loud_as_the_band_counts_more_than_one_heard_through_it() -> None:
    base = {"music_range_db": 8.0, "gap_db": -9.0}
    weight = {a: sum(c.weight for c in audio_cues(base | {"applause_mid": a}) if c.name == "crowd_in_music")
              for a in (0.2, 0.35, 0.6)}
    assert weight == {0.2: 0.0, 0.35: 0.5, 0.6: 1.0}


def test_a_hall_without_an_audience_counts_for_less() -> None:
    """Room cues alone (a reverberant studio piece) are not an audience recording: the
    absence of any crowd cue weighs against it; applause at the ends lifts that."""
    hall = {"music_range_db": 8.0, "reverb_s": 1.7, "gap_db": -12.0, "hf_db": -40.0,
            "applause_head": 0.0, "applause_tail": 0.0}
    alone, cues = concert_score(hall)
    assert alone < 0.5 and any(c.name == "no_audience" and c.weight < 0 for c in cues)
    clapped, cues = concert_score(hall | {"applause_head": 0.6, "applause_tail": 0.6})
    assert clapped >= 0.5 and not any(c.name == "no_audience" for c in cues)
    assert score_with_applause_at_ends(hall) == clapped  # still the most the ends can add


def test_mono_audience_recording(hall_show: np.ndarray) -> None:
    mono = hall_show.mean(axis=1, keepdims=True)
    f = features(mono)
    assert f["stereo"] == 0.0
    stereo_f = features(hall_show)
    assert f["coh_high"] == 0.3  # neutral where there is no pair
    assert concert_score(f, [])[0] >= 0.9
    # 1-D arrays are accepted too
    g = concert_features([mono[:, 0][: 6 * SR]], SR, mono[: 10 * SR, 0], mono[-10 * SR :, 0])
    assert g["stereo"] == 0.0 and set(g) == set(stereo_f)


def test_short_and_silent_input_is_neutral() -> None:
    silent = np.zeros((SR, 2), np.float32)
    f = concert_features([silent], SR, silent, silent)
    score, cues = concert_score(f, [])
    assert score < 0.5
    assert concert_features([], SR, np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32))["seconds"] == 0.0


def test_other_cues_are_weighed_in(music: np.ndarray) -> None:
    f = features(music)
    base, _ = concert_score(f, [])
    more, cues = concert_score(f, [Cue("lineage", "info.txt", 3.0, "info.txt has a lineage")])
    assert more > base and cues[0].name == "lineage"


def test_cheap_enough(hall_show: np.ndarray) -> None:
    """Budget: 0.2 s CPU per minute of audio looked at (generous here for busy CI)."""
    n = len(hall_show)
    starts = np.linspace(n * 0.05, n * 0.95 - 6 * SR, 4).astype(int)
    excerpts = [hall_show[s : s + 6 * SR] for s in starts]
    head, tail = hall_show[: 10 * SR], hall_show[-10 * SR :]
    concert_features(excerpts, SR, head, tail)
    t0 = time.process_time()
    for _ in range(3):
        concert_features(excerpts, SR, head, tail)
    per_call = (time.process_time() - t0) / 3
    minutes = (4 * 6 + 20) / 60
    assert per_call / minutes < 0.4, per_call


def test_cheap_enough_for_intake(hall_show: np.ndarray) -> None:
    """What intake passes (4 x 4.5 s from the middle, 8 s at each end): the whole intake of a
    file must cost under a third of its decoding (~0.1 s for 3 minutes); this is ~30 ms on an
    idle core (generous here for busy CI)."""
    n, length = len(hall_show), int(4.5 * SR)
    starts = np.linspace(n * 0.05, n * 0.95 - length, 4).astype(int)
    excerpts = [hall_show[s : s + length] for s in starts]
    head, tail = hall_show[: 8 * SR], hall_show[-8 * SR :]
    concert_features(excerpts, SR, head, tail)
    times = []
    for _ in range(7):
        t0 = time.process_time()
        concert_features(excerpts, SR, head, tail)
        times.append(time.process_time() - t0)
    assert float(np.median(times)) < 0.08, times


def test_dual_mono_and_channel_swap(hall_show: np.ndarray) -> None:
    """The pair is read from mid and side: swapping the channels changes nothing, and a
    dual-mono file has no pair to learn from."""
    f = features(hall_show)
    swapped = features(np.ascontiguousarray(hall_show[:, ::-1]))
    assert all(abs(f[k] - swapped[k]) < 1e-3 for k in f), (f, swapped)
    dual = np.repeat(hall_show.mean(axis=1, keepdims=True), 2, axis=1)
    g = features(dual)
    assert g["stereo"] == 0.0 and g["coh_high"] == 0.3


@pytest.mark.parametrize("rate", [48000, 16000, 8000])
def test_other_sample_rates(hall_show: np.ndarray, rate: int) -> None:
    y = soxr.resample(hall_show, SR, rate).astype(np.float32)
    n, length = len(y), int(4.5 * rate)
    starts = np.linspace(n * 0.05, n * 0.95 - length, 4).astype(int)
    f = concert_features([y[s : s + length] for s in starts], rate, y[: 10 * rate], y[-10 * rate :])
    assert concert_score(f, [])[0] >= 0.8, f
