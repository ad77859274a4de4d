"""Adversarial-autoencoder steps: train (with checkpoints and resume), assign clusters, score.

Cluster accuracy follows Makhzani et al. 2015, section 6: every cluster takes the majority
label of its *training* images, and that mapping is scored on the test set. With as many
clusters as classes, Hungarian (one-to-one) accuracy on the test set is reported as well.
"""

from __future__ import annotations

import csv
import os
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models import aae
from tasks.checkpoint import (
    load_checkpoint,
)
from tasks.cluster_metrics import hungarian_accuracy, nmi
from tasks.data import DataBundle, load_bundle
from tasks.train import (
    CheckpointedTrainer,
    RunConfig,
    _Callbacks,
    select_device,
    steps_for,
)

CLUSTER_ACCURACY = "cluster_accuracy"
HUNGARIAN_ACCURACY = "hungarian_accuracy"
NMI = "nmi"
CHECKPOINT_NAME = "checkpoint.pt"


def majority_mapping(
    clusters: np.ndarray, labels: np.ndarray, k: int, num_classes: int
) -> np.ndarray:
    """(k,) the majority label of each cluster's images; -1 for a cluster with none."""
    counts = np.zeros((k, num_classes), dtype=np.int64)
    np.add.at(counts, (clusters, labels), 1)
    return np.where(counts.sum(1) > 0, counts.argmax(1), -1)


@torch.no_grad()
def nearest_neighbours(f: torch.Tensor, k: int, block: int = 2048) -> torch.Tensor:
    """(N, k) indices of each row's k nearest other rows of f (N, D), by Euclidean distance.
    Blockwise, so memory stays at block x N distances (about 0.5 GB for 60,000 rows)."""
    n = len(f)
    if n <= k:
        raise ValueError(f"neighbour consistency needs more than k={k} training images, got {n}")
    f = f.float()
    sq = (f * f).sum(1)
    out = torch.empty(n, k, dtype=torch.long)
    for i in range(0, n, block):
        d = sq[i : i + block, None] - 2 * f[i : i + block] @ f.T + sq[None]
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


