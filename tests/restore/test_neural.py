"""The neural estimator end to end: a tiny random U-Net, saved and loaded, on real music."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from nightowl.models.checkpoint import CheckpointError, save_checkpoint
from nightowl.models.unet import UNet
from nightowl.restore.neural import NeuralEstimator, chunk_starts, crossfade
from nightowl.restore.stft import HOP, N_FFT, SHIFT_STEP, stft

DATA = Path(__file__).resolve().parents[1] / "data"
FRAMES = 600
CUTOFF = 16000 * N_FFT // 44100 // SHIFT_STEP * SHIFT_STEP  # a 16 kHz lowpass, like a 128k MP3


@pytest.fixture(scope="module")
def spec() -> np.ndarray:
    audio, sr = sf.read(DATA / "guit_em9.flac", dtype="float32", always_2d=True)
    assert sr == 44100
    samples = (FRAMES - 1) * HOP - N_FFT  # stft() pads N_FFT both sides: exactly FRAMES frames
    return stft(audio[:samples].T)


@pytest.fixture(scope="module")
def replica(spec: np.ndarray) -> np.ndarray:
    """Band replication as the DSP engine does it: the octave below the cutoff, moved up."""
    out = spec.copy()
    shift = CUTOFF // 2 // SHIFT_STEP * SHIFT_STEP
    out[:, CUTOFF:] = spec[:, CUTOFF - shift:spec.shape[1] - shift]
    return out


def tiny_checkpoint(path: Path, *, constant: float | None = None, version: str = "t1") -> Path:
    torch.manual_seed(0)
    model = UNet(base=4, depth=2, attention=True)
    if constant is not None:  # a network whose residual is the same everywhere
        torch.nn.init.zeros_(model.head.weight)
        torch.nn.init.constant_(model.head.bias, constant)
    return save_checkpoint(path, model, version=version, training={}, metrics={})


@pytest.fixture(scope="module")
def estimator(tmp_path_factory: pytest.TempPathFactory) -> NeuralEstimator:
    return NeuralEstimator.from_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("m") / "r.pt"), device="cpu")


@pytest.fixture(scope="module")
def estimate(estimator: NeuralEstimator, spec: np.ndarray, replica: np.ndarray) -> np.ndarray:
    return estimator.estimate(spec, CUTOFF, replica)


def test_it_names_itself_and_the_checkpoints_version(estimator: NeuralEstimator) -> None:
    assert estimator.name == "unet" and estimator.version == "t1"
    assert estimator.device.type == "cpu"


def test_the_estimate_is_a_finite_spectrum_of_the_inputs_shape(spec: np.ndarray, estimate: np.ndarray) -> None:
    assert spec.shape == (2, N_FFT // 2 + 1, FRAMES)
    assert estimate.shape == spec.shape and estimate.dtype == np.complex64
    assert np.isfinite(estimate).all()


def test_below_the_cutoff_the_phase_is_the_inputs(spec: np.ndarray, estimate: np.ndarray) -> None:
    below = (np.abs(spec[:, :CUTOFF]) > 1e-6) & (np.abs(estimate[:, :CUTOFF]) > 1e-6)
    drift = np.angle(estimate[:, :CUTOFF] * np.conj(spec[:, :CUTOFF]))
    assert np.abs(drift[below]).max() < 1e-3


def test_above_the_cutoff_the_phase_is_the_replicas(replica: np.ndarray, estimate: np.ndarray) -> None:
    above = (np.abs(replica[:, CUTOFF:]) > 1e-6) & (np.abs(estimate[:, CUTOFF:]) > 1e-6)
    drift = np.angle(estimate[:, CUTOFF:] * np.conj(replica[:, CUTOFF:]))
    assert np.abs(drift[above]).max() < 1e-3


def test_the_nyquist_bin_passes_through(spec: np.ndarray, estimate: np.ndarray) -> None:
    np.testing.assert_allclose(np.abs(estimate[:, -1]), np.abs(spec[:, -1]), atol=1e-5)


def test_chunked_and_whole_give_the_same_result_for_a_constant_response(
    tmp_path: Path, spec: np.ndarray, replica: np.ndarray
) -> None:
    spec, replica = spec[:, :, :300], replica[:, :, :300]  # 9 chunks of 64, the last one off the grid
    path = tiny_checkpoint(tmp_path / "c.pt", constant=0.5)
    chunked = NeuralEstimator.from_checkpoint(path, device="cpu", chunk_frames=64, batch_size=3)
    whole = NeuralEstimator.from_checkpoint(path, device="cpu", chunk_frames=1024)
    assert len(chunk_starts(300, 64)) == 9
    a, b = chunked.estimate(spec, CUTOFF, replica), whole.estimate(spec, CUTOFF, replica)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # and the response is what the network says: every magnitude scaled by e^0.5
    expected = (np.abs(spec[:, :-1]) + 1e-5) * np.exp(0.5) - 1e-5
    np.testing.assert_allclose(np.abs(a[:, :-1]), expected, rtol=1e-4, atol=1e-6)


def test_progress_is_reported_up_to_done(estimator: NeuralEstimator, spec: np.ndarray, replica: np.ndarray) -> None:
    seen: list[float] = []
    estimator.estimate(spec[:, :, :100], CUTOFF, replica[:, :, :100], progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_chunks_overlap_by_half_and_cover_every_frame() -> None:
    starts = chunk_starts(600, 256)
    assert starts == [0, 128, 256, 344]
    assert chunk_starts(100, 256) == [0]
    weights = crossfade(256)
    assert weights.min() > 0
    np.testing.assert_allclose(weights[:128] + weights[128:], 1.0, rtol=1e-6)


def test_mismatched_shapes_are_refused(estimator: NeuralEstimator, spec: np.ndarray) -> None:
    with pytest.raises(ValueError, match="replica"):
        estimator.estimate(spec, CUTOFF, spec[:, :, :10])


def test_a_checkpoint_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", UNet(base=4, depth=2), kind="concert", version="c1",
                           training={}, metrics={})
    with pytest.raises(CheckpointError, match="wrong kind"):
        NeuralEstimator.from_checkpoint(path, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        NeuralEstimator.from_checkpoint(tiny_checkpoint(tmp_path / "r.pt"), device="cuda")
