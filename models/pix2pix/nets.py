"""pix2pix's networks (Isola et al. 2017, appendix 6.1): the U-Net generator and, in
models/patchgan.py, the PatchGAN discriminator on (input, output) pairs.

U-Net with `depth` levels, ch_i = ngf * min(2^i, 8):
    encoder  e_i: [LeakyReLU 0.2] -> 4x4 conv stride 2 -> [norm]   (no norm on e_0 and e_last)
    decoder  u_i: ReLU -> 4x4 transposed conv stride 2 -> [norm] -> [dropout]
             input: e_last for the innermost, else concat(u_{i+1}, e_i)  (the skips)
    output   tanh, images in [-1, 1]
Dropout (0.5) sits on the three decoder layers above the bottleneck, as in the paper's
256x256 net; shallower nets keep as many of those as they have, or the bottleneck's own.
"""

from __future__ import annotations

import torch
from torch import nn

from ganflow.models.patchgan import PatchDiscriminator, norm_layer
from ganflow.models.pix2pix.config import Pix2PixConfig


def dropout_levels(depth: int) -> list[int]:
    """The decoder levels with dropout: the three above the bottleneck (level depth-1),
    never the output level 0; the bottleneck itself when nothing else is left."""
    levels = [i for i in (depth - 2, depth - 3, depth - 4) if i >= 1]
    return levels or ([depth - 1] if depth >= 2 else [])


class UNet(nn.Module):
    """(N, in_channels, S, S) in [-1, 1] -> (N, out_channels, S, S) in [-1, 1]."""

    def __init__(self, in_channels: int, out_channels: int, cfg: Pix2PixConfig) -> None:
        super().__init__()
        d = int(cfg.depth or 0)
        ch = [cfg.ngf * min(2**i, 8) for i in range(d)]
        self.down = nn.ModuleList()
        for i in range(d):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, 2, 1))
            if 0 < i < d - 1:
                layers.append(norm_layer(cfg.norm, ch[i]))
            self.down.append(nn.Sequential(*layers))
        drop = set(dropout_levels(d))
        self.up = nn.ModuleList()
        for i in range(d):  # self.up[i] is decoder level i (built outermost first)
            cin = ch[i] if i == d - 1 else 2 * ch[i]
            cout = out_channels if i == 0 else ch[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1)]
            if i > 0:
                layers.append(norm_layer(cfg.norm, cout))
                if i in drop and cfg.dropout > 0:
                    layers.append(nn.Dropout(cfg.dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)  # e_i: (N, ch_i, S / 2^(i+1), S / 2^(i+1))
        h = skips[-1]
        for i in reversed(range(len(self.up))):
            h = self.up[i](h if i == len(self.up) - 1 else torch.cat([h, skips[i]], 1))
        return torch.tanh(h)


def build_models(
    cfg: Pix2PixConfig, in_channels: int, out_channels: int, seed: int
) -> dict[str, nn.Module]:
    """G: the U-Net A -> B; D: the PatchGAN on concat(A, B) (absent for the L1-only U-Net).
    Weights N(0, 0.02) (appendix 6.2), drawn from `seed` alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models: dict[str, nn.Module] = {"G": UNet(in_channels, out_channels, cfg)}
        if cfg.gan_weight > 0:
            models["D"] = PatchDiscriminator(
                in_channels + out_channels, cfg.ndf, int(cfg.patch_layers or 1), cfg.norm
            )
        for m in models.values():
            m.apply(init_weights)
    return models


def init_weights(m: nn.Module) -> None:
    """Convolutions N(0, 0.02), norm scales N(1, 0.02), biases 0 (the reference code)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def modules_for(cfg: Pix2PixConfig, record: dict) -> dict[str, nn.Module]:
    """The networks of a checkpoint's run record (the registry's build hook)."""
    ca, cb = record["channels"]
    return build_models(cfg, ca, cb, record["seed"])