def spectral_partition(neighbours: torch.Tensor, clusters: int, seed: int = 0, eigenvectors: int | None = None,
                       diffusion_steps: int = 10) -> torch.Tensor:  # fmt: skip
    """(N,) a partition of the images into `clusters` parts by spectral clustering of their
    symmetric k-nearest-neighbour graph: the top eigenvectors of D^-1/2 W D^-1/2 (default
    2 x clusters of them), each scaled by its eigenvalue to the power diffusion_steps (the
    diffusion map of Coifman and Lafon 2006: distances after t steps of a random walk on the
    graph), rows scaled to unit length (Ng, Jordan and Weiss 2001), then k-means.
    neighbours: (N, k) as from nearest_neighbours.

    The eigenproblem sees the whole graph at once, where stochastic training of a cluster head
    only ever sees pairs of neighbours: on the Fashion-MNIST scattering graph a spectral
    partition cuts 8 % of the 10-neighbour edges against the 11 % of a SCAN-trained head's,
    and matches the classes better. The diffusion weights make the result insensitive to the
    number of eigenvectors: on that graph (20 neighbours, seed 0) k-means on 16, 24 or 32
    plain eigenvectors (diffusion_steps=0) labels 75.5, 73.2 or 72.9 % of the training images
    correctly (majority mapping), on diffusion coordinates (10 steps) 75.3, 77.5 and 76.9 %."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import lobpcg
    from sklearn.cluster import KMeans

    nb = neighbours.cpu().numpy()
    n, k = nb.shape
    m = eigenvectors if eigenvectors is not None else min(2 * clusters, n - 1)
    if not 2 <= clusters <= m < n:
        raise ValueError(
            f"spectral partition: need 2 <= clusters <= eigenvectors < images, got {clusters}, {m} for {n}"
        )
    w = sp.csr_matrix((np.ones(n * k), (np.repeat(np.arange(n), k), nb.ravel())), shape=(n, n))
    w = ((w + w.T) > 0).astype(np.float64)
    inv_sqrt_deg = sp.diags(1.0 / np.sqrt(np.asarray(w.sum(1)).ravel()))
    a = (inv_sqrt_deg @ w @ inv_sqrt_deg).tocsr()
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


def _announced(what: str, fn, *args):
    """fn(*args), with a line on stderr before and after (for steps of a minute or so)."""
    print(f"{what} ...", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    out = fn(*args)
    print(f"{what}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def _cached(cache: Path, valid, compute):
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
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    torch.save(value, tmp)
    os.replace(tmp, cache)
    return value


def cached_neighbour_table(x: torch.Tensor, k: int, dims: int, cache: Path,
                           features: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """neighbour_table (or, given features, the nearest neighbours among them), cached."""
    return _cached(cache, lambda t: t.dtype == torch.long and t.shape == (len(x), k),
                   lambda: neighbour_table(x, k, dims) if features is None else nearest_neighbours(features, k))  # fmt: skip


def fit_frontend(front: nn.Module, x: torch.Tensor, cache: Path) -> torch.Tensor:
    """Fit the encoder's scattering front end on the training images x (or load the fit from
    cache) and return their features (N, dims)."""

    def compute() -> dict[str, torch.Tensor]:
        from tqdm.auto import tqdm

        with tqdm(total=len(x), desc="scattering front end", unit="img", file=sys.stderr,
                  disable=None, dynamic_ncols=True) as bar:  # fmt: skip
            f = front.fit(x, progress=lambda done, total: bar.update(done - bar.n))
        return {"mean": front.mean.cpu(), "proj": front.proj.cpu(), "f": f.cpu()}

    fit = _cached(cache, lambda v: isinstance(v, dict) and v.get("f") is not None and v["f"].shape == (len(x), front.dims)
                  and v["proj"].shape == front.proj.shape, compute)  # fmt: skip
    front.mean.copy_(fit["mean"])
    front.proj.copy_(fit["proj"])
    front.fitted.fill_(True)
    return fit["f"]


@torch.no_grad()
def encode(
    E: nn.Module,
    x: torch.Tensor | None,
    device: str | torch.device,
    batch_size: int = 1000,
    features: torch.Tensor | None = None,
) -> dict[str, np.ndarray]:
    """{'cluster' (N,), 'confidence' (N,), 'probs' (N, K), 'z' (N, d)} for uint8 images x, or
    for precomputed front-end features of them (an encoder with a front end: its head only)."""
    E.eval()
    probs, zs = [], []
    src = x if features is None else features
    for i in range(0, len(src), batch_size):
        chunk = src[i : i + batch_size].to(device)
        logits, z = E(chunk.float() / 255.0) if features is None else E.head(chunk)
        zs.append(z.cpu())
        if logits is not None:
            probs.append(logits.softmax(1).cpu())
    out = {"z": torch.cat(zs).numpy()}
    if probs:
        p = torch.cat(probs).numpy()
        out.update(probs=p, cluster=p.argmax(1), confidence=p.max(1))
    return out


def frontend_cache(bundle_path: str | Path, cfg: aae.AAEConfig) -> Path:
    """Where the fitted front end and the training images' features are kept."""
    p = Path(bundle_path)
    return p.with_name(f"{p.stem}.{cfg.frontend}-d{cfg.frontend_dims}.pt")


def encode_training_images(run: dict[str, Any], bundle: DataBundle, bundle_path: str | Path,
                           device: str | torch.device) -> dict[str, np.ndarray]:  # fmt: skip
    """encode of the training images; with a front end, from the features cached when it was
    fitted (when that fit is the model's own), instead of scattering them all again."""
    E, cfg = run["E"], run["config"]
    if cfg.frontend != "pixels":
        try:
            fit = torch.load(frontend_cache(bundle_path, cfg), weights_only=True)
            if fit["f"].shape[0] == len(bundle.x_train) and torch.equal(
                fit["proj"], E.front.proj.cpu()
            ):
                return encode(E, None, device, features=fit["f"])
        except (OSError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError):
            pass
    return encode(E, bundle.x_train, device)


