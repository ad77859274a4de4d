"""InfoGAN's networks: G(z, c), D with its features, and the head Q(c | x) on D's features
(Chen et al. 2016, section 5: Q shares all of D's convolutional layers and adds one fully
connected layer before its outputs).

`conv` is the paper's MNIST architecture (appendix C, table 1), with one more stride-2 stage
for each doubling of the side above 32 (conv_plan):
    D: conv 4x4 s2 w, lReLU -> conv 4x4 s2 2w, BN, lReLU -> FC fc, BN, lReLU -> FC 1
    Q: D's fc features -> FC 128, BN, lReLU -> FC (K + continuous)
    G: FC fc, BN, ReLU -> FC 2w (S/4)^2, BN, ReLU -> upconv 4x4 s2 w, BN, ReLU -> upconv C, tanh
`mlp` does the same on flattened images (8x8 digits), with 4w hidden units.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganflow.models import stages
from ganflow.models.infogan.config import InfoGANConfig


def conv_plan(side: int, width: int) -> stages.StagePlan:
    """The paper's two stride-2 stages (w, 2w) at 28 and 32 pixels, and a stage more (up to
    4w channels) for each doubling above 32, so the fully connected layer stays small."""
    return stages.plan(side, width, 4 * width, "infogan's conv net", smallest=7)


def _init(m: nn.Module) -> None:
    """DCGAN's initialisation (weights N(0, 0.02), BN scales N(1, 0.02)), as the paper's code."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """(z (N, z_dim), c (N, code_dim)) -> x (N, C, S, S) in [-1, 1]."""

    def __init__(self, cfg: InfoGANConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape
        c, s, w = shape[0], shape[1], cfg.width
        n_in = cfg.z_dim + cfg.code_dim
        if cfg.network(s) == "mlp":
            h = 4 * w
            self.net = nn.Sequential(
                nn.Linear(n_in, h),
                nn.BatchNorm1d(h),
                nn.ReLU(),
                nn.Linear(h, h),
                nn.BatchNorm1d(h),
                nn.ReLU(),
                nn.Linear(h, math.prod(shape)),
                nn.Tanh(),
            )
        else:
            p = conv_plan(s, w)
            q, top = p.first, p.widths[-1] * p.first**2
            self.net = nn.Sequential(
                nn.Linear(n_in, cfg.fc),
                nn.BatchNorm1d(cfg.fc),
                nn.ReLU(),
                nn.Linear(cfg.fc, top),
                nn.BatchNorm1d(top),
                nn.ReLU(),
                nn.Unflatten(1, (p.widths[-1], q, q)),  # (N, 2w, S/4, S/4) at 28 and 32
                *stages.up_convs(p),
                nn.ConvTranspose2d(p.widths[0], c, 4, 2, 1),
                nn.Tanh(),
            )
        self.apply(_init)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, c], 1)).view(z.shape[0], *self.shape)


class Discriminator(nn.Module):
    """x (N, C, S, S) -> (logits (N,), features (N, F)): Q reads the features."""

    def __init__(self, cfg: InfoGANConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        c, s, w = shape[0], shape[1], cfg.width
        if cfg.network(s) == "mlp":
            h = 4 * w
            self.body = nn.Sequential(
                nn.Flatten(),
                nn.Linear(math.prod(shape), h),
                nn.LeakyReLU(0.1),
                nn.Linear(h, h),
                nn.BatchNorm1d(h),
                nn.LeakyReLU(0.1),
            )
            self.features = h
        else:
            p = conv_plan(s, w)
            self.body = nn.Sequential(
                *stages.down_convs(p, c, 0.1),
                nn.Flatten(),
                nn.Linear(p.widths[-1] * p.first**2, cfg.fc),
                nn.BatchNorm1d(cfg.fc),
                nn.LeakyReLU(0.1),
            )
            self.features = cfg.fc
        self.head = nn.Linear(self.features, 1)
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return self.head(f).squeeze(1), f


class QHead(nn.Module):
    """D's features (N, F) -> (categorical logits (N, K) or None, continuous means (N, L));
    Q(c_j | x) for a continuous code is N(mean_j, 1), the paper's factored Gaussian with its
    standard deviation fixed."""

    def __init__(self, cfg: InfoGANConfig, features: int) -> None:
        super().__init__()
        self.k, self.l = cfg.categorical, cfg.continuous
        self.net = nn.Sequential(
            nn.Linear(features, 128),
            nn.BatchNorm1d(128),
            nn.LeakyReLU(0.1),
            nn.Linear(128, self.k + self.l),
        )
        self.apply(_init)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        out = self.net(f)
        return (out[:, : self.k] if self.k else None), out[:, self.k :]


class CodeReader(nn.Module):
    """Images in [0, 1] (N, C, S, S) -> (categorical logits (N, K), continuous means (N, L)):
    Q after D's body, the categorical code as a clustering of real images (the encoder
    interface of tasks/evaluate/clustering.encode)."""

    def __init__(self, D: Discriminator, Q: QHead) -> None:
        super().__init__()
        self.D, self.Q = D, Q

    def forward(self, x01: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        return self.Q(self.D(x01 * 2.0 - 1.0)[1])


def build_models(cfg: InfoGANConfig, shape: tuple[int, ...], seed: int) -> dict[str, nn.Module]:
    """{'G', 'D', 'Q'} for (C, S, S) images, initialised from `seed`."""
    cfg.validate()
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"InfoGAN takes square (C, S, S) images, got {tuple(shape)}")
    if cfg.network(shape[1]) == "conv" and shape[1] % 4:
        raise ValueError(f"arch conv needs an image side divisible by 4, got {shape[1]}")
    shape = (int(shape[0]), int(shape[1]), int(shape[2]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = Generator(cfg, shape), Discriminator(cfg, shape)
        Q = QHead(cfg, D.features)
    return {"G": G, "D": D, "Q": Q}
