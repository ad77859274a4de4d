"""StackGAN's networks (Zhang et al. 2017, section 3 and the released code), for a Stage-I
side S1 and a Stage-II side S2 = 2 S1 or 4 S1.

Stage-I G:  [c, z] -> FC -> (8 ngf, 4, 4) -> up-blocks (nearest x2, 3x3 conv, BN, ReLU) to
            S1 -> 3x3 conv to RGB, tanh
Stage-II G: the Stage-I image -> down-convs to (4 ngf, S1/4, S1/4) -> joined with c (tiled)
            -> 3x3 conv -> residual blocks -> up-blocks to S2 -> RGB, tanh
            [stage2_residual: RGB + atanh(Stage-I image upsampled), then tanh]
D (both):   image -> 4x4 stride-2 convs to (8 ndf, 4, 4) -> joined with the compressed text
            (tiled) -> 3x3 conv -> 4x4 conv to one logit: "real image that matches the text"
            [d_projection: + <W t, h> / sqrt(|h|), the compressed text t projected onto the
            image features h (8 ndf, 4, 4) flattened, W zero at the start (Miyato & Koyama
            2018's projection discriminator, kept spatial so position still counts)]
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganflow.models.stackgan.conditioning import ConditioningAugmentation
from ganflow.models.stackgan.config import StackGANConfig


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(True)]  # fmt: skip


def _down(cin: int, cout: int, norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return [*layers, nn.LeakyReLU(0.2, True)]


class Residual(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True),
                                  nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class Stage1Generator(nn.Module):
    """(phi (N, E), z (N, Z)) -> (image (N, 3, S1, S1) in [-1, 1], mu, logvar)."""

    def __init__(self, cfg: StackGANConfig) -> None:
        super().__init__()
        self.ca = ConditioningAugmentation(cfg.embed_dim, cfg.cond_dim)
        ch = 8 * cfg.ngf
        self.fc = nn.Sequential(nn.Linear(cfg.cond_dim + cfg.z_dim, ch * 16, bias=False),
                                nn.BatchNorm1d(ch * 16), nn.ReLU(True))  # fmt: skip
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(cfg.stage1_size // 4))):
            ups += _up(ch, max(ch // 2, cfg.ngf))
            ch = max(ch // 2, cfg.ngf)
        self.up = nn.Sequential(*ups, nn.Conv2d(ch, 3, 3, 1, 1), nn.Tanh())
        self.ch0 = 8 * cfg.ngf

    def forward(self, phi: torch.Tensor, z: torch.Tensor):
        c, mu, logvar = self.ca(phi)
        h = self.fc(torch.cat([c, z], 1)).view(len(z), self.ch0, 4, 4)
        return self.up(h), mu, logvar


# |x| bound of the upsampled Stage-I image before atanh (atanh(0.99) = 2.65: finite)
RESIDUAL_CLAMP = 0.99


class Stage2Generator(nn.Module):
    """(Stage-I image (N, 3, S1, S1), phi (N, E)) -> (image (N, 3, S2, S2), mu, logvar).
    With stage2_residual the last conv's output is added to atanh of the bilinearly
    upsampled Stage-I image before the tanh, so the stage learns a correction."""

    def __init__(self, cfg: StackGANConfig) -> None:
        super().__init__()
        self.ca = ConditioningAugmentation(cfg.embed_dim, cfg.cond_dim)
        ch = 4 * cfg.ngf
        self.encode = nn.Sequential(nn.Conv2d(3, cfg.ngf, 3, 1, 1), nn.ReLU(True),
                                    *_down(cfg.ngf, 2 * cfg.ngf), *_down(2 * cfg.ngf, ch))  # fmt: skip
        self.join = nn.Sequential(nn.Conv2d(ch + cfg.cond_dim, ch, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(ch), nn.ReLU(True))  # fmt: skip
        self.res = nn.Sequential(*[Residual(ch) for _ in range(cfg.res_blocks)])
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(cfg.stage2_size // (cfg.stage1_size // 4)))):
            ups += _up(ch, max(ch // 2, cfg.ngf // 2))
            ch = max(ch // 2, cfg.ngf // 2)
        self.residual, self.size = cfg.stage2_residual, cfg.stage2_size
        last = nn.Conv2d(ch, 3, 3, 1, 1)
        if self.residual:  # a zero correction at the start: G2 begins as Stage-I upsampled
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.up = nn.Sequential(*ups, last)

    def forward(self, image1: torch.Tensor, phi: torch.Tensor):
        c, mu, logvar = self.ca(phi)
        h = self.encode(image1)  # (N, 4 ngf, S1/4, S1/4)
        h = self.join(torch.cat([h, c[:, :, None, None].expand(-1, -1, *h.shape[-2:])], 1))
        out = self.up(self.res(h))  # (N, 3, S2, S2)
        if self.residual:  # tanh(atanh(up(image1)) + correction)
            base = nn.functional.interpolate(image1, size=self.size, mode="bilinear")
            out = out + torch.atanh(base.clamp(-RESIDUAL_CLAMP, RESIDUAL_CLAMP))
        return torch.tanh(out), mu, logvar


class MatchingDiscriminator(nn.Module):
    """(image (N, 3, S, S), phi (N, E)) -> logit (N,) of 'a real image matching its text'."""

    def __init__(self, cfg: StackGANConfig, size: int) -> None:
        super().__init__()
        layers, ch = _down(3, cfg.ndf, norm=False), cfg.ndf
        while size // 2 > 4:
            layers += _down(ch, min(2 * ch, 8 * cfg.ndf))
            ch, size = min(2 * ch, 8 * cfg.ndf), size // 2
        self.image = nn.Sequential(*layers)  # (N, ch, 4, 4)
        self.text = nn.Sequential(nn.Linear(cfg.embed_dim, cfg.d_text_dim), nn.LeakyReLU(0.2, True))
        # unit-length embeddings -> components of order 1
        self.scale = cfg.embed_dim**0.5
        self.judge = nn.Sequential(nn.Conv2d(ch + cfg.d_text_dim, ch, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(ch), nn.LeakyReLU(0.2, True), nn.Conv2d(ch, 1, 4))  # fmt: skip
        self.project = None
        if cfg.d_projection:  # zero at the start: D begins as the concatenating one
            self.project = nn.Linear(cfg.d_text_dim, ch * 16, bias=False)
            nn.init.zeros_(self.project.weight)

    def forward(self, image: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        h = self.image(image)
        t = self.text(phi * self.scale)
        out = self.judge(torch.cat([h, t[:, :, None, None].expand(-1, -1, *h.shape[-2:])], 1))
        out = out.flatten()
        if self.project is not None:
            flat = h.flatten(1)
            out = out + (self.project(t) * flat).sum(1) / flat.shape[1] ** 0.5
        return out


def build_models(cfg: StackGANConfig, seed: int) -> dict[str, nn.Module]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return {
            "G1": Stage1Generator(cfg),
            "D1": MatchingDiscriminator(cfg, cfg.stage1_size),
            "G2": Stage2Generator(cfg),
            "D2": MatchingDiscriminator(cfg, cfg.stage2_size),
        }
