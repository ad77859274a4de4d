"""What DCGAN's section 6 looks at in a trained generator (Radford et al. 2016): walks between
latent points (linear and spherical), for a class-conditional G the class held while the noise
walks and the noise held while the class changes, vector arithmetic on averaged points of
groups the user names, and the memorisation check: each sample beside its nearest training
images, in pixels and in the domain classifier's features.

Pure functions on a models.gan.latent.LatentSpace and tensors; the flow (flows/explore.py)
draws and writes the pictures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from ganflow.models.config import ConfigError
from ganflow.models.gan.latent import LatentSpace, walk


@dataclass
class Bank:
    """The numbered samples everything else refers to: points w (N, D), labels (N,) or None
    (a conditional run's cycle through its classes), images (N, C, H, W) in [-1, 1]."""

    w: torch.Tensor
    labels: torch.Tensor | None
    images: torch.Tensor


def draw_bank(space: LatentSpace, n: int, num_classes: int, seed: int) -> Bank:
    """n points from N(0, I) (and classes 0, 1, ..., K-1, 0, ... when conditional)."""
    z = torch.randn(n, space.z_dim, generator=torch.Generator().manual_seed(seed))
    labels = torch.arange(n) % num_classes if space.conditional else None
    w = space.points(z, labels)
    return Bank(w, labels, space.decode(w))


def interpolation_rows(
    space: LatentSpace, bank: Bank, pairs: list[tuple[int, int]], steps: int, mode: str
) -> list[torch.Tensor]:
    """One row of `steps` images per (i, j) pair of bank samples, from sample i to sample j."""
    return [space.decode(walk(bank.w[i], bank.w[j], steps, mode, space.z_dim)) for i, j in pairs]


def class_held_rows(
    space: LatentSpace, num_classes: int, steps: int, seed: int
) -> list[torch.Tensor]:
    """Per class: its embedding held, z walked along the great circle between two draws."""
    g = torch.Generator().manual_seed(seed + 1)
    rows = []
    for c in range(num_classes):
        a, b = space.points(torch.randn(2, space.z_dim, generator=g), torch.tensor([c, c]))
        rows.append(space.decode(walk(a, b, steps, "spherical", space.z_dim)))
    return rows


def noise_held_rows(space: LatentSpace, num_classes: int, rows: int, seed: int) -> torch.Tensor:
    """(rows, K, C, H, W): one z per row, the same z under each of the K classes."""
    z = torch.randn(rows, space.z_dim, generator=torch.Generator().manual_seed(seed + 2))
    zz = z.repeat_interleave(num_classes, 0)
    labels = torch.arange(num_classes).repeat(rows)
    out = space.decode(space.points(zz, labels))
    return out.view(rows, num_classes, *out.shape[1:])


@dataclass
class Term:
    sign: int  # +1 or -1
    text: str  # as the user wrote it
    indices: list[int]  # bank samples averaged


def parse_arithmetic(expr: str, bank: Bank, class_names: list[str]) -> list[Term]:
    """'3 7 9 - 4 5 + 11' or, for a conditional run, 'Sneaker - Sandal + Ankle boot': groups
    joined by ' + ' and ' - ' (spaces around the operator). A group is bank sample numbers,
    space-separated, or a class name (every bank sample of that class)."""
    parts = re.split(r"\s+([+-])\s+", expr.strip())
    if not parts[0]:
        raise ConfigError(f"arithmetic {expr!r}: nothing before the first operator")
    terms, sign = [], 1
    for k, part in enumerate(parts):
        if k % 2:
            sign = 1 if part == "+" else -1
            continue
        terms.append(Term(sign, part, _group(part, expr, bank, class_names)))
    if len(terms) < 2:
        raise ConfigError(
            f"arithmetic {expr!r} has one group: join groups with ' + ' and ' - ' "
            "(spaces around the operator), e.g. '3 7 - 4 + 11'"
        )
    return terms


def _group(text: str, expr: str, bank: Bank, class_names: list[str]) -> list[int]:
    n = len(bank.w)
    if re.fullmatch(r"\d+(\s+\d+)*", text):
        idx = [int(t) for t in text.split()]
        bad = [i for i in idx if i >= n]
        if bad:
            raise ConfigError(
                f"arithmetic {expr!r}: sample {bad[0]} is not in the bank (0 to {n - 1})"
            )
        return idx
    if bank.labels is None:
        raise ConfigError(
            f"arithmetic {expr!r}: {text!r} is not a list of sample numbers (an unconditional "
            "run's groups are sample numbers, e.g. '3 7 9')"
        )
    if text not in class_names:
        raise ConfigError(
            f"arithmetic {expr!r}: {text!r} is neither sample numbers nor a class "
            f"({', '.join(class_names)})"
        )
    return torch.nonzero(bank.labels == class_names.index(text)).flatten().tolist()


def arithmetic(
    space: LatentSpace,
    bank: Bank,
    terms: list[Term],
    variants: int,
    seed: int,
    jitter: float = 0.25,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(each group's mean image (T, C, H, W), the result's images (variants, C, H, W)): the
    result is sum_t sign_t mean(w of group t); its first image is that point itself, the
    others add uniform noise of +-jitter to z (the paper's figure 7 uses +-0.25)."""
    means = torch.stack([bank.w[t.indices].mean(0) for t in terms])  # (T, D)
    signs = torch.tensor([float(t.sign) for t in terms])[:, None]
    result = (signs * means).sum(0)
    g = torch.Generator().manual_seed(seed + 3)
    noise = (torch.rand(variants, space.z_dim, generator=g) * 2 - 1) * jitter
    noise[0] = 0.0
    w = result.repeat(variants, 1)
    w[:, : space.z_dim] += noise
    return space.decode(means), space.decode(w)


def nearest(
    queries: torch.Tensor, bank: torch.Tensor, k: int, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances (Q, k), indices (Q, k)) of each query's k nearest rows of `bank` in
    Euclidean distance, nearest first; queries (Q, F), bank (N, F), in float64."""
    q = queries.flatten(1).double()
    best_d = torch.full((len(q), 0), float("inf"), dtype=torch.float64)
    best_i = torch.zeros((len(q), 0), dtype=torch.long)
    for s in range(0, len(bank), chunk):
        d = torch.cdist(q, bank[s : s + chunk].flatten(1).double())
        dd = torch.cat([best_d, d], 1)
        ii = torch.cat([best_i, torch.arange(s, s + d.shape[1]).expand(len(q), -1)], 1)
        top = dd.topk(min(k, dd.shape[1]), dim=1, largest=False)
        best_d, best_i = top.values, ii.gather(1, top.indices)
    return best_d, best_i
