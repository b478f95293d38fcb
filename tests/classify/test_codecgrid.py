"""The transform-grid check on real music (CC0 sonic-pi samples in tests/data), with
transcodes made at test time by the corpus's own encoders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from nightowl.audio.decode import EXCERPT_GRID, decode_excerpts
from nightowl.classify.codecgrid import (
    CONTINUE_Z,
    ESCALATE_Z,
    MAX_FRAMES,
    MID_FRAMES,
    MIN_RATIO,
    MIN_Z,
    WINDOWS,
    Z_FRAMES,
    _frame_runs,
    _peak,
    _shares,
    _z,
    _zero_counts,
    grid_codec,
    grid_features,
    mdct_magnitudes,
)
from nightowl.classify.lossless import check_lossless

from bench.transcode import Setting, as_flac16, roundtrip

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def load(name: str) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(DATA / f"{name}.flac", dtype="float32", always_2d=True)
    return audio, sr


@pytest.mark.parametrize("codec", ["aac", "vorbis"])
def test_fast_mdct_equals_the_definition(codec: str) -> None:
    n = 2048
    x = np.random.default_rng(0).standard_normal(n)
    window = WINDOWS[codec]
    k, t = np.arange(n // 2)[:, None], np.arange(n)[None, :]
    direct = np.cos(2 * np.pi / n * (t + 0.5 + n / 4) * (k + 0.5)) @ (x * window)
    fast = mdct_magnitudes(x.astype(np.float32), window)
    assert np.allclose(fast, np.abs(direct), atol=2e-3 * np.abs(direct).max())


def test_mdct_reads_frames_from_a_strided_view() -> None:
    """Frames 64 samples apart are a view of the signal, as the grid check passes them."""
    x = np.random.default_rng(1).standard_normal(8192).astype(np.float32)
    view = np.lib.stride_tricks.sliding_window_view(x, 2048)[::64]
    window = WINDOWS["aac"]
    assert np.array_equal(mdct_magnitudes(view, window), mdct_magnitudes(np.ascontiguousarray(view), window))


def _counts_by_logs(mono: list[np.ndarray], sr: int, runs: list[tuple[int, int, int]]) -> dict:
    """The zero counts with loudness read as it is defined: the mean of the logs over positions."""
    from nightowl.classify.codecgrid import BAND_HZ, HOP, LOUD_X_NOISE, N, PHASES, STEP, ZERO_X_NOISE, _NOISE

    b0, b1 = (int(hz / (sr / N)) for hz in BAND_HZ)
    out = {}
    for codec, window in WINDOWS.items():
        noise, zeros, cells = _NOISE[codec], np.zeros(PHASES, dtype=np.intp), 0
        for i, first, k in runs:
            view = np.lib.stride_tricks.sliding_window_view(mono[i], N)[first * HOP:(first + k) * HOP:STEP]
            mags = mdct_magnitudes(view, window)[:, b0:b1].reshape(-1, PHASES, b1 - b0).astype(np.float64)
            loud = np.log(mags + noise).mean(axis=1) > np.log(LOUD_X_NOISE * noise)
            zeros += ((mags < ZERO_X_NOISE * noise) & loud[:, None, :]).sum(axis=(0, 2))
            cells += int(loud.sum())
        out[codec] = (zeros, cells)
    return out


@pytest.mark.parametrize("gain", [1.0, 0.01, 0.001])
def test_loud_cells_are_the_geometric_mean_over_the_positions(gain: float) -> None:
    """The product of the positions' ratios to the level finds the cells the mean of the
    logs does, also where it overflows (full-scale music) and near the floor."""
    audio, sr = load("loop_tabla")
    mono = [np.ascontiguousarray(audio.mean(axis=1) * np.float32(gain))]
    runs = _frame_runs([len(mono[0])], MAX_FRAMES)
    with np.errstate(all="raise"):
        fast = _zero_counts(mono, sr, runs)
    slow = _counts_by_logs(mono, sr, runs)
    for codec in WINDOWS:
        assert fast[codec][1] == slow[codec][1] > 0
        assert np.array_equal(fast[codec][0], slow[codec][0])


@pytest.mark.parametrize("setting", [Setting("aac", "128k"), Setting("aac", "256k"), Setting("vorbis", "q2"),
                                     Setting("vorbis", "q6")], ids=lambda s: s.label)
def test_aac_and_vorbis_show_their_grid(setting: Setting) -> None:
    audio, sr = load("loop_amen_full")
    fake = as_flac16(roundtrip(audio, sr, setting), sr)
    f = grid_features([fake], sr)
    assert grid_codec(f) == setting.codec, f
    res = check_lossless([fake], sr)
    assert res.verdict == "transcoded" and res.source_codec == setting.codec, res.reasons
    assert any("MDCT" in r for r in res.reasons)


@pytest.mark.parametrize(("name", "setting"), [("ambi_glass_hum", Setting("aac", "256k")),
                                               ("ambi_glass_hum", Setting("aac", "192k")),
                                               ("guit_em9", Setting("vorbis", "q8"))], ids=str)
def test_dull_music_shows_its_grid_through_the_spread(name: str, setting: Setting) -> None:
    """Dull music leaves many coefficients at the noise at every position, so the best one
    is not far above the others' median (the ratio), but it is far outside their spread."""
    audio, sr = load(name)
    fake = as_flac16(roundtrip(audio, sr, setting), sr)
    f = grid_features([fake], sr)
    assert f[f"grid_{setting.codec}_ratio"] < MIN_RATIO
    assert f[f"grid_{setting.codec}_z"] >= MIN_Z
    assert grid_codec(f) == setting.codec, f


