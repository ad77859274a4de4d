"""Sample-quality metrics as pure functions of features or class probabilities, in float64.

    features -> FeatureStats (streaming mean, covariance) -> frechet_distance   FID
    features -> kernel_inception_distance                                       KID
    softmax  -> inception_score                                                 IS
    features -> precision_recall (k=3), density_coverage (k=5)                  PRDC

Each result has a key constant, so reports, JSON and tests name it the same way.
References: FID, Heusel et al. 2017; KID, Binkowski et al. 2018; IS, Salimans et al. 2016;
improved precision/recall, Kynkaanniemi et al. 2019; density/coverage, Naeem et al. 2020.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganflow.tasks.io import digest, write_with

FID = "fid"
KID_MEAN = "kid_mean"
KID_STD = "kid_std"
IS_MEAN = "is_mean"
IS_STD = "is_std"
PRECISION = "precision"
RECALL = "recall"
DENSITY = "density"
COVERAGE = "coverage"
# the share of conditional samples the domain classifier reads as the class they were drawn for
CLASS_CONSISTENCY = "class_consistency"
SAMPLE_METRICS = (FID, KID_MEAN, KID_STD, IS_MEAN, IS_STD, PRECISION, RECALL, DENSITY, COVERAGE)


def _f64(a: np.ndarray | torch.Tensor) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return a.astype(np.float64, copy=False)


class FeatureStats:
    """Running mean and covariance of (N, D) feature batches in float64.

    Batches are merged with the pairwise update of Chan et al. (1979), which keeps the
    scatter matrix centred, so the result equals np.cov on the concatenation (to rounding)
    whatever the batch sizes, without holding all features in memory."""

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.mean = np.zeros(dim)
        self.scatter = np.zeros((dim, dim))  # sum of (x - mean)(x - mean)^T

    def update(self, feats: np.ndarray | torch.Tensor) -> FeatureStats:
        x = _f64(feats)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise ValueError(f"expected features shaped (N, {len(self.mean)}), got {x.shape}")
        nb = len(x)
        if nb == 0:
            return self
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        delta = mean_b - self.mean
        n = self.n + nb
        self.scatter += xc.T @ xc + np.outer(delta, delta) * (self.n * nb / n)
        self.mean += delta * (nb / n)
        self.n = n
        return self

    @property
    def cov(self) -> np.ndarray:
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got {self.n}")
        return self.scatter / (self.n - 1)

    @classmethod
    def of(cls, feats: np.ndarray | torch.Tensor) -> FeatureStats:
        x = _f64(feats)
        return cls(x.shape[1]).update(x)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

    The symmetric eigen route: with S1 = V diag(w) V^T, the product S1 S2 is similar to the
    symmetric PSD matrix D^(1/2) (V^T S2 V) D^(1/2), D = diag(w) (which is S1^(1/2) S2 S1^(1/2)
    in V's basis), so tr((S1 S2)^(1/2)) is the sum of the square roots of its eigenvalues.
    Two symmetric eigensolves instead of scipy.linalg.sqrtm's complex Schur route: faster,
    real-valued, and no imaginary residue to throw away. Eigenvalues that rounding pushes
    below zero are clipped."""
    mu1, mu2, sigma1, sigma2 = map(_f64, (mu1, mu2, sigma1, sigma2))
    if sigma1.shape != sigma2.shape or mu1.shape != mu2.shape:
        raise ValueError(f"feature sizes differ: {sigma1.shape} vs {sigma2.shape}")
    w, v = np.linalg.eigh(sigma1)
    root_w = np.sqrt(np.clip(w, 0.0, None))
    m = root_w[:, None] * (v.T @ sigma2 @ v) * root_w[None, :]
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    fid = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean
    return float(max(fid, 0.0))  # a rounding residue below 0 for identical statistics


def fid_from_stats(a: FeatureStats, b: FeatureStats) -> float:
    return frechet_distance(a.mean, a.cov, b.mean, b.cov)


def fid_from_features(f1: np.ndarray | torch.Tensor, f2: np.ndarray | torch.Tensor) -> float:
    return fid_from_stats(FeatureStats.of(f1), FeatureStats.of(f2))


