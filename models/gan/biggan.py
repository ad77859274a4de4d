"""BigGAN's generator tricks (Brock et al. 2019, section 3 and appendix B) for the
class-conditional GAN at any image side: class-conditional batch norm whose gains and biases
are linear in a shared class embedding, and a hierarchical latent space (z split into one
chunk per resolution, each joining the class embedding in that block's conditioning). D stays
DCGAN's with the projection conditioning (conditional.py), as in BigGAN.

    z = [z_0, z_1, ..., z_L]                    (hierarchical: L blocks; else z_0 = z, z_i = [])
    h = linear(z_0) -> (4w, s0, s0)             s0: the stage plan's first map (7 at 28, 4 at 32)
    block i: h <- conv(up(ReLU(CBN(h | [e(y), z_i]))))     (s -> 2s, channels halve)
    x = tanh(conv(ReLU(BN(h))))
The orthogonal regularisation and the truncation trick live in regularizers.py and
sampling.py.
"""

from __future__ import annotations

import torch
from torch import nn

from ganflow.models import stages
from ganflow.models.gan.config import GANConfig
from ganflow.models.images import up


class ConditionalBatchNorm2d(nn.Module):
    """BN without its own affine, then x * (1 + gain(c)) + bias(c) per channel, with gain and
    bias linear in the condition c (N, cond_dim) (BigGAN section 3: the shared embedding
    "linearly projected to each layer's gains and biases"). (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        for lin in (self.gain, self.bias):  # starts as plain BN: gain 1, bias 0
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        g = 1.0 + self.gain(c)[:, :, None, None]
        return self.bn(x) * g + self.bias(c)[:, :, None, None]


class _Block(nn.Module):
    """CBN -> ReLU -> nearest x2 -> 3x3 conv: (N, C_in, s, s) -> (N, C_out, 2s, 2s)."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int) -> None:
        super().__init__()
        self.cbn = ConditionalBatchNorm2d(c_in, cond_dim)
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.cbn(h, c))
        return self.conv(up(h))


def z_chunks(z: torch.Tensor, blocks: int, hierarchical: bool) -> list[torch.Tensor]:
    """[z_0, z_1, ..., z_blocks]: near-equal chunks of z (N, z_dim) when hierarchical; else
    [z] and empty chunks (N, 0), so the blocks see the class alone."""
    if hierarchical:
        return list(torch.tensor_split(z, blocks + 1, dim=1))
    return [z] + [z[:, :0]] * blocks


class BigGANGenerator(nn.Module):
    """(z (N, z_dim), y (N,)) -> x (N, C, S, S) in [-1, 1], S any side of the stage plan."""

    def __init__(self, cfg: GANConfig, channels: int, size: int, num_classes: int) -> None:
        super().__init__()
        p = stages.plan(size, cfg.width, 8 * cfg.width, "arch biggan", deepest=4 * cfg.width)
        self.num_classes, self.hierarchical = num_classes, cfg.hierarchical_latent
        self.s0, blocks = p.first, p.stages
        # s0 .. S: the widths of the plan from the smallest map up, the last block halving
        # once more down to w (28: 4w, 2w, w; 32: 4w, 2w, w, w)
        widths = [*p.widths[::-1], max(p.widths[0] // 2, cfg.width)]
        chunks = z_chunks(torch.zeros(1, cfg.z_dim), blocks, self.hierarchical)
        self.shared = nn.Embedding(num_classes, cfg.embed_dim)  # one embedding for all blocks
        self.linear = nn.Linear(chunks[0].shape[1], widths[0] * self.s0 * self.s0)
        self.blocks = nn.ModuleList(
            _Block(widths[i], widths[i + 1], cfg.embed_dim + chunks[i + 1].shape[1])
            for i in range(blocks)
        )
        self.out = nn.Sequential(
            nn.BatchNorm2d(widths[-1]), nn.ReLU(), nn.Conv2d(widths[-1], channels, 3, 1, 1)
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.from_embedding(z, self.shared(y))

    def from_embedding(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """x from z and a class embedding e (N, E), which need not be any class's own (a walk
        between two classes, latent arithmetic)."""
        zs = z_chunks(z, len(self.blocks), self.hierarchical)
        h = self.linear(zs[0]).view(z.shape[0], -1, self.s0, self.s0)
        for block, z_i in zip(self.blocks, zs[1:], strict=True):
            h = block(h, torch.cat([e, z_i], 1))
        return torch.tanh(self.out(h))