def _z_on(excerpts: list[np.ndarray], sr: int, frames: int) -> dict[str, float]:
    """Each window's z with `frames` frames counted at once."""
    mono = [x.mean(axis=1) for x in excerpts]
    return {c: _z(z) for c, z in _shares(_zero_counts(mono, sr, _frame_runs([len(x) for x in mono], frames))).items()}


def _three(audio: np.ndarray, step: int) -> list[np.ndarray]:
    """Three excerpts of 64 x 1024 samples, `step` x 1024 apart, as intake reads them (on the grid)."""
    return [audio[i * step * 1024:(i * step + 64) * 1024] for i in range(3)]


@pytest.mark.parametrize(("name", "step", "setting"), [("ambi_glass_hum", 40, Setting("aac", "256k")),
                                                       ("ambi_glass_hum", 84, None), ("guit_em9", 84, None),
                                                       ("guit_em9", 86, None)], ids=str)
def test_windows_are_read_on_in_stages(name: str, step: int, setting: Setting | None) -> None:
    """A window whose z on 16 frames hints at a grid is read on to 32 frames, and on to
    Z_FRAMES where it still holds CONTINUE_Z; each stage adds only the frames the last one
    did not read, so the z it ends with is that of all its frames counted at once."""
    audio, sr = load(name)
    if setting is not None:
        audio = as_flac16(roundtrip(audio, sr, setting), sr)
    excerpts = _three(audio, step)
    z16, z32, z48 = (_z_on(excerpts, sr, n) for n in (MAX_FRAMES, MID_FRAMES, Z_FRAMES))
    f = grid_features(excerpts, sr)
    for c in WINDOWS:
        want = z16[c] if z16[c] < ESCALATE_Z else z32[c] if z32[c] < CONTINUE_Z else z48[c]
        assert f[f"grid_{c}_z"] == pytest.approx(want), c
    if setting is not None:  # a dull transcode: read to the end, and seen
        assert f["grid_aac_z"] == pytest.approx(z48["aac"]) and z48["aac"] >= MIN_Z
    else:  # genuine: in these placements one window hints on 16 frames, and no grid is claimed
        assert max(z16.values()) >= ESCALATE_Z
        assert grid_codec(f) is None


# zero shares (%) at the 16 positions, 48 frames of intake's excerpts of a genuine 3-minute
# file (a FluidSynth render, looped): the music's share swells and fades around position 0
SWELL = np.array([9.9, 8.1, 6.0, 4.8, 4.0, 3.9, 4.1, 4.0, 4.0, 4.1, 4.3, 4.5, 4.8, 5.2, 5.5, 5.8]) / 100


def test_a_swell_over_positions_is_no_grid() -> None:
    """Read against the others' median, the swell's crest stood out like a grid (z 6.1); a
    curve through the others (mean and first harmonic) follows it there."""
    best, excess, ratio, z = _peak(SWELL)
    assert best == 0
    assert z < MIN_Z and ratio < MIN_RATIO


@pytest.mark.parametrize(("at", "more"), [(0, 0.02), (8, 0.07)])
def test_a_grid_on_a_swell_still_shows(at: int, more: float) -> None:
    """The same swell with a codec's grid at one position, on its crest (2% more zeros) or
    away from it (7% more, as AAC and Vorbis transcodes of busier music leave): one
    position, which no smooth curve through its neighbours reaches."""
    grid = SWELL.copy()
    grid[at] += more
    best, excess, ratio, z = _peak(grid)
    assert best == at
    assert z >= MIN_Z
    assert excess >= 0.02


@pytest.mark.parametrize("setting", [Setting("mp3", "128k"), Setting("mp3", "320k"), Setting("opus", "96k")],
                         ids=lambda s: s.label)
def test_mp3_and_opus_leave_no_grid(setting: Setting) -> None:
    audio, sr = load("loop_amen_full")
    fake = as_flac16(roundtrip(audio, sr, setting), sr)
    assert grid_codec(grid_features([fake], sr)) is None


@pytest.mark.parametrize("name", ["loop_tabla", "loop_amen_full", "guit_em9", "ambi_glass_hum"])
def test_genuine_music_has_no_grid(name: str) -> None:
    audio, sr = load(name)
    assert grid_codec(grid_features([audio], sr)) is None


def test_a_grid_moved_off_the_lattice_is_not_claimed() -> None:
    """Cut 37 samples off the front (a position no encoder leaves): the check must not guess."""
    audio, sr = load("loop_amen_full")
    fake = as_flac16(roundtrip(audio, sr, Setting("aac", "128k")), sr)
    assert grid_codec(grid_features([fake], sr)) == "aac"
    assert grid_codec(grid_features([fake[37:]], sr)) is None


def test_excerpts_start_on_the_grid(tmp_path: Path) -> None:
    """Excerpts decoded for the check start on multiples of 1024 samples, so an AAC
    transcode long enough to be excerpted still shows its grid."""
    audio, sr = load("loop_amen_full")
    long = np.concatenate([audio] * 8)
    path = tmp_path / "fake.flac"
    sf.write(path, as_flac16(roundtrip(long, sr, Setting("aac", "160k")), sr), sr, subtype="PCM_16")
    duration = sf.info(path).duration
    excerpts, rate = decode_excerpts(path, duration, count=4, length=4.5, sample_rate=sr)
    assert len(excerpts) == 4
    whole, _ = sf.read(path, dtype="float32", always_2d=True)
    for ex in excerpts:  # each excerpt sits in the file at a multiple of the grid
        hits = [s for s in range(0, len(whole) - len(ex) + 1, EXCERPT_GRID) if np.array_equal(whole[s:s + 64], ex[:64])]
        assert hits, "excerpt does not start on a multiple of the grid"
    assert grid_codec(grid_features(excerpts, rate)) == "aac"
