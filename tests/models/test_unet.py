"""The restore U-Net: shapes, size and its self-description."""

from __future__ import annotations

import pytest
import torch

from nightowl.models.unet import N_BINS, UNet, parameter_count


@pytest.mark.parametrize("frames", [1, 7, 33])
def test_output_has_the_input_shape_for_any_frame_count(frames: int) -> None:
    model = UNet(base=4, depth=2, attention=True).eval()
    x = torch.randn(2, 1, N_BINS, frames)
    with torch.inference_mode():
        assert model(x).shape == x.shape


def test_the_default_network_has_about_9_million_parameters() -> None:
    count = parameter_count(UNet())
    print(f"UNet() parameters: {count:,}")
    assert 7_000_000 <= count <= 11_000_000


def test_the_default_network_runs_on_an_odd_frame_count() -> None:
    model = UNet().eval()
    x = torch.randn(1, 1, N_BINS, 5)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_without_attention_there_is_no_attention_layer() -> None:
    with_attention, without = UNet(4, 2, attention=True), UNet(4, 2, attention=False)
    assert parameter_count(without) < parameter_count(with_attention)
    assert without.attention is None


def test_it_describes_itself_well_enough_to_be_rebuilt() -> None:
    description = UNet(base=4, depth=2, attention=False).describe()
    assert description == {"name": "unet-logmag", "base": 4, "depth": 2, "attention": False,
                           "n_fft": 2048, "hop": 512, "sample_rate": 44100}
    assert UNet.from_description(description).describe() == description


def test_a_description_for_another_stft_is_refused() -> None:
    description = UNet(base=4, depth=2).describe() | {"n_fft": 4096}
    with pytest.raises(ValueError, match="n_fft"):
        UNet.from_description(description)


def test_a_spectrum_with_the_nyquist_bin_is_refused() -> None:
    with pytest.raises(ValueError, match="1024"):
        UNet(base=4, depth=2)(torch.zeros(1, 1, N_BINS + 1, 8))
