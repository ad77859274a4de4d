"""EBGAN's discriminator (Zhao, Mathieu and LeCun 2016, section 2.3): an autoencoder whose
energy is its reconstruction error, D(x) = ||Dec(Enc(x)) - x||^2, here the mean over the
sample's entries so that one margin means the same at every image side. Low energy is
"real": the losses are in models/losses.py (d_energy, g_energy, pulling_away).

Both return (energy (N,), code (N, F)): the code Enc(x) is what the pulling-away term
spreads (section 2.4). The encoder is DCGAN's (or the MLP's) discriminator body, the decoder
mirrors it as DCGAN's generator does (the paper's MNIST D: (64)4c2s-(128)4c2s-(256)4c2s,
then back up by transposed convolutions).
"""

from __future__ import annotations

import torch
from torch import nn

from ganflow.models.gan.config import GANConfig
from ganflow.models.layers import maybe_spectral_norm
from ganflow.models.stages import StagePlan


def energy(reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N,) mean squared reconstruction error of each sample."""
    return (reconstruction - x).pow(2).flatten(1).mean(1)


class EnergyMLP(nn.Module):
    """x (N, dim) -> (energy (N,), code (N, width)): `depth` LeakyReLU layers down to the
    code, `depth` ReLU layers back up, a linear output."""

    def __init__(self, dim: int, width: int, depth: int, cfg: GANConfig) -> None:
        super().__init__()
        sn = cfg.spectral_norm
        enc: list[nn.Module] = []
        dec: list[nn.Module] = []
        w_in = dim
        for _ in range(depth):
            enc += [maybe_spectral_norm(nn.Linear(w_in, width), sn), nn.LeakyReLU(0.2)]
            dec += [nn.Linear(width, width), nn.ReLU()]
            w_in = width
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec[:-2], nn.Linear(width, dim)) if depth else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(x)  # (N, width)
        return energy(self.decoder(code), x), code


class EnergyConv(nn.Module):
    """x (N, C, S, S) -> (energy (N,), code (N, F)): DCGAN's stride-2 convolutions down to
    the smallest map s0 (batch norm after the first when on, LeakyReLU 0.2), transposed
    convolutions back up (batch norm, ReLU), a linear last layer to the image channels."""

    def __init__(self, cfg: GANConfig, channels: int, plan: StagePlan, batchnorm: bool) -> None:
        super().__init__()
        sn = cfg.spectral_norm
        enc: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(plan.down()):
            enc.append(maybe_spectral_norm(nn.Conv2d(c_in or channels, c_out, 4, 2, 1), sn))
            enc += [nn.BatchNorm2d(c_out)] if batchnorm and i > 0 else []
            enc.append(nn.LeakyReLU(0.2))
        dec: list[nn.Module] = []
        for c_in, c_out in plan.up():
            dec += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
        dec.append(nn.ConvTranspose2d(plan.widths[0], channels, 4, 2, 1))
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)  # (N, widths[-1], s0, s0)
        return energy(self.decoder(h), x), h.flatten(1)
