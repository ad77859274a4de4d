"""Conversions between the uint8 images data sets and exports hold and the float images
networks make, and the 2x resampling the multi-resolution families share (LAPGAN's pyramid,
progressive growing, BigGAN's blocks)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_uint8(x: torch.Tensor, low: float) -> torch.Tensor:
    """Images with values in [low, 1] (low = 0 for sigmoid outputs, -1 for tanh) -> uint8
    [0, 255] on the CPU; values outside the range are clipped."""
    x = (x.float().clamp(low, 1) - low) / (1 - low)
    return (x * 255).round().to(torch.uint8).cpu()


def down(x: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) -> (N, C, S/2, S/2), the mean of each 2x2 block."""
    return F.avg_pool2d(x, 2)


def up(x: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) -> (N, C, 2S, 2S), each pixel repeated over a 2x2 block."""
    return F.interpolate(x, scale_factor=2, mode="nearest")
