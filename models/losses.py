"""GAN objectives as small pure functions: logits or features in, scalar out.

The K+1-class semi-supervised objective follows Salimans et al. 2016, section 5: the
discriminator outputs K class logits l_1..l_K and the logit of the "fake" class K+1 is fixed
at 0. Then, with Z(x) = sum_k exp(l_k(x)),
    D(x) = p(real | x) = Z / (Z + 1) = sigmoid(logsumexp(l(x))),
so every real/fake loss is a binary cross-entropy on s(x) = logsumexp(l(x)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

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


def consistency_loss(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Consistency of the class posterior under a perturbation (Laine & Aila 2017's
    Pi-model; Zhao et al. 2020 for GAN discriminators): E_x sum_k (p_k(x) - q_k(x'))^2 with
    p, q the softmax over the K real classes of two views of the same image. The target view
    is a constant, not a path for gradients. (N, K), (N, K) -> ()"""
    p, q = logits.softmax(1), target_logits.detach().softmax(1)
    return (p - q).pow(2).sum(1).mean()


def entropy_loss(logits: torch.Tensor) -> torch.Tensor:
    """Conditional entropy of the class posterior, -E_x sum_k p_k log p_k over the K real
    classes (Grandvalet & Bengio 2005; Dai et al. 2017 add it to the K+1 GAN): minimising it
    pushes unlabelled images away from the class boundaries. (N, K) -> ()"""
    logp = logits.log_softmax(1)
    return -(logp.exp() * logp).sum(1).mean()


def graph_label_loss(
    logits: torch.Tensor, target: torch.Tensor, certainty: bool = True
) -> torch.Tensor:
    """Cross-entropy toward labels spread over a neighbour graph, as Iscen et al. 2019
    ("Label propagation for deep semi-supervised learning") train on them: each image's
    label is the argmax of its spread distribution q, weighted (certainty=True) by its
    certainty 1 - H(q) / log K, so that images the graph leaves undecided count little.
    logits (N, K), target q (N, K) rows summing to 1 -> ()"""
    ce = F.cross_entropy(logits, target.argmax(1), reduction="none")
    if not certainty:
        return ce.mean()
    k = target.shape[1]
    q = target.clamp_min(1e-12)
    weight = 1.0 - (-(q * q.log()).sum(1)) / math.log(k)
    return (weight.clamp(0.0, 1.0) * ce).mean()