class _AAETrainer(CheckpointedTrainer):
    """What train.py's _Callbacks needs: run, kind, history, save (from CheckpointedTrainer), validation_error."""

    def __init__(self, bundle: DataBundle, cfg: aae.AAEConfig, run: RunConfig, out_dir: Path, semi: bool,
                 bundle_path: Path) -> None:  # fmt: skip
        cfg = cfg.resolved(bundle.image_shape)  # the checkpoint keeps the settled front end
        self.bundle, self.cfg, self.run, self.semi = bundle, cfg, run, semi
        self.kind = "aae-semi" if semi else "aae"
        self.device = select_device(run.device)
        self.models = {
            k: m.to(self.device)
            for k, m in aae.build_models(
                bundle.image_shape, cfg, bundle.num_classes, run.seed
            ).items()
        }
        data = {"x": bundle.x_train.to(self.device)}
        features = None
        if cfg.frontend != "pixels":
            features = fit_frontend(
                self.models["E"].front, bundle.x_train, frontend_cache(bundle_path, cfg)
            )
            data["f"] = features.to(self.device)
        if cfg.uses_neighbours:
            space = (
                f"{cfg.frontend}-d{cfg.frontend_dims}"
                if features is not None
                else f"d{cfg.neighbour_dims}"
            )
            cache = bundle_path.with_name(
                f"{bundle_path.stem}.neighbours-k{cfg.neighbours}-{space}.pt"
            )
            data["neighbours"] = cached_neighbour_table(
                bundle.x_train, cfg.neighbours, cfg.neighbour_dims, cache, features
            )
            if cfg.uses_head_init and not semi:
                n, k = len(bundle.x_train), cfg.clusters
                data["init_labels"] = _cached(
                    cache.with_name(cache.name.replace(".neighbours-", f".spectral-dm10-c{k}-s{run.seed}-")),
                    lambda t: t.dtype == torch.long and t.shape == (n,) and int(t.max()) < k,
                    lambda: _announced(f"spectral partition of the {cfg.neighbours}-neighbour graph of {n} images",
                                       spectral_partition, data["neighbours"], k, run.seed),
                )  # fmt: skip
        if semi:
            data.update(
                x_lab=bundle.x_train[bundle.labelled].to(self.device),
                y_lab=bundle.y_train[bundle.labelled].to(self.device),
            )
            if features is not None:
                data["f_lab"] = data["f"][bundle.labelled.to(self.device)]
        self.training = aae.build_training(self.models, cfg, data, run.seed, bundle.num_classes)
        self.total_steps = steps_for(run.epochs, len(bundle.x_train), cfg.batch_size)
        self.path, self.history, self.last_saved = out_dir / CHECKPOINT_NAME, [], None

    def config(self) -> dict[str, Any]:
        return {"family": "aae", "kind": self.kind, "model": self.cfg.to_dict(), "seed": self.run.seed,
                "total_steps": self.total_steps, "data": self.bundle.fingerprint["id"],
                "image_shape": list(self.bundle.image_shape), "num_classes": self.bundle.num_classes}  # fmt: skip

    def validation_error(self) -> float:
        """Semi-supervised: error of the y head. Clustering: 1 - majority accuracy on the
        validation images (mapping fitted on them). NaN without a categorical head."""
        if len(self.bundle.y_val) == 0 or not self.cfg.clusters:
            return float("nan")
        E = self.models["E"]
        was = E.training
        c = encode(E, self.bundle.x_val, self.device)["cluster"]
        E.train(was)
        y = self.bundle.y_val.numpy()
        if self.semi:
            return float((c != y).mean())
        mapping = majority_mapping(c, y, self.cfg.clusters, self.bundle.num_classes)
        return float((mapping[c] != y).mean())


