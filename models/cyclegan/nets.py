"""CycleGAN's networks (Zhu et al. 2017, section 4 and appendix 7.2): two ResNet generators
G: A -> B and F: B -> A (Johnson et al. 2016), and a PatchGAN discriminator per domain
(models/patchgan.py) with instance norm.

Generator, for a side divisible by 2^down (the paper's down = 2 shown):
    c7s1-ngf (reflection pad 3) -> d(2 ngf) -> d(4 ngf)      # 7x7 conv, `down` stride-2 convs
    -> R(4 ngf) x blocks                                      # 3x3 conv residual blocks
    -> u(2 ngf) -> u(ngf) -> c7s1-C, tanh                     # `down` stride-1/2 transposed convs
each conv followed by instance norm and ReLU, except the last. With upsample="resize" each
u is a nearest-neighbour 2x upsampling and a reflect-padded 3x3 conv (Odena et al. 2016).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from ganflow.models.cyclegan.config import CycleGANConfig
from ganflow.models.patchgan import PatchDiscriminator
from ganflow.models.pix2pix.nets import init_weights


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
    pad = [nn.ReflectionPad2d(k // 2)] if stride == 1 else []
    return [
        *pad,
        nn.Conv2d(cin, cout, k, stride, 0 if stride == 1 else 1),
        nn.InstanceNorm2d(cout),
        nn.ReLU(True),
    ]


class ResidualBlock(nn.Module):
    """x + (reflect-pad, 3x3 conv, IN, ReLU, reflect-pad, 3x3 conv, IN)(x)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv(ch, ch, 3),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            nn.InstanceNorm2d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _upsample(cin: int, cout: int, how: str) -> list[nn.Module]:
    """Twice the side: a transposed conv (the paper's) or resize then conv."""
    if how == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                nn.Conv2d(cin, cout, 3)]  # fmt: skip
    return [nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1)]


class ResnetGenerator(nn.Module):
    """(N, in_channels, S, S) in [-1, 1] -> (N, out_channels, S, S) in [-1, 1]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int,
        blocks: int,
        down: int = 2,
        upsample: str = "deconv",
    ) -> None:
        super().__init__()
        widths = [ngf * 2**i for i in range(down + 1)]  # ngf, 2 ngf, 4 ngf for the paper's 2
        up = [
            m
            for cin, cout in pairwise(reversed(widths))
            for m in (
                *_upsample(cin, cout, upsample),
                nn.InstanceNorm2d(cout),
                nn.ReLU(True),
            )
        ]
        self.net = nn.Sequential(
            *_conv(in_channels, ngf, 7),
            *[m for cin, cout in pairwise(widths) for m in _conv(cin, cout, 3, stride=2)],
            *[ResidualBlock(widths[-1]) for _ in range(blocks)],
            *up,
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, out_channels, 7),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_models(
    cfg: CycleGANConfig, channels_a: int, channels_b: int, seed: int
) -> dict[str, nn.Module]:
    """G_ab, G_ba and the discriminators D_a (judges domain A) and D_b; N(0, 0.02) weights
    drawn from `seed` alone."""
    blocks, layers = int(cfg.blocks or 6), int(cfg.patch_layers or 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models: dict[str, nn.Module] = {
            "G_ab": ResnetGenerator(
                channels_a, channels_b, cfg.ngf, blocks, cfg.down, cfg.upsample
            ),
            "G_ba": ResnetGenerator(
                channels_b, channels_a, cfg.ngf, blocks, cfg.down, cfg.upsample
            ),
            "D_a": PatchDiscriminator(channels_a, cfg.ndf, layers, "instance"),
            "D_b": PatchDiscriminator(channels_b, cfg.ndf, layers, "instance"),
        }
        for m in models.values():
            m.apply(init_weights)
    return models


def modules_for(cfg: CycleGANConfig, record: dict) -> dict[str, nn.Module]:
    """The networks of a checkpoint's run record (the registry's build hook)."""
    ca, cb = record["channels"]
    return build_models(cfg, ca, cb, record["seed"])
