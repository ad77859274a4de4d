"""Clustering metrics: accuracy under a cluster -> class mapping, and NMI.

Cluster assignments from an unsupervised model carry no class names, so accuracy needs a
mapping. Two are standard: majority (each cluster takes its most common class; several
clusters may share a class, as in Makhzani et al. 2016 with 16 or 30 clusters) and Hungarian
(a one-to-one matching that maximises agreement, as in most deep-clustering papers).
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganflow.models.registry import Run
from ganflow.tasks.data.bundle import DataBundle, load_bundle
from ganflow.tasks.data.neighbours import frontend_cache
from ganflow.tasks.io import atomic_write
from ganflow.tasks.train.checkpoint import load_run

CLUSTER_ACC_MAJORITY = "cluster_acc_majority"
CLUSTER_ACC_HUNGARIAN = "cluster_acc_hungarian"
NMI = "nmi"
# keys of a clustering run's scores (ganflow cluster --json)
CLUSTER_ACCURACY = "cluster_accuracy"
HUNGARIAN_ACCURACY = "hungarian_accuracy"


def contingency(clusters: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """C[i, j] = number of points in cluster i with true class j; rows and columns follow
    the sorted distinct values."""
    clusters, labels = np.asarray(clusters).ravel(), np.asarray(labels).ravel()
    if clusters.shape != labels.shape:
        raise ValueError(f"{len(clusters)} cluster ids but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("cannot score an empty clustering")
    _, ci = np.unique(clusters, return_inverse=True)
    _, li = np.unique(labels, return_inverse=True)
    c = np.zeros((ci.max() + 1, li.max() + 1), dtype=np.int64)
    np.add.at(c, (ci, li), 1)
    return c


def majority_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    c = contingency(clusters, labels)
    return float(c.max(axis=1).sum() / c.sum())


def hungarian_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    """One-to-one matching; with more clusters than classes the unmatched clusters count as
    wrong."""
    c = contingency(clusters, labels)
    from scipy.optimize import linear_sum_assignment  # imported when used: a second saved

    rows, cols = linear_sum_assignment(-c)
    return float(c[rows, cols].sum() / c.sum())


def nmi(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (scikit-learn's)."""
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(np.asarray(labels), np.asarray(clusters)))


def clustering_metrics(clusters: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {
        CLUSTER_ACC_MAJORITY: majority_accuracy(clusters, labels),
        CLUSTER_ACC_HUNGARIAN: hungarian_accuracy(clusters, labels),
        NMI: nmi(clusters, labels),
    }


def majority_mapping(
    clusters: np.ndarray, labels: np.ndarray, k: int, num_classes: int
) -> np.ndarray:
    """(k,) the majority label of each cluster's images; -1 for a cluster with none."""
    counts = np.zeros((k, num_classes), dtype=np.int64)
    np.add.at(counts, (clusters, labels), 1)
    return np.where(counts.sum(1) > 0, counts.argmax(1), -1)


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


class ValidationError:
    """A categorical code's error on the validation images, for the trainer's curve:
    semi-supervised, the code read as the class; clustering, 1 - majority accuracy (mapping
    fitted on the validation images). NaN without a code (k = 0) or validation images."""

    def __init__(
        self, bundle: DataBundle, E: nn.Module, k: int, semi: bool, device: str | torch.device
    ) -> None:
        self.bundle, self.E, self.k, self.semi, self.device = bundle, E, k, semi, device

    def __call__(self) -> float:
        if len(self.bundle.y_val) == 0 or not self.k:
            return float("nan")
        was = self.E.training
        c = encode(self.E, self.bundle.x_val, self.device)["cluster"]
        self.E.train(was)
        y = self.bundle.y_val.numpy()
        if self.semi:
            return float((c != y).mean())
        mapping = majority_mapping(c, y, self.k, self.bundle.num_classes)
        return float((mapping[c] != y).mean())


def encode_training_images(
    run: Run, bundle: DataBundle, bundle_path: str | Path, device: str | torch.device
) -> dict[str, np.ndarray]:
    """encode of the training images; an AAE with a front end reads the features cached when
    it was fitted (when that fit is the model's own), instead of scattering them all again."""
    E, cfg = run.family.encoder(run), run.config
    if getattr(cfg, "frontend", "pixels") != "pixels":
        try:
            fit = torch.load(
                frontend_cache(bundle_path, cfg.frontend, cfg.frontend_dims), weights_only=True
            )
            if fit["f"].shape[0] == len(bundle.x_train) and torch.equal(
                fit["proj"], E.front.proj.cpu()
            ):
                return encode(E, None, device, features=fit["f"])
        except (OSError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError):
            pass
    return encode(E, bundle.x_train, device)


def score_clusters(
    checkpoint: str | Path, bundle_path: str | Path, device: str = "cpu"
) -> dict[str, Any]:
    """A run's categorical code on the bundle (Makhzani et al. 2015, section 6), for any
    family with an encoder (the AAE's y head, InfoGAN's Q): cluster accuracy (train-majority
    mapping, on the test set), Hungarian accuracy when clusters = classes, NMI on the test
    set; semi-supervised AAE runs add the test error."""
    run, b = load_run(checkpoint, device), load_bundle(bundle_path)
    E = run.family.encoder(run)
    if E is None:
        return {"protocol": {"clusters": 0, "note": "no categorical code: nothing to score"}}
    tr = encode_training_images(run, b, bundle_path, device)
    te = encode(E, b.x_test, device)
    k = tr["probs"].shape[1]
    y_tr, y_te = b.y_train.numpy(), b.y_test.numpy()
    mapping = majority_mapping(tr["cluster"], y_tr, k, b.num_classes)
    out: dict[str, Any] = {
        CLUSTER_ACCURACY: float((mapping[te["cluster"]] == y_te).mean()),
        NMI: nmi(te["cluster"], y_te),
    }
    out[HUNGARIAN_ACCURACY] = (
        hungarian_accuracy(te["cluster"], y_te) if k == b.num_classes else None
    )
    if run.kind == "aae-semi":
        out["test_error"] = float((te["cluster"] != y_te).mean())
    out["cluster_sizes"] = np.bincount(te["cluster"], minlength=k).tolist()
    out["mapping"] = mapping.tolist()
    out["protocol"] = {
        "clusters": k,
        "mapping": "majority label of each cluster's training images",
        "train_count": len(y_tr),
        "test_count": len(y_te),
        "checkpoint": str(checkpoint),
    }
    return out


def per_seed_scores(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each seed's clustering scores (its 'metrics' less the protocol), with the seed."""
    return [
        {"seed": r["seed"], **{k: v for k, v in r["metrics"].items() if k != "protocol"}}
        for r in rows
    ]


def write_assignments(path: Path, ids: list[str], enc: dict[str, np.ndarray]) -> Path:
    """CSV: image id, cluster, confidence (written atomically)."""
    with atomic_write(path, "w") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "cluster", "confidence"])
        for i, c, p in zip(ids, enc["cluster"], enc["confidence"], strict=True):
            w.writerow([i, int(c), f"{float(p):.4f}"])
    return path
