"""A log-magnitude STFT U-Net that predicts the band a lossy codec removed.

It sees bins 0..1023 of the shared STFT (the Nyquist bin is passed through by the
caller) and returns its input plus a learned residual, so "change nothing" is an easy
thing to learn for the band the codec kept.

Every level halves frequency AND time. A level then has a quarter of the positions of
the one above and four times the weights per position, so each level costs about the
same; halving frequency only would make each level cost twice the one above it, about
five times the work in all at depth 4 (and this runs on CPUs too). Time detail
(transients) is not lost: the skip connections carry it at full resolution to the
decoder; the price is that the bottleneck's attention sees 16-frame (186 ms) blocks. T is padded to a multiple
of 2**depth inside `forward` and cropped again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nightowl.restore.stft import HOP, N_FFT

NAME = "unet-logmag"
SAMPLE_RATE = 44100
N_BINS = N_FFT // 2  # bins the network sees: 0..1023, without Nyquist
MAX_DEPTH = 6


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ConvBlock(nn.Sequential):
    """Two (3x3 conv, GroupNorm, SiLU)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            _norm(out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            _norm(out_channels),
            nn.SiLU(),
        )


class FrequencyAttention(nn.Module):
    """Self-attention across frequency, each time frame on its own (pre-norm, residual).

    It lets a bin above the cutoff look at every harmonic below it, which 3x3
    convolutions reach only through many layers.
    """

    def __init__(self, channels: int, bins: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.position = nn.Parameter(torch.randn(1, bins, channels) * 0.02)
        self.attention = nn.MultiheadAttention(channels, max(1, channels // 64), batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape
        seq = x.permute(0, 3, 2, 1).reshape(b * t, f, c)
        h = self.norm(seq) + self.position
        out, _ = self.attention(h, h, h, need_weights=False)
        return (seq + out).reshape(b, t, f, c).permute(0, 3, 2, 1)


class UNet(nn.Module):
    """(B, 1, 1024, T) log-magnitude in, (B, 1, 1024, T) predicted log-magnitude out."""

    def __init__(self, base: int = 32, depth: int = 4, attention: bool = True) -> None:
        super().__init__()
        if not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"depth must be 1..{MAX_DEPTH}, not {depth}")
        if base < 1:
            raise ValueError(f"base must be positive, not {base}")
        self.base, self.depth, self.use_attention = base, depth, attention
        widths = [base * 2**level for level in range(depth)]
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        channels = 1
        for width in widths:
            self.encoders.append(ConvBlock(channels, width))
            self.downs.append(nn.Conv2d(width, width, 2, stride=2))
            channels = width
        self.bottleneck = ConvBlock(channels, 2 * channels)
        channels *= 2
        self.attention = FrequencyAttention(channels, N_BINS >> depth) if attention else None
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for width in reversed(widths):
            self.ups.append(nn.ConvTranspose2d(channels, width, 2, stride=2))
            self.decoders.append(ConvBlock(2 * width, width))
            channels = width
        self.head = nn.Conv2d(channels, 1, 1)

    def describe(self) -> dict[str, Any]:
        """The architecture, enough to rebuild this network (stored in checkpoints)."""
        return {
            "name": NAME,
            "base": self.base,
            "depth": self.depth,
            "attention": self.use_attention,
            "n_fft": N_FFT,
            "hop": HOP,
            "sample_rate": SAMPLE_RATE,
        }

    @classmethod
    def from_description(cls, architecture: Mapping[str, Any]) -> UNet:
        """Rebuild from `describe()`; ValueError when it is not this architecture or not this STFT."""
        if architecture.get("name") != NAME:
            raise ValueError(f"not a {NAME} description: name {architecture.get('name')!r}")
        for key, ours in (("n_fft", N_FFT), ("hop", HOP), ("sample_rate", SAMPLE_RATE)):
            if architecture.get(key) != ours:
                raise ValueError(f"{key} {architecture.get(key)!r} does not match this nightowl's {ours}")
        try:
            base, depth = int(architecture["base"]), int(architecture["depth"])
            attention = bool(architecture["attention"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"incomplete {NAME} description: {exc!r}") from exc
        return cls(base=base, depth=depth, attention=attention)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != N_BINS:
            raise ValueError(f"expected (batch, 1, {N_BINS}, frames), got {tuple(x.shape)}")
        frames = x.shape[3]
        pad = -frames % (1 << self.depth)
        h = F.pad(x, (0, pad, 0, 0), mode="replicate") if pad else x
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            h = encoder(h)
            skips.append(h)
            h = down(h)
        h = self.bottleneck(h)
        if self.attention is not None:
            h = self.attention(h)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            h = decoder(torch.cat([up(h), skip], dim=1))
        return x + self.head(h)[..., :frames]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
