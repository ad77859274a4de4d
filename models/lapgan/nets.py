"""LAPGAN's networks (Denton et al. 2015, section 4). Level K (coarsest): an MLP generator
G_K(z) -> I_K and an MLP discriminator. Level k < K: a conditional generator
G_k(z_k, l_k) -> h_k with l_k = u(I_{k+1}) the upsampled coarser image and z_k one extra
noise channel beside it (the paper's "fourth colour plane"), and a discriminator D_k(h, l)
on the residual and its low-pass image. Generators of residuals end linearly (residuals are
signed); the coarse one ends in tanh."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganflow.models.lapgan.config import LAPGANConfig


class CoarseGenerator(nn.Module):
    """z (N, z_dim) -> I_K (N, C, s, s) in [-1, 1]."""

    def __init__(self, cfg: LAPGANConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape, h = shape, cfg.hidden
        self.net = nn.Sequential(
            nn.Linear(cfg.z_dim, h),
            nn.ReLU(),
            nn.Linear(h, h),
            nn.ReLU(),
            nn.Linear(h, math.prod(shape)),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class CoarseDiscriminator(nn.Module):
    """I_K (N, C, s, s) -> (logits (N,), features (N, hidden))."""

    def __init__(self, cfg: LAPGANConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        h = cfg.hidden
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(shape), h),
            nn.LeakyReLU(0.2),
            nn.Linear(h, h),
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(h, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return self.head(f).squeeze(1), f


class ResidualGenerator(nn.Module):
    """(z (N, 1, S, S), l (N, C, S, S)) -> h (N, C, S, S): three 3x3 convolutions."""

    def __init__(self, cfg: LAPGANConfig, c: int) -> None:
        super().__init__()
        w = cfg.channels
        self.net = nn.Sequential(
            nn.Conv2d(c + 1, w, 3, 1, 1),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, 1, 1),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.Conv2d(w, c, 3, 1, 1),
        )

    def forward(self, z: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([low, z], 1))


class ResidualDiscriminator(nn.Module):
    """(h (N, C, S, S), l (N, C, S, S)) -> (logits (N,), features): D_k sees the residual with
    the low-pass image it belongs to (the conditional GAN of section 3.2)."""

    def __init__(self, cfg: LAPGANConfig, c: int, side: int) -> None:
        super().__init__()
        w = cfg.channels
        self.body = nn.Sequential(
            nn.Conv2d(2 * c, w, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, w, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        q = ((side + 1) // 2 + 1) // 2  # two 3x3 stride-2 convolutions (padding 1): ceil twice
        self.head = nn.Linear(w * q * q, 1)

    def forward(self, h: torch.Tensor, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(torch.cat([h, low], 1))
        return self.head(f).squeeze(1), f


def sides(cfg: LAPGANConfig, size: int) -> list[int]:
    """The side of every level, finest first: 28 -> [28, 14, 7]."""
    if size % 2 ** (cfg.levels - 1):
        raise ValueError(f"a side of {size} cannot be halved {cfg.levels - 1} times (levels)")
    return [size // 2**k for k in range(cfg.levels)]


def build_models(cfg: LAPGANConfig, shape: tuple[int, ...], seed: int) -> dict[str, nn.Module]:
    """{'G0', 'D0', ..., 'G<K>', 'D<K>'}: level 0 is the finest, K = levels - 1 the coarsest."""
    cfg.validate()
    c, size = int(shape[0]), int(shape[1])
    s = sides(cfg, size)
    k = cfg.levels - 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models: dict[str, nn.Module] = {}
        for level in range(k):
            models[f"G{level}"] = ResidualGenerator(cfg, c)
            models[f"D{level}"] = ResidualDiscriminator(cfg, c, s[level])
        models[f"G{k}"] = CoarseGenerator(cfg, (c, s[k], s[k]))
        models[f"D{k}"] = CoarseDiscriminator(cfg, (c, s[k], s[k]))
    return models
