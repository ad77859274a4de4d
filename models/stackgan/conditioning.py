"""Conditioning augmentation (Zhang et al. 2017, StackGAN, section 3.1): instead of the
fixed text embedding phi_t, the generator is conditioned on c ~ N(mu(phi_t), Sigma(phi_t))
with a diagonal Sigma, sampled by reparameterisation, c = mu + sigma * eps, and the
regulariser KL(N(mu, Sigma) || N(0, I)) keeps the conditioning manifold smooth (weight
lambda = 1 in the paper, eq. 3 and 5)."""

from __future__ import annotations

import torch
from torch import nn


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) = 1/2 sum(mu^2 + exp(logvar) - 1 - logvar),
    summed over the dimensions, averaged over the batch. (N, D), (N, D) -> ()"""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()


class ConditioningAugmentation(nn.Module):
    """phi_t (N, E) -> (c (N, D), mu, logvar): one fully connected layer gives mu and log
    sigma^2 (with a GLU, as the released code), then c = mu + exp(logvar / 2) * eps."""

    def __init__(self, embed_dim: int, cond_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(embed_dim, 4 * cond_dim)
        self.cond_dim = cond_dim
        # the text encoders give unit-length embeddings: scaled so that each component is
        # of order 1, as the layer's initialisation expects
        self.scale = embed_dim**0.5

    def forward(
        self, phi: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = nn.functional.glu(self.fc(phi * self.scale), dim=1)  # (N, 2D)
        mu, logvar = h[:, : self.cond_dim], h[:, self.cond_dim :]
        if not self.training:
            return mu, mu, logvar
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps, mu, logvar
