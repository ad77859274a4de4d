"""Clustering metrics: accuracy under a cluster -> class mapping, and NMI.

Cluster assignments from an unsupervised model carry no class names, so accuracy needs a
mapping. Two are standard: majority (each cluster takes its most common class; several
clusters may share a class, as in Makhzani et al. 2016 with 16 or 30 clusters) and Hungarian
(a one-to-one matching that maximises agreement, as in most deep-clustering papers).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score

CLUSTER_ACC_MAJORITY = "cluster_acc_majority"
CLUSTER_ACC_HUNGARIAN = "cluster_acc_hungarian"
NMI = "nmi"


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
    rows, cols = linear_sum_assignment(-c)
    return float(c[rows, cols].sum() / c.sum())


def nmi(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (scikit-learn's)."""
    return float(normalized_mutual_info_score(np.asarray(labels), np.asarray(clusters)))


def clustering_metrics(clusters: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {
        CLUSTER_ACC_MAJORITY: majority_accuracy(clusters, labels),
        CLUSTER_ACC_HUNGARIAN: hungarian_accuracy(clusters, labels),
        NMI: nmi(clusters, labels),
    }
