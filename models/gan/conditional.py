"""Class-conditional GAN networks: the unconditional G and D of gan_nets.py with the class
label fed in (Mirza & Osindero 2014), read out by one of three discriminator conditionings.

G always takes the label as a learned embedding concatenated to z: G(z, y) = G0([z, e(y)]).
D's conditioning (GANConfig.condition):
  concat      Mirza & Osindero 2014: the label embedding joins D's input (extra constant
              channels for images, extra features for vectors).
  projection  Miyato & Koyama 2018, eq. 3: logit(x, y) = psi(phi(x)) + <e_D(y), phi(x)>, where
              phi(x) is D's last feature vector. The default: the most stable of the three.
  acgan       Odena et al. 2017: D has an auxiliary K-way classifier head on phi(x); its
              cross-entropy on real (true label) and fake (conditioned label) samples joins
              both players' losses. D's real/fake logit does not see y.

Every conditional D takes (x, y) and returns (logits (N,), features (N, F), class_logits
(N, K) for acgan else None).
"""

from __future__ import annotations

import torch
from torch import nn

from ganflow.models.gan.config import CONDITIONS


class ConditionalGenerator(nn.Module):
    """(z (N, z_dim), y (N,)) -> x: the base generator, built for z_dim + embed_dim inputs."""

    def __init__(self, base: nn.Module, num_classes: int, embed_dim: int) -> None:
        super().__init__()
        self.base, self.num_classes = base, num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.from_embedding(z, self.embed(y))

    def from_embedding(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """x from z and a class embedding e (N, embed_dim), which need not be any class's own
        (a walk between two classes, latent arithmetic)."""
        return self.base(torch.cat([z, e], dim=1))


class ConditionalDiscriminator(nn.Module):
    """(x, y) -> (logits (N,), features (N, F), class_logits (N, K) or None).

    base: the unconditional D (for `concat`, built with embed_dim extra input channels or
    features); n_features: F, the width of base's feature vector."""

    def __init__(
        self, base: nn.Module, condition: str, num_classes: int, embed_dim: int, n_features: int
    ) -> None:
        super().__init__()
        if condition not in CONDITIONS[1:]:
            raise ValueError(f"condition must be one of {CONDITIONS[1:]}, got {condition!r}")
        self.base, self.condition, self.num_classes = base, condition, num_classes
        if condition == "concat":
            self.embed = nn.Embedding(num_classes, embed_dim)
        elif condition == "projection":
            self.embed = nn.Embedding(num_classes, n_features)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
        else:
            self.classify = nn.Linear(n_features, num_classes)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if self.condition == "concat":
            e = self.embed(y)  # (N, E)
            if x.dim() == 4:  # images: E constant maps beside the C image channels
                e = e[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            logits, f = self.base(torch.cat([x, e], dim=1))
            return logits, f, None
        logits, f = self.base(x)
        if self.condition == "projection":
            return logits + (self.embed(y) * f).sum(1), f, None
        return logits, f, self.classify(f)


def feature_width(D: nn.Module) -> int:
    """F of an unconditional gan_nets discriminator: the input width of its read-out head."""
    head = D.head
    return head.mbd.in_features if head.mbd is not None else head.out.in_features