def categorical_code_nll(logits: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """InfoGAN's categorical term (Chen et al. 2016, section 5): -E log Q(c | G(z, c)) for
    c ~ Cat(K), with Q's logits (N, K) and the drawn values (N,). -> ()"""
    return F.cross_entropy(logits, code)


def gaussian_code_nll(mean: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """InfoGAN's continuous term with Q(c_j | x) = N(mean_j, 1), a factored Gaussian of fixed
    standard deviation: -E sum_j log Q(c_j | x) = E sum_j [(c_j - mean_j)^2 / 2 + log(2 pi) / 2].
    (N, L), (N, L) -> ()"""
    return (0.5 * (code - mean).pow(2) + 0.5 * math.log(2 * math.pi)).sum(1).mean()


def information_lower_bound(
    nll_categorical: torch.Tensor | float, k: int, nll_continuous: torch.Tensor | float, n: int
) -> torch.Tensor | float:
    """L_I(G, Q) = E log Q(c | x) + H(c) <= I(c; G(z, c)) (Chen et al. 2016, eq. 4-5), in nats,
    for a uniform categorical code of k values (H = log k; k = 0: none) and n continuous codes
    U(-1, 1) (H = log 2 each). Both players maximise it: the losses are its -E log Q parts."""
    entropy = (math.log(k) if k else 0.0) + n * math.log(2.0)
    return entropy - nll_categorical - nll_continuous


# --- The unconditional GAN loss zoo ------------------------------------------------------
# Every discriminator loss takes D's raw outputs on a real and a fake batch, (N,) and (M,),
# and returns the scalar D minimises; every generator loss takes D's outputs on a fake batch.
# `real_target` < 1 is one-sided label smoothing where the loss has targets (BCE and LS).


def d_minimax(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Goodfellow et al. 2014, eq. 1: D maximises E log D(x) + E log(1 - D(G(z))), i.e.
    minimises BCE(s_real, 1) + BCE(s_fake, 0) with D = sigmoid(s)."""
    return binary_ce_with_logits(real, real_target) + binary_ce_with_logits(fake, 0.0)


def g_minimax(fake: torch.Tensor) -> torch.Tensor:
    """The saturating generator loss of the minimax game: G minimises E log(1 - D(G(z)))
    = -E softplus(s_fake). Its gradient vanishes when D rejects the fakes confidently."""
    return -F.softplus(fake).mean()


def g_nonsaturating(fake: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. 2014, section 3: G maximises E log D(G(z)) instead,
    i.e. minimises E softplus(-s_fake)."""
    return binary_ce_with_logits(fake, 1.0)


def d_least_squares(
    real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0
) -> torch.Tensor:
    """LSGAN (Mao et al. 2017, eq. 2 with a=0, b=1): 1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2."""
    return 0.5 * (real - real_target).pow(2).mean() + 0.5 * fake.pow(2).mean()


def g_least_squares(fake: torch.Tensor) -> torch.Tensor:
    """LSGAN generator (c = 1): 1/2 E (D(G(z)) - 1)^2."""
    return 0.5 * (fake - 1.0).pow(2).mean()


def d_wasserstein(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """WGAN critic (Arjovsky et al. 2017, algorithm 1): maximise E f(x) - E f(G(z)), i.e.
    minimise E f(G(z)) - E f(x). Needs a Lipschitz constraint: clipping or a gradient penalty."""
    return fake.mean() - real.mean()


def g_wasserstein(fake: torch.Tensor) -> torch.Tensor:
    """WGAN generator: minimise -E f(G(z)); also the hinge generator loss."""
    return -fake.mean()


def d_hinge(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018, eq. 16):
    E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def d_energy(real: torch.Tensor, fake: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """EBGAN (Zhao et al. 2016, eq. 1): D(x) + [m - D(G(z))]^+ on the energies D gives
    (low: real); fakes whose energy is already above the margin m cost D nothing."""
    return real.mean() + F.relu(margin - fake).mean()


def g_energy(fake: torch.Tensor) -> torch.Tensor:
    """EBGAN (Zhao et al. 2016, eq. 2): G minimises the energy of its samples, D(G(z))."""
    return fake.mean()


def pulling_away(codes: torch.Tensor) -> torch.Tensor:
    """EBGAN's pulling-away term (Zhao et al. 2016, eq. 4) on the encoder's codes S (N, F)
    of a batch: 1 / (N (N - 1)) sum_i sum_{j != i} (S_i^T S_j / (||S_i|| ||S_j||))^2, the mean
    squared cosine similarity of distinct pairs. 0 for orthogonal codes, 1 for identical
    (or opposite) ones; G adds it to spread its batch over the code space."""
    n = codes.shape[0]
    if n < 2:
        return codes.new_zeros(())
    s = F.normalize(codes.flatten(1), dim=1)
    cos2 = (s @ s.T).pow(2)  # (N, N)
    return (cos2.sum() - cos2.diagonal().sum()) / (n * (n - 1))


def interpolate(real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_hat = eps x + (1 - eps) x_fake with one eps per example: (N, ...), (N, ...), (N,)."""
    e = eps.view(-1, *([1] * (real.dim() - 1))).to(real.dtype)
    return e * real + (1.0 - e) * fake


def input_gradient(out: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(N, features) grad_x of D's outputs `out` on `points` (which required grad in that
    forward pass), with a graph through the gradient so that D can be trained on a penalty of
    it (double back-propagation)."""
    (grad,) = torch.autograd.grad(out.sum(), points, create_graph=True)
    return grad.flatten(1)


def gradient_norm_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, target: float = 1.0
) -> torch.Tensor:
    """E (||grad_x D(x)||_2 - target)^2 at the given points (WGAN-GP, DRAGAN)."""
    points = points.detach().requires_grad_(True)
    return (input_gradient(critic(points), points).norm(2, dim=1) - target).pow(2).mean()


def input_gradient_sq_norm(out: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """E ||grad_x D(x)||_2^2 from D's outputs `out` on `points`: R1 (Mescheder et al. 2018)
    without a second forward pass. The same value as gradient_norm_penalty(D, points, 0)."""
    return input_gradient(out, points).pow(2).sum(1).mean()


def wgan_gp_points(
    real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017, algorithm 1): points uniformly on the lines between
    real and fake pairs."""
    eps = torch.rand(real.shape[0], generator=generator, device=real.device)
    return interpolate(real, fake.detach(), eps)


def dragan_points(
    real: torch.Tensor, generator: torch.Generator | None = None, scale: float = 0.5
) -> torch.Tensor:
    """DRAGAN (Kodali et al. 2017, section 4): points near the data, x + alpha * delta with
    delta ~ U[0, 1) * scale * std(x) and alpha ~ U[0, 1) per example, as in the authors' code."""
    delta = torch.rand(real.shape, generator=generator, device=real.device) * scale * real.std()
    alpha = torch.rand(real.shape[0], generator=generator, device=real.device)
    return interpolate(real + delta, real, alpha)


@dataclass(frozen=True)
class AdversarialLoss:
    """One named entry of the zoo: D's and G's losses, the penalty D adds (None, 'gp' for
    WGAN-GP's interpolates, 'dragan' for DRAGAN's perturbed reals) and weight clipping."""

    d: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]
    penalty: str | None = None
    clip: bool = False
    smoothable: bool = True  # has real targets, so one-sided label smoothing means something
    # D is an autoencoder giving energies (low: real), and d's third argument is the margin
    energy: bool = False


LOSSES: dict[str, AdversarialLoss] = {
    "minimax": AdversarialLoss(d_minimax, g_minimax),
    "nonsaturating": AdversarialLoss(d_minimax, g_nonsaturating),
    "lsgan": AdversarialLoss(d_least_squares, g_least_squares),
    "wgan": AdversarialLoss(d_wasserstein, g_wasserstein, clip=True, smoothable=False),
    "wgan-gp": AdversarialLoss(d_wasserstein, g_wasserstein, penalty="gp", smoothable=False),
    "dragan": AdversarialLoss(d_minimax, g_nonsaturating, penalty="dragan"),
    "hinge": AdversarialLoss(d_hinge, g_wasserstein, smoothable=False),
    "ebgan": AdversarialLoss(d_energy, g_energy, smoothable=False, energy=True),
}


def flip_labels(
    real: torch.Tensor, fake: torch.Tensor, flip: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Label flipping: where flip[i] is True, D's output on real example i is scored as fake
    and its output on fake example i as real. (N,), (N,), (N,) bool."""
    return torch.where(flip, fake, real), torch.where(flip, real, fake)
