"""Caches beside a data bundle for training on its neighbour graph: the fitted scattering
front end and its features, each image's nearest neighbours, and a spectral partition of
the graph (the adversarial autoencoder's clustering phases use them; any family may)."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganflow.tasks.io import save_torch
from ganflow.tasks.progress import Progress, announced


@torch.no_grad()
def nearest_neighbours(
    f: torch.Tensor, k: int, block: int = 2048, among: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, k) indices of each row's k nearest other rows of f (N, D), by Euclidean distance;
    given `among` (M, D), of its k nearest rows of `among` instead (f's rows are then new
    points, not among them). Blockwise, so memory stays at block x N distances (about 0.5 GB
    for 60,000 rows)."""
    base = f if among is None else among
    n = len(base)
    if n <= k:
        raise ValueError(f"neighbour consistency needs more than k={k} training images, got {n}")
    f, base = f.float(), base.float()
    sq = (base * base).sum(1)
    out = torch.empty(len(f), k, dtype=torch.long)
    for i in range(0, len(f), block):
        d = (f[i : i + block] ** 2).sum(1, keepdim=True) - 2 * f[i : i + block] @ base.T + sq[None]
        if among is None:
            rows = torch.arange(d.shape[0])
            d[rows, rows + i] = float("inf")  # an image is not its own neighbour
        out[i : i + block] = d.topk(k, dim=1, largest=False).indices
    return out


@torch.no_grad()
def neighbour_table(
    x: torch.Tensor, k: int, dims: int = 50, block: int = 2048, seed: int = 0
) -> torch.Tensor:
    """(N, k) indices of each image's k nearest other images, by Euclidean distance between
    their projections on the top `dims` principal components of the pixels. x: (N, ...) uint8."""
    n = len(x)
    flat = x.reshape(n, -1).float() / 255.0
    flat = flat - flat.mean(0)
    q = min(dims, *flat.shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, _, v = torch.pca_lowrank(flat, q=q, center=False, niter=4)
    return nearest_neighbours(flat @ v, k, block)


def spectral_partition(
    neighbours: torch.Tensor,
    clusters: int,
    seed: int = 0,
    eigenvectors: int | None = None,
    diffusion_steps: int = 10,
) -> torch.Tensor:
    """(N,) a partition of the images into `clusters` parts by spectral clustering of their
    symmetric k-nearest-neighbour graph: the top eigenvectors of D^-1/2 W D^-1/2 (default
    2 x clusters of them), each scaled by its eigenvalue to the power diffusion_steps (the
    diffusion map of Coifman and Lafon 2006: distances after t steps of a random walk on the
    graph), rows scaled to unit length (Ng, Jordan and Weiss 2001), then k-means.
    neighbours: (N, k) as from nearest_neighbours.

    The eigenproblem sees the whole graph at once, where stochastic training of a cluster head
    only ever sees pairs of neighbours, and the diffusion weights make the result insensitive
    to the number of eigenvectors (benchmarks/README.md has the measurements)."""
    from scipy.sparse.linalg import lobpcg
    from sklearn.cluster import KMeans

    nb = neighbours.cpu().numpy()
    n, k = nb.shape
    m = eigenvectors if eigenvectors is not None else min(2 * clusters, n - 1)
    if not 2 <= clusters <= m < n:
        raise ValueError(
            f"spectral partition: need 2 <= clusters <= eigenvectors < images, got {clusters}, {m} for {n}"
        )
    a = knn_graph(neighbours)
    if n <= 2000 or n < 5 * m:  # small graphs: dense and exact
        vals, vecs = np.linalg.eigh(a.toarray())
        vals, vecs = vals[-m:], vecs[:, -m:]
    else:  # a block method: a graph of several components repeats the eigenvalue 1, which
        # single-vector Lanczos (eigsh) does not resolve
        x0 = np.random.default_rng(seed).standard_normal((n, m))
        with warnings.catch_warnings():  # "exited at iteration ...": tolerance not reached
            warnings.simplefilter("ignore", UserWarning)
            vals, vecs = lobpcg(a, x0, largest=True, tol=1e-5, maxiter=500)
    emb = vecs * np.clip(vals, 0.0, 1.0) ** diffusion_steps
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    labels = KMeans(clusters, n_init=10, random_state=seed).fit_predict(emb)
    return torch.from_numpy(labels).long()


def knn_graph(neighbours: torch.Tensor, weights: torch.Tensor | None = None):
    """The symmetric k-nearest-neighbour graph's normalised affinity D^-1/2 W D^-1/2, as a
    scipy CSR matrix: W_ij = max(w_ij, w_ji), w_ij the weight of the edge from i to its
    neighbour j (1 without weights; 0 where j is not among i's neighbours).
    neighbours: (N, k) indices; weights: (N, k) non-negative, as from neighbour_weights."""
    import scipy.sparse as sp

    nb = neighbours.cpu().numpy()
    n, k = nb.shape
    v = np.ones(n * k) if weights is None else weights.detach().cpu().double().numpy().ravel()
    w = sp.csr_matrix((v, (np.repeat(np.arange(n), k), nb.ravel())), shape=(n, n))
    w = w.maximum(w.T)
    deg = np.asarray(w.sum(1)).ravel()
    inv_sqrt_deg = sp.diags(np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-300)), 0.0))
    return (inv_sqrt_deg @ w @ inv_sqrt_deg).tocsr()


