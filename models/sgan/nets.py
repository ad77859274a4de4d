"""SGAN's networks for images of any side the stage plan takes (models/stages.py):

E0: x (N, C, S, S) -> h1 (N, F): stride-2 conv stages, a ReLU feature layer (the paper's
    MNIST encoder: conv-pool x 2, fc3 256); E1: h1 -> class logits (N, K) (fc4)
G1: [z1, onehot(y)] -> h1: MLP (BN, ReLU), a ReLU output as E0's features are
G0: [h1, embed(z0)] -> x: DCGAN's generator on the joined vector
D1: (h1, y) -> (logit, Q1's z1 guess): MLP, LeakyReLU, the class projected onto its
    features (class_d1), the batch's spread as one more feature (minibatch_discrimination);
D0: x -> (logit, Q0's z0 guess): DCGAN's discriminator (minibatch features in its head with
    minibatch_discrimination), Q a sigmoid head on its features (z_i ~ U(0, 1))
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ganflow.models import stages
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.nets import DCGANDiscriminator, DCGANGenerator, dcgan_plan
from ganflow.models.layers import MinibatchStd
from ganflow.models.sgan.config import SGANConfig


class Encoder(nn.Module):
    """The bottom-up classifier: features(x) = h1 (N, F), forward(x) = class logits (N, K)."""

    def __init__(self, cfg: SGANConfig, channels: int, side: int, num_classes: int) -> None:
        super().__init__()
        p = stages.plan(side, 32, 128, "sgan")
        layers: list[nn.Module] = []
        c_in = channels
        for c_out in p.widths:
            layers += [
                nn.Conv2d(c_in, c_out, 3, 1, 1),
                nn.ReLU(),
                nn.Conv2d(c_out, c_out, 4, 2, 1),
                nn.ReLU(),
            ]
            c_in = c_out
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.fc3 = nn.Sequential(nn.Linear(c_in * p.first * p.first, cfg.feature_dim), nn.ReLU())
        self.fc4 = nn.Linear(cfg.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc4(self.features(x))


class TopGenerator(nn.Module):
    """G1: (y (N,), z1 (N, z1_dim)) -> h1 (N, F)."""

    def __init__(self, cfg: SGANConfig, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        h = cfg.g1_hidden
        self.net = nn.Sequential(
            nn.Linear(cfg.z1_dim + num_classes, h), nn.BatchNorm1d(h), nn.ReLU(),
            nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(),
            nn.Linear(h, cfg.feature_dim), nn.ReLU(),
        )  # fmt: skip

    def forward(self, y: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(y, self.num_classes).to(z1.dtype)
        return self.net(torch.cat([z1, onehot], 1))


class BottomGenerator(nn.Module):
    """G0: (h1 (N, F), z0 (N, z0_dim)) -> x (N, C, S, S) in [-1, 1]."""

    def __init__(self, cfg: SGANConfig, channels: int, side: int) -> None:
        super().__init__()
        embed = 128  # the paper's z0 embedding, 50 -> 128 with batch norm
        self.embed = nn.Sequential(nn.Linear(cfg.z0_dim, embed), nn.BatchNorm1d(embed))
        g = dataclasses.replace(GANConfig(), z_dim=cfg.feature_dim + embed, width=cfg.width)
        self.net = DCGANGenerator(g, channels, side)

    def forward(self, h1: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([h1, self.embed(z0)], 1))


class FeatureDiscriminator(nn.Module):
    """D1: h1 (N, F), y (N,) -> (logit (N,), z1 guess (N, z1_dim) in (0, 1)); y is read only
    with class_d1."""

    def __init__(self, cfg: SGANConfig, num_classes: int) -> None:
        super().__init__()
        h = cfg.d1_hidden
        self.body = nn.Sequential(nn.Linear(cfg.feature_dim, h), nn.LeakyReLU(0.2),
                                  nn.Linear(h, h), nn.LeakyReLU(0.2))  # fmt: skip
        self.std = MinibatchStd() if cfg.minibatch_discrimination else None
        self.adv = nn.Linear(h + (self.std is not None), 1)
        self.q = nn.Linear(h, cfg.z1_dim)
        self.embed = nn.Embedding(num_classes, h) if cfg.class_d1 else None

    def forward(self, h1: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(h1)
        logit = self.adv(self.std(f) if self.std is not None else f).squeeze(1)
        if self.embed is not None:
            logit = logit + (self.embed(y) * f).sum(1)
        return logit, torch.sigmoid(self.q(f))


class ImageDiscriminator(nn.Module):
    """D0: x (N, C, S, S) -> (logit (N,), z0 guess (N, z0_dim) in (0, 1))."""

    def __init__(self, cfg: SGANConfig, channels: int, side: int) -> None:
        super().__init__()
        g = dataclasses.replace(
            GANConfig(), width=cfg.width, minibatch_discrimination=cfg.minibatch_discrimination
        )
        self.d = DCGANDiscriminator(g, channels, side, batchnorm=True)
        p = dcgan_plan(side, cfg.width)
        self.q = nn.Linear(p.widths[-1] * p.first * p.first, cfg.z0_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit, f = self.d(x)
        return logit, torch.sigmoid(self.q(f))


def build_models(
    cfg: SGANConfig, shape: tuple[int, ...], seed: int, num_classes: int
) -> dict[str, nn.Module]:
    """{'E', 'G1', 'G0', 'D1', 'D0'} for (C, S, S) images of `num_classes` classes."""
    cfg.validate()
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"sgan takes square (C, S, S) images, got {tuple(shape)}")
    if num_classes < 2:
        raise ValueError(
            f"sgan's top level is the class: it needs labelled data, got {num_classes} classes"
        )
    c, side = shape[0], shape[1]  # a side off the stage plan is refused by the plans
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return {
            "E": Encoder(cfg, c, side, num_classes),
            "G1": TopGenerator(cfg, num_classes),
            "G0": BottomGenerator(cfg, c, side),
            "D1": FeatureDiscriminator(cfg, num_classes),
            "D0": ImageDiscriminator(cfg, c, side),
        }
