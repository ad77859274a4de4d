"""Pieces the GAN family's image discriminators share: PacGAN's packing of samples, the
read-out head (with minibatch discrimination when asked), and where self-attention goes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from ganflow.models.layers import MinibatchDiscrimination, SelfAttention, maybe_spectral_norm
from ganflow.models.stages import StagePlan

if TYPE_CHECKING:
    from ganflow.models.gan.config import GANConfig


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """(N, C, ...) -> (N / pack, pack * C, ...): consecutive samples side by side."""
    n = x.shape[0]
    if n % pack:
        raise ValueError(f"batch of {n} cannot be split into packs of {pack}")
    return x.reshape(n // pack, pack * x.shape[1], *x.shape[2:])


class Head(nn.Module):
    """features (N, F) -> logits (N,), through minibatch discrimination when asked."""

    def __init__(self, n_features: int, mbd: bool, spectral: bool) -> None:
        super().__init__()
        self.mbd = MinibatchDiscrimination(n_features, 50, 5) if mbd else None
        width = self.mbd.out_features if self.mbd is not None else n_features
        self.out = maybe_spectral_norm(nn.Linear(width, 1), spectral)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.out(self.mbd(f) if self.mbd is not None else f).squeeze(1)


def attention_map(size: int, asked: int) -> int:
    """The map side the self-attention block works at: `asked`, or by default half the image
    side up to 32 (attention costs the square of the map's pixels)."""
    return asked if asked else min(size // 2, 32)


def down_stack(
    cfg: GANConfig,
    channels: int,
    p: StagePlan,
    stage: Callable[[int, int, int], list[nn.Module]],
) -> list[nn.Module]:
    """The stride-2 stages of an image discriminator along its plan, stage i made by
    stage(i, c_in, c_out) (the packed image channels in), and the self-attention block
    after the stage whose map it works at."""
    attend = attention_map(p.side, cfg.attention_side) if cfg.self_attention else 0
    layers: list[nn.Module] = []
    c_in = channels * cfg.pack
    for i, (c_out, side) in enumerate(zip(p.widths, p.maps, strict=True)):
        layers += stage(i, c_in, c_out)
        if side == attend:
            layers.append(SelfAttention(c_out, spectral=cfg.spectral_norm))
        c_in = c_out
    return layers
