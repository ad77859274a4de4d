"""Networks of the unconditional GAN family: MLPs for low-dimensional data (the toy mixtures
of the mode-collapse benchmark) and DCGAN (Radford et al. 2015, section 3) for images of any
side the stage plan takes (28, and multiples of 4 from 8 to 256; models/stages.py); the
ResNet networks are in resnet.py.

DCGAN's rules: strided convolutions in D and transposed convolutions in G instead of pooling;
batch norm in both (not on G's output or D's input); ReLU in G with a tanh output; LeakyReLU
(0.2) in D; no hidden fully connected layers. z is projected to the first feature map by a
transposed convolution on a 1x1 map, D's last layer is one linear read-out of its last map.

Every discriminator takes (N, ...) samples and returns (logits (N / pack,), features): with
PacGAN packing (Lin et al. 2018) it judges `pack` samples at once, concatenated along the
feature (MLP) or channel (DCGAN) axis.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
from torch import nn

from ganflow.models import stages
from ganflow.models.gan.biggan import BigGANGenerator
from ganflow.models.gan.conditional import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    feature_width,
)
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.energy import EnergyConv, EnergyMLP
from ganflow.models.gan.heads import Head, attention_map, down_stack, pack_samples
from ganflow.models.gan.resnet import ResNetDiscriminator, ResNetGenerator
from ganflow.models.layers import SelfAttention, maybe_spectral_norm
from ganflow.models.stages import StagePlan


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> x (N, dim): `depth` hidden ReLU layers, linear output."""

    def __init__(self, z_dim: int, dim: int, hidden: int, depth: int, batchnorm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = z_dim
        for _ in range(depth):
            layers += (
                [nn.Linear(width, hidden)]
                + ([nn.BatchNorm1d(hidden)] if batchnorm else [])
                + [nn.ReLU()]
            )
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """x (N, dim) -> (logits (N / pack,), features (N / pack, hidden))."""

    def __init__(self, dim: int, hidden: int, depth: int, cfg: GANConfig) -> None:
        super().__init__()
        self.pack = cfg.pack
        sn = cfg.spectral_norm
        layers: list[nn.Module] = []
        width = dim * cfg.pack
        for _ in range(depth):
            layers += [maybe_spectral_norm(nn.Linear(width, hidden), sn), nn.LeakyReLU(0.2)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = Head(width, cfg.minibatch_discrimination, sn)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(pack_samples(x, self.pack))
        return self.head(f), f


def _dcgan_init(m: nn.Module) -> None:
    """Radford et al. 2015, section 4: weights from N(0, 0.02); batch-norm scales N(1, 0.02)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
        nn.init.normal_(w, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcgan_plan(size: int, width: int) -> StagePlan:
    """DCGAN's stages for side `size`: widths w, 2w, ... up to 8w from the image side down,
    the smallest map at least 4w wide (28 -> 2w, 4w at 14, 7; 32 -> w, 2w, 4w; 64 -> w .. 8w)."""
    return stages.plan(size, width, 8 * width, "dcgan", deepest=4 * width)


class DCGANGenerator(nn.Module):
    """z (N, z_dim) -> x (N, C, S, S) in [-1, 1]: a transposed conv from 1x1 to the first map
    s0, stride-2 transposed convs up to S (28: 7 -> 14 -> 28; 64: 4 -> 8 -> ... -> 64)."""

    def __init__(self, cfg: GANConfig, channels: int, size: int) -> None:
        super().__init__()
        p = dcgan_plan(size, cfg.width)
        attend = attention_map(size, cfg.attention_side) if cfg.self_attention else 0
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cfg.z_dim, p.widths[-1], p.first, 1, 0, bias=False),
            nn.BatchNorm2d(p.widths[-1]),
            nn.ReLU(),
        ]
        side = p.first
        for c_in, c_out in p.up():
            side *= 2
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
            if side == attend:
                layers.append(SelfAttention(c_out))
        layers += [nn.ConvTranspose2d(p.widths[0], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """x (N, C, S, S) -> (logits (N / pack,), features (N / pack, F)): stride-2 convolutions,
    LeakyReLU 0.2, batch norm after the first (when on), one linear read-out."""

    def __init__(self, cfg: GANConfig, channels: int, size: int, batchnorm: bool) -> None:
        super().__init__()
        self.pack = cfg.pack
        p = dcgan_plan(size, cfg.width)
        sn = cfg.spectral_norm

        def stage(i: int, c_in: int, c_out: int) -> list[nn.Module]:
            conv = maybe_spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1), sn)
            return [conv, *([nn.BatchNorm2d(c_out)] if batchnorm and i > 0 else [])] + [
                nn.LeakyReLU(0.2)
            ]

        layers = down_stack(cfg, channels, p, stage)
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = Head(p.widths[-1] * p.first * p.first, cfg.minibatch_discrimination, sn)
        self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(pack_samples(x, self.pack))  # (N / pack, F)
        return self.head(f), f


def build_models(
    cfg: GANConfig, shape: tuple[int, ...], seed: int, num_classes: int = 0
) -> dict[str, nn.Module]:
    """{'G', 'D'} for data of `shape`: (dim,) vectors for mlp, (C, S, S) images for dcgan.
    With a condition, G takes (z, y) and D (x, y) for labels y in 0..num_classes-1. With
    g_ema, also 'G_ema': a copy of G that is never trained, only averaged (see sampler)."""
    cfg.validate()
    if cfg.conditional and num_classes < 2:
        raise ValueError(f"a class-conditional GAN needs at least 2 classes, got {num_classes}")
    # conditional G reads [z, e(y)]; concat-conditioned D reads [x, e(y)]
    g_cfg = dataclasses.replace(cfg, z_dim=cfg.z_dim + cfg.embed_dim) if cfg.conditional else cfg
    extra = cfg.embed_dim if cfg.condition == "concat" else 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if cfg.arch == "mlp":
            if len(shape) != 1:
                raise ValueError(f"arch mlp takes vectors, got samples of shape {tuple(shape)}")
            G = MLPGenerator(g_cfg.z_dim, shape[0], cfg.width, cfg.depth, cfg.g_batchnorm)
            D = (
                EnergyMLP(shape[0], cfg.width, cfg.depth, cfg)
                if cfg.loss == "ebgan"
                else MLPDiscriminator(shape[0] + extra, cfg.width, cfg.depth, cfg)
            )
        else:
            if len(shape) != 3 or shape[1] != shape[2]:
                raise ValueError(
                    f"arch {cfg.arch} takes square (C, S, S) images, got {tuple(shape)}"
                )
            c, side = shape[0], shape[1]
            if cfg.arch == "biggan":
                G = BigGANGenerator(cfg, c, side, num_classes)
            elif cfg.arch == "resnet":
                G = ResNetGenerator(g_cfg, c, side)
            else:
                G = DCGANGenerator(g_cfg, c, side)
            if cfg.arch == "resnet":
                D = ResNetDiscriminator(cfg, c + extra, side)
            elif cfg.loss == "ebgan":
                D = EnergyConv(cfg, c, dcgan_plan(side, cfg.width), cfg.d_uses_batchnorm())
                D.apply(_dcgan_init)
            else:
                D = DCGANDiscriminator(cfg, c + extra, side, cfg.d_uses_batchnorm())
        if cfg.conditional and cfg.arch != "biggan":  # BigGAN's G reads y itself
            G = ConditionalGenerator(G, num_classes, cfg.embed_dim)
        if cfg.conditional:
            D = ConditionalDiscriminator(
                D, cfg.condition, num_classes, cfg.embed_dim, feature_width(D)
            )
    models = {"G": G, "D": D}
    if cfg.g_ema:
        models["G_ema"] = copy.deepcopy(G).requires_grad_(False)
    return models


def sampler(models: dict[str, nn.Module]) -> nn.Module:
    """The generator to draw samples from: G's weight average when there is one, else G."""
    return models.get("G_ema", models["G"])


def network_shape(cfg: GANConfig, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The sample shape the networks work on: images flattened to vectors for the MLP."""
    return (math.prod(shape),) if cfg.arch == "mlp" and len(shape) > 1 else tuple(shape)