def polynomial_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> float:
    """Unbiased MMD^2 with the kernel k(a, b) = (a.b / d + coef)^degree (the diagonals of the
    within-set kernel matrices are left out)."""
    d = x.shape[1]

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        g = a @ b.T / d + coef
        return g * g * g if degree == 3 else g**degree  # numpy's power has no fast path for 3

    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def kernel_inception_distance(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: mean and std of the unbiased polynomial-kernel MMD^2 over `subsets` seeded random
    subsets of min(subset_size, N_real, N_fake) samples from each set, drawn without
    replacement (as in Binkowski et al. 2018 and torch-fidelity)."""
    x, y = _f64(real), _f64(fake)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    vals = [
        polynomial_mmd2(
            x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(vals)), float(np.std(vals))


def inception_score(
    probs: np.ndarray | torch.Tensor, splits: int = 10, seed: int = 0
) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), over `splits` parts of a seeded shuffle; mean and
    std over the parts (Salimans et al. 2016). probs: (N, K) class probabilities."""
    p = _f64(probs)
    if p.ndim != 2 or len(p) < splits:
        raise ValueError(f"expected (N >= {splits}, K) probabilities, got {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("inception_score takes probabilities (rows >= 0 summing to 1), not logits")
    p = p[np.random.default_rng(seed).permutation(len(p))]
    from scipy.special import xlogy  # scipy's import costs a second: only when used

    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, py)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


# --- k-nearest-neighbour manifolds (precision/recall, density/coverage) -----------------


BLOCK_NUMBERS = 2**25  # distances held at once: 256 MB in float64


def _blocks(n_rows: int, n_cols: int):
    """Row ranges such that a block of distances holds at most BLOCK_NUMBERS numbers."""
    step = max(1, BLOCK_NUMBERS // max(1, n_cols))
    return [(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(_f64(a)))


def nn_radii(x: np.ndarray | torch.Tensor, k: int) -> np.ndarray:
    """(N,) distance from each point to its k-th nearest neighbour in x, itself excluded."""
    return knn_radii(x, (k,))[k]


_RADII: dict[tuple[str, tuple[int, ...]], dict[int, np.ndarray]] = {}


def knn_radii(
    x: np.ndarray | torch.Tensor, ks: tuple[int, ...], cache_dir: Path | None = None
) -> dict[int, np.ndarray]:
    """{k: (N,) distance from each point to its k-th nearest neighbour, itself excluded},
    for every k in one pass over the distances. The last few results are kept by content
    hash (and in cache_dir when given): the real set's radii serve the samples and the
    floor alike."""
    xt = _t(x)
    key = (digest(xt), tuple(ks))
    if key in _RADII:
        return _RADII[key]
    path = Path(cache_dir) / f"{key[0]}-{'-'.join(map(str, ks))}.npz" if cache_dir else None
    if path is not None and path.exists():
        try:
            with np.load(path) as z:
                _RADII[key] = {k: z[f"k{k}"] for k in ks}
            return _RADII[key]
        except (OSError, ValueError, KeyError):  # unreadable: compute it again
            pass
    top = max(ks)
    if len(xt) <= top:
        raise ValueError(f"k={top} nearest neighbours need more than {top} points, got {len(xt)}")
    out = {k: np.empty(len(xt)) for k in ks}
    for i, j in _blocks(len(xt), len(xt)):
        d = torch.cdist(xt[i:j], xt)  # (B, N)
        near = d.topk(top + 1, dim=1, largest=False).values  # the 1st is the point itself
        for k in ks:
            out[k][i:j] = near[:, k].numpy()
    if len(_RADII) >= 4:
        _RADII.pop(next(iter(_RADII)))
    _RADII[key] = out
    if path is not None:
        write_with(path, lambda tmp: np.savez(tmp, **{f"k{k}": v for k, v in out.items()}))
    return out


def manifold_metrics(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    k_pr: int = 3,
    k_dc: int = 5,
    cache_dir: Path | None = None,
) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019, k-NN balls of k_pr) and
    density and coverage (Naeem et al. 2020, k_dc), from one pass over the fake-to-real
    distances, in float64:
      precision  share of fakes inside at least one real ball
      recall     share of reals inside at least one fake ball
      density    mean number of real balls holding each fake, over k_dc (1 in expectation
                 for identical distributions)
      coverage   share of real balls holding at least one fake
    cache_dir: where the real set's radii are kept by content hash (None: in memory only)."""
    r, f = _t(real), _t(fake)
    real_radii = knn_radii(r.numpy(), tuple(sorted({k_pr, k_dc})), cache_dir)  # one pass for both
    r_pr, r_dc = torch.from_numpy(real_radii[k_pr]), torch.from_numpy(real_radii[k_dc])
    f_pr = torch.from_numpy(knn_radii(f.numpy(), (k_pr,))[k_pr])
    in_real, ball_sum = 0, 0
    recalled = torch.zeros(len(r), dtype=torch.bool)
    nearest = torch.full((len(r),), float("inf"), dtype=torch.float64)
    for i, j in _blocks(len(f), len(r)):
        d = torch.cdist(f[i:j], r)  # (B, N_real)
        in_real += int((d <= r_pr[None, :]).any(dim=1).sum())
        ball_sum += int((d <= r_dc[None, :]).sum())
        recalled |= (d <= f_pr[i:j, None]).any(dim=0)
        nearest = torch.minimum(nearest, d.min(dim=0).values)
    return {
        PRECISION: in_real / len(f),
        RECALL: float(recalled.double().mean()),
        DENSITY: ball_sum / (k_dc * len(f)),
        COVERAGE: float((nearest <= r_dc).double().mean()),
    }


def precision_recall(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 3
) -> dict[str, float]:
    """Improved precision and recall with k-NN balls of k (see manifold_metrics)."""
    m = manifold_metrics(real, fake, k, k)
    return {PRECISION: m[PRECISION], RECALL: m[RECALL]}


def density_coverage(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 5
) -> dict[str, float]:
    """Density and coverage with k-NN balls of k (see manifold_metrics)."""
    m = manifold_metrics(real, fake, k, k)
    return {DENSITY: m[DENSITY], COVERAGE: m[COVERAGE]}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value), as papers report
    errors over label splits."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0
