"""Conversions between the uint8 images data sets and exports hold and the float images
networks make."""

from __future__ import annotations

import torch


def to_uint8(x: torch.Tensor, low: float) -> torch.Tensor:
    """Images with values in [low, 1] (low = 0 for sigmoid outputs, -1 for tanh) -> uint8
    [0, 255] on the CPU; values outside the range are clipped."""
    x = (x.float().clamp(low, 1) - low) / (1 - low)
    return (x * 255).round().to(torch.uint8).cpu()
