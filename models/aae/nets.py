"""Networks of the adversarial autoencoder: MLP encoder, decoder and latent discriminators
(two hidden layers each, as in Makhzani et al. 2015's MNIST networks), and for images above
32 pixels a conv encoder and decoder that follow the side (models/stages.py)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganflow.models import stages
from ganflow.models.aae.config import AAEConfig
from ganflow.models.layers import MinibatchDiscrimination
from ganflow.models.scattering import ScatteringFront


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_out),
    )


def _categorical_discriminator(cfg: AAEConfig) -> nn.Module:
    if not cfg.y_minibatch_discrimination:
        return _mlp(cfg.clusters, cfg.hidden, 1)
    mbd = MinibatchDiscrimination(cfg.hidden, 50, 5)
    return nn.Sequential(
        nn.Linear(cfg.clusters, cfg.hidden),
        nn.ReLU(),
        nn.Linear(cfg.hidden, cfg.hidden),
        nn.ReLU(),
        mbd,
        nn.Linear(mbd.out_features, 1),
    )


class Encoder(nn.Module):
    """x (N, C, H, W) in [0, 1] -> (y logits (N, K) or None, z (N, d))."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: AAEConfig) -> None:
        super().__init__()
        self.k, self.d = cfg.clusters, cfg.z_dim
        self.net = _mlp(math.prod(image_shape), cfg.hidden, self.k + self.d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        h = self.net(x.flatten(1))
        return (h[:, : self.k] if self.k else None), h[:, self.k :]


class FrontEndEncoder(nn.Module):
    """The encoder on a fixed front end: x -> head(front(x)). Training feeds the head
    precomputed front-end features of the training images (fast); new images go through
    forward. Same outputs as Encoder."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: AAEConfig) -> None:
        super().__init__()
        self.front = ScatteringFront(image_shape, cfg.frontend_dims)
        self.head = Encoder((cfg.frontend_dims, 1, 1), cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        return self.head(self.front(x))


def conv_plan(side: int) -> stages.StagePlan:
    """The conv encoder's and decoder's stages: 32 channels at the side, doubling to 256."""
    return stages.plan(side, 32, 256, "the adversarial autoencoder's conv nets")


class ConvEncoder(nn.Module):
    """x (N, C, S, S) in [0, 1] -> (y logits (N, K) or None, z (N, d)): stride-2 convs down
    the stage plan (LeakyReLU 0.2, batch norm after the first), then the paper's two hidden
    layers on the flattened smallest map."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: AAEConfig) -> None:
        super().__init__()
        c, side, _ = image_shape
        p = conv_plan(side)
        self.body = nn.Sequential(*stages.down_convs(p, c, 0.2), nn.Flatten())
        self.head = Encoder((p.widths[-1], p.first, p.first), cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        return self.head(self.body(x))


class ConvDecoder(nn.Module):
    """(y (N, K) or None, z (N, d)) -> x (N, C, S, S) logits: a linear layer to the stage
    plan's smallest map, stride-2 transposed convs (batch norm, ReLU) up to the side."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: AAEConfig) -> None:
        super().__init__()
        c, side, _ = image_shape
        p = conv_plan(side)
        top = p.widths[-1]
        self.net = nn.Sequential(
            nn.Linear(cfg.clusters + cfg.z_dim, top * p.first**2),
            nn.ReLU(),
            nn.Unflatten(1, (top, p.first, p.first)),
            *stages.up_convs(p),
            nn.ConvTranspose2d(p.widths[0], c, 4, 2, 1),
        )

    def forward(self, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        return self.net(z if y is None else torch.cat([y, z], dim=1))


class Decoder(nn.Module):
    """(y (N, K) probabilities or one-hot, z (N, d)) -> x (N, C, H, W) logits."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: AAEConfig) -> None:
        super().__init__()
        self.shape = image_shape
        self.net = _mlp(cfg.clusters + cfg.z_dim, cfg.hidden, math.prod(image_shape))

    def forward(self, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        code = z if y is None else torch.cat([y, z], dim=1)
        return self.net(code).view(-1, *self.shape)


def build_models(
    image_shape: tuple[int, int, int], cfg: AAEConfig, num_labels: int, seed: int
) -> dict[str, nn.Module]:
    """E, Dec, D_z (its input carries a one-hot label + 'unlabelled' slot when the mixture prior
    is label-conditioned), and D_y when there is a categorical head."""
    cfg.validate()
    cfg = cfg.resolved(image_shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cond = num_labels + 1 if cfg.label_conditioned else 0
        conv = cfg.arch == "conv"
        if cfg.frontend == "scattering":
            encoder: type[nn.Module] = FrontEndEncoder
        else:
            encoder = ConvEncoder if conv else Encoder
        models = {
            "E": encoder(image_shape, cfg),
            "Dec": (ConvDecoder if conv else Decoder)(image_shape, cfg),
            "D_z": _mlp(cfg.z_dim + cond, cfg.hidden, 1),
        }
        if cfg.clusters:
            models["D_y"] = _categorical_discriminator(cfg)
    return models
