"""Progressive growing's networks (Karras et al. 2018, table 2, at a small width): one block
per resolution, a toRGB / fromRGB 1x1 convolution at each, pixel norm in G, minibatch
standard deviation before D's last block, every layer with the equalised learning rate.

Resolutions start at the smallest side reached by halving (28 -> 7, 14, 28; 32 -> 4, 8, 16,
32). At stage s with fade-in alpha (section 2, figure 2):
    G: x = (1 - alpha) * u(toRGB_{s-1}(h_{s-1})) + alpha * toRGB_s(block_s(h_{s-1}))
    D: h = (1 - alpha) * fromRGB_{s-1}(d(x)) + alpha * block_s(fromRGB_s(x))
so alpha = 0 is the stage below, upsampled, and alpha = 1 the new resolution alone.
"""

from __future__ import annotations

import torch
from torch import nn

from ganflow.models.images import down, up
from ganflow.models.layers import EqualizedConv2d, EqualizedLinear, MinibatchStd, PixelNorm
from ganflow.models.progan.config import ProGANConfig


def resolutions(size: int) -> list[int]:
    """The sides of the growth stages, smallest first: halve while even and at least 8."""
    sides = [size]
    while sides[0] % 2 == 0 and sides[0] >= 8:
        sides.insert(0, sides[0] // 2)
    return sides


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


class _GBlock(nn.Module):
    """u -> conv 3x3 -> lReLU -> PN -> conv 3x3 -> lReLU -> PN."""

    def __init__(self, w: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            EqualizedConv2d(w, w, 3),
            _act(),
            PixelNorm(),
            EqualizedConv2d(w, w, 3),
            _act(),
            PixelNorm(),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(up(h))


class ProGenerator(nn.Module):
    """(z (N, z_dim), stage, alpha) -> x (N, C, side_stage, side_stage)."""

    def __init__(self, cfg: ProGANConfig, c: int, size: int) -> None:
        super().__init__()
        self.sides, w = resolutions(size), cfg.channels
        s0 = self.sides[0]
        self.first = EqualizedLinear(cfg.z_dim, w * s0 * s0, gain=2**0.5 / 4)
        self.first_conv = nn.Sequential(
            _act(), PixelNorm(), EqualizedConv2d(w, w, 3), _act(), PixelNorm()
        )
        self.blocks = nn.ModuleList(_GBlock(w) for _ in self.sides[1:])
        self.to_rgb = nn.ModuleList(EqualizedConv2d(w, c, 1, gain=1.0) for _ in self.sides)
        self.w, self.pn = w, PixelNorm()

    def features(self, z: torch.Tensor, stage: int) -> torch.Tensor:
        """h at the resolution of `stage`, after its block."""
        s0 = self.sides[0]
        h = self.first_conv(
            self.first(self.pn(z[:, :, None, None])[:, :, 0, 0]).view(-1, self.w, s0, s0)
        )
        for block in self.blocks[:stage]:
            h = block(h)
        return h

    def forward(self, z: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        if stage == 0 or alpha >= 1.0:
            return self.to_rgb[stage](self.features(z, stage))
        h = self.features(z, stage - 1)
        new = self.to_rgb[stage](self.blocks[stage - 1](h))
        return (1.0 - alpha) * up(self.to_rgb[stage - 1](h)) + alpha * new


class ProDiscriminator(nn.Module):
    """(x (N, C, side_stage, side_stage), stage, alpha) -> (logits (N,), features (N, w))."""

    def __init__(self, cfg: ProGANConfig, c: int, size: int) -> None:
        super().__init__()
        self.sides, w = resolutions(size), cfg.channels
        s0 = self.sides[0]
        self.from_rgb = nn.ModuleList(
            nn.Sequential(EqualizedConv2d(c, w, 1), _act()) for _ in self.sides
        )
        self.blocks = nn.ModuleList(  # block i takes side i down to side i - 1
            nn.Sequential(
                EqualizedConv2d(w, w, 3), _act(), EqualizedConv2d(w, w, 3), _act(), nn.AvgPool2d(2)
            )
            for _ in self.sides[1:]
        )
        self.last = nn.Sequential(
            MinibatchStd(cfg.group),
            EqualizedConv2d(w + 1, w, 3),
            _act(),
            nn.Flatten(),
            EqualizedLinear(w * s0 * s0, w),
            _act(),
        )
        self.head = EqualizedLinear(w, 1, gain=1.0)

    def forward(
        self, x: torch.Tensor, stage: int, alpha: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self.blocks[stage - 1](h)
            if alpha < 1.0:
                h = (1.0 - alpha) * self.from_rgb[stage - 1](down(x)) + alpha * h
            for block in reversed(self.blocks[: stage - 1]):
                h = block(h)
        f = self.last(h)
        return self.head(f).squeeze(1), f


def build_models(cfg: ProGANConfig, shape: tuple[int, ...], seed: int) -> dict[str, nn.Module]:
    """{'G', 'D'} growing to (C, S, S) images."""
    cfg.validate()
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"progressive growing takes square (C, S, S) images, got {tuple(shape)}")
    if len(resolutions(int(shape[1]))) < 2:
        raise ValueError(f"a side of {shape[1]} cannot grow: it has no smaller even stage")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return {
            "G": ProGenerator(cfg, int(shape[0]), int(shape[1])),
            "D": ProDiscriminator(cfg, int(shape[0]), int(shape[1])),
        }
