"""The latent space of a trained GAN, for walks and arithmetic (Radford et al. 2016, section
6): a point is w = [z, e], the noise z (z_dim) and, for a class-conditional G, the class
embedding e that G reads beside it (ConditionalGenerator.embed, BigGAN's shared embedding);
an unconditional G's points are z alone. Walking e between two classes' embeddings morphs
one class into the other; averaging points is the paper's vector arithmetic.

Interpolations move z linearly or along the great circle (slerp: White 2016, "Sampling
generative networks"; a Gaussian z's norm concentrates near sqrt(z_dim), which the straight
line leaves), and e always linearly; their end points are the two points exactly.
"""

from __future__ import annotations

import torch
from torch import nn

MODES = ("linear", "spherical")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(T, D): (1 - t) a + t b for each t (T,), a and b (D,); t = 0 and 1 give a and b exactly."""
    t = t[:, None].to(a.dtype)
    out = (1 - t) * a + t * b
    return _exact_ends(out, a, b, t)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(T, D): the great-circle walk from a to b: direction sin((1 - t) W) / sin W u_a +
    sin(t W) / sin W u_b (W the angle between them), length (1 - t) |a| + t |b|. Two points of
    one norm keep it all the way; (anti)parallel points fall back to the straight line."""
    t = t[:, None].to(a.dtype)
    na, nb = a.norm(), b.norm()
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-6 or (torch.pi - omega).abs() < 1e-6:
        u = (1 - t) * ua + t * ub
        u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
    else:
        u = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    out = u * ((1 - t) * na + t * nb)
    return _exact_ends(out, a, b, t)


def _exact_ends(
    out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """The rows at t = 0 and t = 1 replaced by a and b themselves (no rounding)."""
    out = torch.where(t == 0, a.expand_as(out), out)
    return torch.where(t == 1, b.expand_as(out), out)


def walk(a: torch.Tensor, b: torch.Tensor, steps: int, mode: str, z_dim: int) -> torch.Tensor:
    """(steps, D): `steps` evenly spaced points from a to b (both included); the first z_dim
    entries (z) by `mode`, the rest (a class embedding) linearly."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if steps < 2:
        raise ValueError(f"a walk needs at least 2 steps, got {steps}")
    t = torch.linspace(0.0, 1.0, steps)
    move = slerp if mode == "spherical" else lerp
    z = move(a[:z_dim], b[:z_dim], t)
    return torch.cat([z, lerp(a[z_dim:], b[z_dim:], t)], dim=1)


def class_embedding(G: nn.Module) -> nn.Embedding | None:
    """The embedding a class-conditional G reads its label through; None when unconditional."""
    if not getattr(G, "num_classes", 0):
        return None
    return G.shared if hasattr(G, "shared") else G.embed


class LatentSpace:
    """Points w = [z, e] of a GAN generator and the images they make, in eval mode."""

    def __init__(self, G: nn.Module, z_dim: int, shape: tuple[int, ...]) -> None:
        self.G, self.z_dim, self.shape = G, z_dim, tuple(shape)
        self.embedding = class_embedding(G)
        self.device = next(G.parameters()).device

    @property
    def conditional(self) -> bool:
        return self.embedding is not None

    @torch.no_grad()
    def points(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, D) on the CPU: z (N, z_dim), joined by e(label) of each when conditional."""
        if not self.conditional:
            return z.float().cpu()
        if labels is None:
            raise ValueError("a class-conditional generator's points need a label each")
        e = self.embedding(labels.to(self.device)).float().cpu()
        return torch.cat([z.float().cpu(), e], dim=1)

    @torch.no_grad()
    def decode(self, w: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, *shape) images in [-1, 1] on the CPU for points w (N, D)."""
        was = self.G.training
        self.G.eval()
        out = []
        try:
            for i in range(0, len(w), batch_size):
                chunk = w[i : i + batch_size].to(self.device)
                z, e = chunk[:, : self.z_dim], chunk[:, self.z_dim :]
                x = self.G.from_embedding(z, e) if self.conditional else self.G(z)
                out.append(x.float().cpu().view(len(chunk), *self.shape))
        finally:
            self.G.train(was)
        return torch.cat(out)