def train_aae(bundle_path: str | Path, cfg: aae.AAEConfig, run: RunConfig, out_dir: str | Path, semi: bool = False) -> dict[str, Any]:  # fmt: skip
    """Train (or resume, or reuse a finished) AAE in out_dir; returns a small dict."""
    out_dir, t_setup = Path(out_dir), time.monotonic()
    t = _AAETrainer(load_bundle(bundle_path), cfg, run, out_dir, semi, Path(bundle_path))
    start, t0 = t.resume_step(), time.monotonic()
    result = t.fit(start, [_Callbacks(t, start, t.total_steps, None)], None,
                   "Try lower learning rates (--set lr_reg=..., lr_disc=...).")  # fmt: skip
    end = time.monotonic()
    train_s = end - t0
    return {"kind": t.kind, "checkpoint": str(t.path), "steps": result.steps_done, "total_steps": t.total_steps,
            "resumed_from": start or None, "device": str(t.device),
            "wall_s": round(end - t_setup, 2),  # with the front end's fit and the neighbour search
            "setup_s": round(t0 - t_setup, 2),
            "images_per_s": round((result.steps_done - start) * cfg.batch_size / train_s, 1) if train_s > 0 else None,
            "config": t.cfg.to_dict()}  # fmt: skip


def load_aae(checkpoint: str | Path, device: str = "cpu") -> dict[str, Any]:
    ckpt = load_checkpoint(checkpoint, map_location=device, family="aae")
    conf = ckpt["config"]
    cfg = aae.AAEConfig.from_dict(conf["model"])
    models = aae.build_models(tuple(conf["image_shape"]), cfg, conf["num_classes"], conf["seed"])
    for k, m in models.items():
        m.load_state_dict(ckpt["state"][k])
        m.to(device).eval()
    return {
        **models,
        "config": cfg,
        "run_config": conf,
        "class_names": ckpt.get("class_names"),
        "history": ckpt.get("history", []),
    }


def score(checkpoint: str | Path, bundle_path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """Cluster accuracy (train-majority mapping, on the test set), Hungarian accuracy when
    clusters = classes, NMI on the test set; semi-supervised runs add the test error."""
    run, b = load_aae(checkpoint, device), load_bundle(bundle_path)
    k = run["config"].clusters
    if not k:
        return {"protocol": {"clusters": 0, "note": "no categorical head: nothing to score"}}
    tr = encode_training_images(run, b, bundle_path, device)
    te = encode(run["E"], b.x_test, device)
    y_tr, y_te = b.y_train.numpy(), b.y_test.numpy()
    mapping = majority_mapping(tr["cluster"], y_tr, k, b.num_classes)
    out: dict[str, Any] = {
        CLUSTER_ACCURACY: float((mapping[te["cluster"]] == y_te).mean()),
        NMI: nmi(te["cluster"], y_te),
    }
    out[HUNGARIAN_ACCURACY] = (
        hungarian_accuracy(te["cluster"], y_te) if k == b.num_classes else None
    )
    if run["run_config"]["kind"] == "aae-semi":
        out["test_error"] = float((te["cluster"] != y_te).mean())
    out["cluster_sizes"] = np.bincount(te["cluster"], minlength=k).tolist()
    out["mapping"] = mapping.tolist()
    out["protocol"] = {"clusters": k, "mapping": "majority label of each cluster's training images",
                       "train_count": len(y_tr), "test_count": len(y_te), "checkpoint": str(checkpoint)}  # fmt: skip
    return out


def write_assignments(path: Path, ids: list[str], enc: dict[str, np.ndarray]) -> Path:
    """CSV: image id, cluster, confidence (written to a temporary file, then renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "cluster", "confidence"])
        for i, c, p in zip(ids, enc["cluster"], enc["confidence"], strict=True):
            w.writerow([i, int(c), f"{float(p):.4f}"])
    os.replace(tmp, path)
    return path
