"""The adversarial autoencoder's priors and codes (Makhzani et al. 2015): the Gaussian or
2-D mixture prior of z, samples of the categorical prior of y, and the encoder's y."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ganflow.models.aae.config import AAEConfig


def mixture_means(components: int = 10, radius: float = 4.0) -> torch.Tensor:
    """Centres of the 2-D mixture prior: `components` points on a circle. (components, 2)"""
    angle = 2 * math.pi * torch.arange(components) / components
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)


def sample_prior(
    n: int,
    cfg: AAEConfig,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """z ~ p(z): N(0, std^2 I), or the mixture (component = label where given, else uniform;
    each component elongated along its tangent as in the paper's Fig. 4). (n, d)"""
    eps = torch.randn(n, cfg.z_dim, generator=generator)
    if cfg.prior == "gaussian":
        return (cfg.prior_std * eps).to(device)
    comp = labels.cpu() if labels is not None else torch.randint(0, 10, (n,), generator=generator)
    angle = 2 * math.pi * comp.float() / 10
    radial, tangent = (
        torch.stack([angle.cos(), angle.sin()], 1),
        torch.stack([-angle.sin(), angle.cos()], 1),
    )
    z = mixture_means()[comp] + cfg.prior_std * (
        0.5 * eps[:, :1] * tangent + 0.1 * eps[:, 1:] * radial
    )
    return z.to(device)


def sample_categorical(
    n: int,
    k: int,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    bound: float = 0.0,
) -> torch.Tensor:
    """Samples of Cat(K) with equal weights: one-hot, or with bound B > 0 the softmax of
    logits +B (the drawn class) and -B (the others), the most confident code the bounded
    encoder can emit. (n, K)"""
    onehot = F.one_hot(torch.randint(0, k, (n,), generator=generator), k).float()
    return (onehot if bound <= 0 else torch.softmax(bound * (2 * onehot - 1), dim=1)).to(device)


def y_probs(logits: torch.Tensor, bound: float) -> torch.Tensor:
    """The encoder's categorical code. A bound keeps the softmax out of saturation: with hard
    one-hot targets, the encoder saturates early on a few clusters and their gradients
    vanish (the collapse public ports report); bounded on both sides, D_y can tell codes apart
    only by which cluster they pick, which is what spreads images over the clusters."""
    return (bound * torch.tanh(logits / bound) if bound > 0 else logits).softmax(1)
