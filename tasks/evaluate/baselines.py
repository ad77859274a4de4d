"""The classical semi-supervised and supervised baselines a user would otherwise pick, on the
same split as the GAN: scikit-learn's LabelSpreading (kNN and RBF graphs) over the labelled
and unlabelled training images, and logistic regression on the labelled images alone. Every
hyperparameter is chosen on the validation split, never on test."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import LabelSpreading

from ganflow.tasks.data.bundle import DataBundle

# above this many pixels the images are reduced to PCA_DIMS principal components first
# (fitted on the training pool), so that the neighbour graphs stay affordable
PCA_ABOVE, PCA_DIMS = 100, 50
RBF_POOL = 6000  # the RBF graph is dense: at most this many training images (labelled + others)
ALPHAS = (0.2, 0.8, 0.95)  # how far labels spread (the K+1 GAN's own graph uses 0.95)
KNN_GRID = [{"n_neighbors": k, "alpha": a} for k in (5, 10, 20, 40) for a in ALPHAS]
MAX_ITER = 1000  # enough for alpha 0.95 to settle
RBF_SCALES = (1.0, 4.0, 16.0, 64.0)  # gamma = scale / median squared distance
LR_GRID = [{"C": c} for c in (0.01, 0.1, 1.0, 10.0)]


def _flat(x: Any) -> np.ndarray:
    return x.reshape(len(x), -1).numpy().astype(np.float32) / 255.0


def features(bundle: DataBundle, seed: int = 0) -> dict[str, np.ndarray]:
    """Flattened pixels in [0, 1] of the training pool, validation and test images; PCA to
    PCA_DIMS components where an image has more than PCA_ABOVE pixels."""
    out = {"train": _flat(bundle.x_train), "val": _flat(bundle.x_val), "test": _flat(bundle.x_test)}
    if out["train"].shape[1] > PCA_ABOVE:
        pca = PCA(PCA_DIMS, random_state=seed).fit(out["train"])
        out = {k: pca.transform(v).astype(np.float32) for k, v in out.items()}
    return out


def _error(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict(x) != y).mean())


def _select(
    grid: list[dict[str, Any]], fit: Callable[[dict[str, Any]], Any], f: dict[str, np.ndarray],
    y_val: np.ndarray, y_test: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    """Fit each setting, keep the one with the lowest validation error, report its test error."""
    t0 = time.monotonic()
    best: tuple[float, dict[str, Any], Any] | None = None
    # under the RBF grid's largest gamma an image far from every pool image has no weight
    # to any, and scikit-learn divides 0 by 0: it then predicts the first class, which the
    # errors count, so the warning says nothing the choice and the test error miss
    with np.errstate(divide="ignore", invalid="ignore"):
        for setting in grid:
            model = fit(setting)
            val = _error(model, f["val"], y_val)
            if best is None or val < best[0]:
                best = (val, setting, model)
        assert best is not None
        val, setting, model = best
        test = _error(model, f["test"], y_test)
    return {
        "test_error": test,
        "val_error": val,
        "chosen": setting,
        "wall_s": round(time.monotonic() - t0, 1),
    }


def label_spreading(
    bundle: DataBundle, f: dict[str, np.ndarray], kernel: str, seed: int = 0
) -> dict[str, Any]:
    """LabelSpreading over the training pool (labels on the labelled subset, -1 elsewhere).
    kernel "knn": the whole pool; "rbf": the labelled images and at most RBF_POOL in all,
    gamma a multiple of 1 / the median squared distance."""
    y = np.full(len(f["train"]), -1, dtype=np.int64)
    lab = bundle.labelled.numpy()
    y[lab] = bundle.y_train.numpy()[lab]
    x = f["train"]
    y_val, y_test = bundle.y_val.numpy(), bundle.y_test.numpy()
    if kernel == "knn":
        return _select(
            KNN_GRID,
            lambda s: LabelSpreading(kernel="knn", max_iter=MAX_ITER, **s).fit(x, y),
            f, y_val, y_test,
        )  # fmt: skip
    rng = np.random.default_rng(seed)
    others = np.setdiff1d(np.arange(len(x)), lab)
    keep = np.concatenate([lab, rng.permutation(others)[: max(0, RBF_POOL - len(lab))]])
    xs, ys = x[keep], y[keep]
    probe = xs[rng.permutation(len(xs))[:1000]]
    d2 = ((probe[:, None, :] - probe[None, :, :]) ** 2).sum(-1)
    median = float(np.median(d2[np.triu_indices(len(probe), 1)]))
    grid = [{"gamma": s / median, "alpha": a} for s in RBF_SCALES for a in ALPHAS]
    return _select(
        grid,
        lambda s: LabelSpreading(kernel="rbf", max_iter=MAX_ITER, **s).fit(xs, ys),
        f, y_val, y_test,
    )  # fmt: skip


def logistic_regression(bundle: DataBundle, f: dict[str, np.ndarray]) -> dict[str, Any]:
    """Multinomial logistic regression on the labelled images alone."""
    lab = bundle.labelled.numpy()
    x, y = f["train"][lab], bundle.y_train.numpy()[lab]
    return _select(
        LR_GRID,
        lambda s: LogisticRegression(max_iter=2000, **s).fit(x, y),
        f, bundle.y_val.numpy(), bundle.y_test.numpy(),
    )  # fmt: skip


def scattering_features(
    bundle: DataBundle, bundle_path: str | Path, dims: int = 100
) -> dict[str, np.ndarray]:
    """Whitened scattering features (the K+1 GAN's graph and the adversarial autoencoder's
    front end, fitted on the training pool and cached beside the bundle) of the training
    pool, validation and test images."""
    from ganflow.models.scattering import ScatteringFront
    from ganflow.tasks.data.neighbours import fit_frontend, frontend_cache

    front = ScatteringFront(bundle.image_shape, dims)
    train = fit_frontend(front, bundle.x_train, frontend_cache(bundle_path, "scattering", dims))
    val, test = front.encode(bundle.x_val), front.encode(bundle.x_test)
    return {"train": train.numpy(), "val": val.numpy(), "test": test.numpy()}


def classical_baselines(
    bundle: DataBundle, seed: int = 0, scattering: dict[str, np.ndarray] | None = None
) -> dict[str, dict[str, Any]]:
    """{'label_spreading': the best on validation of the kNN and RBF graphs on the pixels
    (kept under 'label_spreading_knn' / '_rbf') and, given scattering features, of the kNN
    graph on those ('label_spreading_scattering'), 'logistic_regression': ...}."""
    f = features(bundle, seed)
    runs = {
        "knn": label_spreading(bundle, f, "knn", seed),
        "rbf": label_spreading(bundle, f, "rbf", seed),
    }
    if scattering is not None:
        runs["scattering"] = label_spreading(bundle, scattering, "knn", seed)
    kernel, chosen = min(runs.items(), key=lambda kr: kr[1]["val_error"])
    return {
        "label_spreading": {**chosen, "kernel": kernel},
        **{f"label_spreading_{name}": row for name, row in runs.items()},
        "logistic_regression": logistic_regression(bundle, f),
    }
