"""GAN objectives as small pure functions: logits or features in, scalar out.

The K+1-class semi-supervised objective follows Salimans et al. 2016, section 5: the
discriminator outputs K class logits l_1..l_K and the logit of the "fake" class K+1 is fixed
at 0. Then, with Z(x) = sum_k exp(l_k(x)),
    D(x) = p(real | x) = Z / (Z + 1) = sigmoid(logsumexp(l(x))),
so every real/fake loss is a binary cross-entropy on s(x) = logsumexp(l(x)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def real_logit(class_logits: torch.Tensor) -> torch.Tensor:
    """s(x) = logsumexp_k l_k(x), the logit of 'real' when the fake logit is fixed at 0.
    (N, K) -> (N,)"""
    return torch.logsumexp(class_logits, dim=1)


def binary_ce_with_logits(logit: torch.Tensor, target: float) -> torch.Tensor:
    """Mean of -[t log sigmoid(s) + (1 - t) log(1 - sigmoid(s))]
    = t * softplus(-s) + (1 - t) * softplus(s), stable for any s."""
    return (target * F.softplus(-logit) + (1.0 - target) * F.softplus(logit)).mean()


def supervised_loss(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_supervised = -E log p(y | x, y < K + 1): cross-entropy over the K class logits alone,
    since the fake logit cancels when we condition on x being real."""
    return F.cross_entropy(class_logits, labels)


def unsupervised_loss(
    logits_real: torch.Tensor, logits_fake: torch.Tensor, real_target: float = 1.0
) -> torch.Tensor:
    """L_unsupervised = -E_x log D(x) - E_z log(1 - D(G(z))), as a mean of the two halves
    (the released code weighs each by 0.5).

    real_target < 1 is one-sided label smoothing (section 3.4): real examples get target
    1 - alpha, fakes keep target 0 (smoothing the fakes too would reward the generator for
    staying where it is).
    """
    loss_real = binary_ce_with_logits(real_logit(logits_real), real_target)
    loss_fake = binary_ce_with_logits(real_logit(logits_fake), 0.0)
    return 0.5 * (loss_real + loss_fake)


def feature_matching_loss(features_real: torch.Tensor, features_fake: torch.Tensor) -> torch.Tensor:
    """Feature matching (section 3.1): || E_x f(x) - E_z f(G(z)) ||^2, averaged over the
    feature dimension as in the released code. The real statistics are a target, not a path
    for gradients. (N, F), (M, F) -> ()"""
    m_real = features_real.detach().mean(dim=0)
    m_fake = features_fake.mean(dim=0)
    return (m_real - m_fake).pow(2).mean()


def generator_nonsaturating_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """-E_z log D(G(z)) (Goodfellow et al. 2014's non-saturating generator loss), with the
    K+1 parameterisation of D. Used when feature matching is off."""
    return binary_ce_with_logits(real_logit(logits_fake), 1.0)