@torch.no_grad()
def neighbour_weights(
    features: torch.Tensor,
    neighbours: torch.Tensor,
    gamma: float,
    among: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """(N, k) the affinity of each image to each of its neighbours: the cosine similarity of
    their features, clipped at 0, to the power gamma (Iscen et al. 2019 use 3: near
    neighbours count more than far ones); None for gamma 0, every edge weighing 1.
    features: (N, D); neighbours: (N, k) indices into `among` (M, D), by default features."""
    if gamma < 0:
        raise ValueError(f"gamma must not be negative, got {gamma}")
    if gamma == 0:
        return None
    f = nn.functional.normalize(features.float(), dim=1)
    g = f if among is None else nn.functional.normalize(among.float(), dim=1)
    cos = torch.cat(  # in blocks: (block, k, D) gathered features at a time
        [
            torch.einsum("nd,nkd->nk", f[i : i + 4096], g[neighbours[i : i + 4096]])
            for i in range(0, len(f), 4096)
        ]
    )
    return cos.clamp(min=0.0) ** gamma


def induced_labels(
    labels: torch.Tensor, neighbours: torch.Tensor, weights: torch.Tensor | None
) -> torch.Tensor:
    """(M, K) class distributions of new points from the spread labels (N, K) of the graph's
    images: each point's neighbours' labels (neighbours: (M, k) indices into them), averaged
    with the edge weights (M, k) (None: equally), the induction formula of Delalleau, Bengio
    and Le Roux 2005 for label spreading. A point whose weights are all 0 gets the uniform
    distribution."""
    w = torch.ones(neighbours.shape) if weights is None else weights.float()
    f = (w[:, :, None] * labels.float()[neighbours]).sum(1)
    total = f.sum(1, keepdim=True)
    return torch.where(total > 0, f / total.clamp_min(1e-30), 1.0 / labels.shape[1])


def propagate_labels(
    neighbours: torch.Tensor,
    labelled: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    alpha: float,
    tol: float = 1e-6,
    max_iter: int = 10000,
    prior: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    class_mass: bool = False,
) -> torch.Tensor:
    """(N, K) class distributions of every image, spread from the labelled ones over the
    symmetric k-nearest-neighbour graph, its edges weighted by `weights` as in knn_graph
    (Zhou et al. 2004, "Learning with local and global consistency"; scikit-learn's
    LabelSpreading): F <- alpha S F + (1 - alpha) Y until it
    settles, the fixed point being (1 - alpha)(I - alpha S)^-1 Y, with S = D^-1/2 W D^-1/2
    and Y the one-hot labels (zero rows for the others). Rows are normalised to sum to 1; an
    image no label reaches gets the uniform distribution. neighbours: (N, k) indices;
    labelled: (L,) indices, labels: (L,) classes; prior: (N, K) class distributions of the
    other images (a classifier's predictions) spread together with the labels, Y's rows for
    them (the labelled rows keep their one-hot labels). class_mass: each class's column is
    scaled so that its mass over the images is the class's share of the labels before the
    rows are normalised (Zhu et al. 2003's class mass normalisation: a class whose labelled
    images sit in a dense part of the graph does not take over its neighbours')."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    s = knn_graph(neighbours, weights)
    y = np.zeros((s.shape[0], num_classes))
    if prior is not None:
        if tuple(prior.shape) != y.shape:
            raise ValueError(f"prior must be {y.shape}, got {tuple(prior.shape)}")
        y = prior.detach().cpu().double().numpy().copy()
        y[labelled.cpu().numpy()] = 0.0
    y[labelled.cpu().numpy(), labels.cpu().numpy()] = 1.0
    f = y.copy()
    for _ in range(max_iter):
        nxt = alpha * (s @ f) + (1.0 - alpha) * y
        # what is left to move is at most alpha / (1 - alpha) times this step: stop when
        # that is below tol relative to the largest value
        done = np.abs(nxt - f).max() * alpha < tol * (1.0 - alpha) * np.abs(nxt).max()
        f = nxt
        if done:
            break
    if class_mass:
        share = np.bincount(labels.cpu().numpy(), minlength=num_classes) / len(labels)
        mass = f.sum(0)
        f = f * np.where(mass > 0, share / np.where(mass > 0, mass, 1.0), 0.0)
    total = f.sum(1, keepdims=True)
    f = np.where(total > 0, f / np.where(total > 0, total, 1.0), 1.0 / num_classes)
    return torch.from_numpy(f).float()


def cached_value(cache: Path, valid, compute):
    """compute(), kept in `cache` (beside the data bundle it came from) so that a resumed or
    finished run does not redo it; a missing, unreadable or stale (valid() false) file is
    recomputed."""
    try:
        value = torch.load(cache, weights_only=True)
        if valid(value):
            return value
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):  # missing or unreadable
        pass
    value = compute()
    save_torch(cache, value)
    return value


def cached_neighbour_table(
    x: torch.Tensor, k: int, dims: int, cache: Path, features: torch.Tensor | None = None
) -> torch.Tensor:
    """neighbour_table (or, given features, the nearest neighbours among them), cached."""
    return cached_value(
        cache,
        lambda t: t.dtype == torch.long and t.shape == (len(x), k),
        lambda: (
            neighbour_table(x, k, dims) if features is None else nearest_neighbours(features, k)
        ),
    )


def fit_frontend(front: nn.Module, x: torch.Tensor, cache: Path) -> torch.Tensor:
    """Fit the encoder's scattering front end on the training images x (or load the fit from
    cache) and return their features (N, dims)."""

    def compute() -> dict[str, torch.Tensor]:
        with Progress("scattering front end", len(x), "img") as bar:
            f = front.fit(x, progress=lambda done, total: bar.update(done - bar.n))
        return {"mean": front.mean.cpu(), "proj": front.proj.cpu(), "f": f.cpu()}

    fit = cached_value(
        cache,
        lambda v: (
            isinstance(v, dict)
            and v.get("f") is not None
            and v["f"].shape == (len(x), front.dims)
            and v["proj"].shape == front.proj.shape
        ),
        compute,
    )
    front.mean.copy_(fit["mean"])
    front.proj.copy_(fit["proj"])
    front.fitted.fill_(True)
    return fit["f"]


def neighbour_cache(bundle_path: str | Path, k: int, space: str) -> Path:
    """Where the k-neighbour table of the training images in `space` is kept (`d50`: PCA-50
    projections of the pixels; a front end's name and dims), one file for every family."""
    p = Path(bundle_path)
    return p.with_name(f"{p.stem}.neighbours-k{k}-{space}.pt")


def cached_partition(
    neighbours: torch.Tensor, neighbours_file: Path, clusters: int, seed: int
) -> torch.Tensor:
    """spectral_partition of a neighbour table into `clusters` parts, cached beside the table
    it came from (neighbours_file, as from neighbour_cache)."""
    n = len(neighbours)
    cache = neighbours_file.with_name(
        neighbours_file.name.replace(".neighbours-", f".spectral-dm10-c{clusters}-s{seed}-")
    )
    return cached_value(
        cache,
        lambda t: t.dtype == torch.long and t.shape == (n,) and int(t.max()) < clusters,
        lambda: announced(
            f"spectral partition of the {neighbours.shape[1]}-neighbour graph of {n} images",
            spectral_partition,
            neighbours,
            clusters,
            seed,
        ),
    )


def fitted_front(
    x: torch.Tensor, bundle_path: str | Path | None, dims: int
) -> tuple[nn.Module, torch.Tensor]:
    """(the scattering front end fitted on the training images x (N, C, H, W), their features
    (N, d)): at most `dims` whitened components, fewer where there are few images or
    coefficients; the fit is cached beside the bundle at bundle_path (None: not kept).
    ScatteringFront's ValueError where it cannot take the images."""
    from ganflow.models.scattering import ScatteringFront

    shape = tuple(x.shape[1:])
    dims = min(dims, len(x) - 1, ScatteringFront.coefficient_count(shape))
    front = ScatteringFront(shape, dims)
    if bundle_path is None:
        return front, front.fit(x)
    return front, fit_frontend(front, x, frontend_cache(bundle_path, "scattering", dims))


def scattering_table(
    x: torch.Tensor, features: torch.Tensor, k: int, bundle_path: str | Path | None
) -> tuple[torch.Tensor, Path | None]:
    """((N, k) each training image's nearest others among its scattering features (N, d),
    from fitted_front; the table's cache file beside the bundle, or None where bundle_path
    is None and nothing is kept)."""
    what = f"the {k} nearest neighbours of {len(x)} images"
    if bundle_path is None:
        return announced(what, nearest_neighbours, features, k), None
    cache = neighbour_cache(bundle_path, k, f"scattering-d{features.shape[1]}")
    return announced(what, cached_neighbour_table, x, k, features.shape[1], cache, features), cache


def graph_partition(
    x: torch.Tensor, bundle_path: str | Path, clusters: int, seed: int, k: int = 20
) -> torch.Tensor:
    """(N,) the spectral partition of the training images x (N, C, H, W) into `clusters`
    parts: the k-nearest-neighbour graph among the scattering front end's 100 whitened
    features where the images allow it (front_fits), else among PCA-50 projections of
    the pixels. The front end's fit, the table and the partition are the files the
    adversarial autoencoder keeps beside the bundle, so either family reuses the other's."""
    from ganflow.models.scattering import front_fits

    n = len(x)
    if n <= 2 * clusters:
        raise ValueError(
            f"a graph partition into {clusters} parts needs more than {2 * clusters} "
            f"training images, got {n}"
        )
    k = min(k, n - 1)  # a small folder: fewer neighbours (and fewer dims, below)
    if front_fits(tuple(x.shape[1:])):
        _, features = fitted_front(x, bundle_path, FRONTEND_DIMS)
        table, cache = scattering_table(x, features, k, bundle_path)
    else:
        dims = min(PIXEL_DIMS, n - 1)
        cache = neighbour_cache(bundle_path, k, f"d{dims}")
        table = cached_neighbour_table(x, k, dims, cache)
    return cached_partition(table, cache, clusters, seed)


FRONTEND_DIMS = 100  # graph_partition's scattering features (the AAE's frontend_dims)
PIXEL_DIMS = 50  # and its PCA projections of the pixels (the AAE's neighbour_dims)


def frontend_cache(bundle_path: str | Path, frontend: str, dims: int) -> Path:
    """Where the fitted front end and the training images' features are kept."""
    p = Path(bundle_path)
    return p.with_name(f"{p.stem}.{frontend}-d{dims}.pt")
