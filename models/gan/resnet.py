"""ResNet generator and discriminator in the style of SNGAN (Miyato et al. 2018, appendix B.4)
and BigGAN (Brock et al. 2019), for images of any side the stage plan takes (32 to 256).

    G: z -> linear -> (8w', s0, s0) -> n up blocks -> BN, ReLU, conv3x3 -> tanh
       up block:   x -> BN, ReLU, up x2, conv3x3, BN, ReLU, conv3x3   (+ up x2, conv1x1 of x)
    D: x -> n down blocks -> [minibatch std] -> one block at s0 -> ReLU -> sum over the map
       -> linear
       down block: x -> ReLU, conv3x3, ReLU, conv3x3, avgpool 2      (+ conv1x1, avgpool of x)
       (the first block has no ReLU on the image, SNGAN's "optimised" block)

Widths follow the stage plan: w at the image side, doubling to 8w at the smallest map.
Spectral norm (when on) covers every layer of D; self-attention (SAGAN) sits at one map side.
D returns (logits (N / pack,), features (N / pack, F)) like the DCGAN discriminator, so the
class conditionings (conditional.py) and feature matching read it the same way.
"""

from __future__ import annotations

import torch
from torch import nn

from ganflow.models import stages
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.heads import Head, attention_map, down_stack, pack_samples
from ganflow.models.images import down, up
from ganflow.models.layers import MinibatchStd, SelfAttention, maybe_spectral_norm


def resnet_plan(size: int, width: int) -> stages.StagePlan:
    """w, 2w, ... up to 8w from the image side down (32 -> w, 2w, 4w; 64 -> w, .., 8w)."""
    return stages.plan(size, width, 8 * width, "the resnet architecture", deepest=4 * width)


class UpBlock(nn.Module):
    """(N, c_in, s, s) -> (N, c_out, 2s, 2s), pre-activation with a 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(up(torch.relu(self.bn1(x))))
        h = self.conv2(torch.relu(self.bn2(h)))
        return h + self.skip(up(x))


class DownBlock(nn.Module):
    """(N, c_in, s, s) -> (N, c_out, s/2, s/2) (or s when not `downsample`); `first`: no ReLU
    on the input (the image)."""

    def __init__(
        self, c_in: int, c_out: int, spectral: bool, first: bool, downsample: bool = True
    ) -> None:
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = maybe_spectral_norm(nn.Conv2d(c_in, c_out, 3, 1, 1), spectral)
        self.conv2 = maybe_spectral_norm(nn.Conv2d(c_out, c_out, 3, 1, 1), spectral)
        self.skip = (
            maybe_spectral_norm(nn.Conv2d(c_in, c_out, 1), spectral)
            if c_in != c_out or downsample
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x if self.first else torch.relu(x))
        h = self.conv2(torch.relu(h))
        s = x
        if self.first:  # SNGAN's optimised block: pool, then 1x1 on the image
            s = self.skip(down(x) if self.downsample else x)
        elif self.skip is not None:
            s = self.skip(x)
            s = down(s) if self.downsample else s
        return (down(h) if self.downsample else h) + s


class ResNetGenerator(nn.Module):
    """z (N, z_dim) -> x (N, C, S, S) in [-1, 1]."""

    def __init__(self, cfg: GANConfig, channels: int, size: int) -> None:
        super().__init__()
        p = resnet_plan(size, cfg.width)
        attend = attention_map(size, cfg.attention_side) if cfg.self_attention else 0
        self.first, self.c0 = p.first, p.widths[-1]
        self.linear = nn.Linear(cfg.z_dim, self.c0 * p.first * p.first)
        widths = (*p.widths[::-1], p.widths[0])  # s0 .. S: the last block keeps w
        blocks: list[nn.Module] = []
        side = p.first
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            side *= 2
            blocks.append(UpBlock(c_in, c_out))
            if side == attend:
                blocks.append(SelfAttention(c_out))
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(
            nn.BatchNorm2d(p.widths[0]),
            nn.ReLU(),
            nn.Conv2d(p.widths[0], channels, 3, 1, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z.flatten(1)).view(z.shape[0], self.c0, self.first, self.first)
        return self.out(self.blocks(h))


class ResNetDiscriminator(nn.Module):
    """x (N, C, S, S) -> (logits (N / pack,), features (N / pack, F))."""

    def __init__(self, cfg: GANConfig, channels: int, size: int) -> None:
        super().__init__()
        self.pack = cfg.pack
        p = resnet_plan(size, cfg.width)
        sn = cfg.spectral_norm
        blocks = down_stack(
            cfg, channels, p, lambda i, c_in, c_out: [DownBlock(c_in, c_out, sn, first=i == 0)]
        )
        c_in = p.widths[-1]
        if cfg.minibatch_std:  # the batch's spread as one more map at the smallest side
            blocks.append(MinibatchStd())
        blocks.append(DownBlock(c_in + cfg.minibatch_std, c_in, sn, first=False, downsample=False))
        self.body = nn.Sequential(*blocks)
        self.head = Head(c_in, cfg.minibatch_discrimination, sn)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(pack_samples(x, self.pack))
        f = torch.relu(h).sum(dim=(2, 3))  # (N, F): SNGAN's global sum pooling
        return self.head(f), f
