"""The classical semi-supervised and supervised baselines a user would otherwise pick, on the
same split as the GAN: scikit-learn's LabelSpreading (kNN and RBF graphs) over the labelled
and unlabelled training images, and logistic regression on the labelled images alone. Every
setting is chosen by stratified cross-validation on the labelled images alone (the
realistic protocol of Oliver et al. 2018: N labels per class are all a method sees), never
on the validation split or the test set; where a class has a single label, so that no fold
can hold it out, the validation split chooses where it has images, else the grid's middle."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import LabelSpreading

from ganflow.tasks.data.bundle import DataBundle, labelled_folds

# above this many pixels the images are reduced to PCA_DIMS principal components first
# (fitted on the training pool), so that the neighbour graphs stay affordable
PCA_ABOVE, PCA_DIMS = 100, 50
RBF_POOL = 6000  # the RBF graph is dense: at most this many training images (labelled + others)
ALPHAS = (0.2, 0.8, 0.95)  # how far labels spread (the K+1 GAN's own graph uses 0.95)
KNN_GRID = [{"n_neighbors": k, "alpha": a} for k in (5, 10, 20, 40) for a in ALPHAS]
MAX_ITER = 1000  # enough for alpha 0.95 to settle
RBF_SCALES = (1.0, 4.0, 16.0, 64.0)  # gamma = scale / median squared distance
LR_GRID = [{"C": c} for c in (0.01, 0.1, 1.0, 10.0)]
CV_FOLDS = 3  # folds of the labelled images each setting is scored on


def _flat(x: Any) -> np.ndarray:
    return x.flatten(1).numpy().astype(np.float32) / 255.0  # flatten: also for no images


def features(bundle: DataBundle, seed: int = 0) -> dict[str, np.ndarray]:
    """Flattened pixels in [0, 1] of the training pool, validation and test images; PCA to
    PCA_DIMS components where an image has more than PCA_ABOVE pixels."""
    out = {"train": _flat(bundle.x_train), "val": _flat(bundle.x_val), "test": _flat(bundle.x_test)}
    if out["train"].shape[1] > PCA_ABOVE:
        pca = PCA(PCA_DIMS, random_state=seed).fit(out["train"])
        out = {k: pca.transform(v).astype(np.float32) if len(v) else
               np.zeros((0, PCA_DIMS), np.float32) for k, v in out.items()}  # fmt: skip
    return out


def _error(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict(x) != y).mean())


# fit(setting, positions of the labelled images it may see) -> (model, predictions for the
# held-out labelled images, given their positions)
Fit = Callable[[dict[str, Any], np.ndarray], Any]
HeldOut = Callable[[Any, np.ndarray], np.ndarray]


def _select(
    grid: list[dict[str, Any]], fit: Fit, held_out: HeldOut, bundle: DataBundle,
    f: dict[str, np.ndarray],
) -> dict[str, Any]:  # fmt: skip
    """Score each setting by stratified cross-validation on the labelled images (fit on the
    other folds, predict the fold), keep the one with the lowest held-out error (ties: the
    first), fit it on every labelled image and report its test error. Where no folds can be
    made: the validation split's error chooses, else the grid's middle setting."""
    t0 = time.monotonic()
    y_lab = bundle.y_train[bundle.labelled]
    folds = [fold.numpy() for fold in labelled_folds(y_lab, CV_FOLDS)]
    y_lab_np, every = y_lab.numpy(), np.arange(len(y_lab))
    y_val, y_test = bundle.y_val.numpy(), bundle.y_test.numpy()
    # under the RBF grid's largest gamma an image far from every pool image has no weight
    # to any, and scikit-learn divides 0 by 0: it then predicts the first class, which the
    # errors count, so the warning says nothing the choice and the test error miss
    with np.errstate(divide="ignore", invalid="ignore"):
        scores: list[float] = []
        model = None  # the chosen setting's fit on every labelled image, where one was made
        if folds:
            on = f"{len(folds)}-fold cross-validation on {len(y_lab)} labelled images"
            for setting in grid:
                wrong = 0
                for fold in folds:
                    on_others = fit(setting, np.setdiff1d(every, fold))
                    wrong += int((held_out(on_others, fold) != y_lab_np[fold]).sum())
                scores.append(wrong / len(y_lab))
        elif len(y_val):
            on = f"the validation split ({len(y_val)} images): a class has a single label"
            for setting in grid:
                fitted = fit(setting, every)
                scores.append(_error(fitted, f["val"], y_val))
                if scores[-1] < min(scores[:-1], default=np.inf):  # ties: the first
                    model = fitted
        else:
            on = "none: a class has a single label and there is no validation split"
        pick = int(np.argmin(scores)) if scores else len(grid) // 2
        setting = grid[pick]
        test = _error(model if model is not None else fit(setting, every), f["test"], y_test)
    return {
        "test_error": test,
        "choice_error": scores[pick] if scores else None,
        "chosen": setting,
        "chosen_on": on,
        "wall_s": round(time.monotonic() - t0, 1),
    }


def _spreading(kind: str, x: np.ndarray, y: np.ndarray, lab: np.ndarray) -> tuple[Fit, HeldOut]:
    """LabelSpreading over pool x with the labels y of the pool positions lab: a fit that
    hides the labels of the held-out positions, and its spread labels for them."""

    def fit(setting: dict[str, Any], seen: np.ndarray) -> Any:
        ys = np.full(len(x), -1, dtype=np.int64)
        ys[lab[seen]] = y[seen]
        return LabelSpreading(kernel=kind, max_iter=MAX_ITER, **setting).fit(x, ys)

    return fit, lambda model, fold: model.transduction_[lab[fold]]


def label_spreading(
    bundle: DataBundle, f: dict[str, np.ndarray], kernel: str, seed: int = 0
) -> dict[str, Any]:
    """LabelSpreading over the training pool (labels on the labelled subset, -1 elsewhere).
    kernel "knn": the whole pool; "rbf": the labelled images and at most RBF_POOL in all,
    gamma a multiple of 1 / the median squared distance."""
    lab = bundle.labelled.numpy()
    y = bundle.y_train.numpy()[lab]
    x = f["train"]
    if kernel == "knn":
        fit, held = _spreading("knn", x, y, lab)
        return _select(KNN_GRID, fit, held, bundle, f)
    rng = np.random.default_rng(seed)
    others = np.setdiff1d(np.arange(len(x)), lab)
    keep = np.concatenate([lab, rng.permutation(others)[: max(0, RBF_POOL - len(lab))]])
    xs = x[keep]
    probe = xs[rng.permutation(len(xs))[:1000]]
    d2 = ((probe[:, None, :] - probe[None, :, :]) ** 2).sum(-1)
    median = float(np.median(d2[np.triu_indices(len(probe), 1)]))
    grid = [{"gamma": s / median, "alpha": a} for s in RBF_SCALES for a in ALPHAS]
    fit, held = _spreading("rbf", xs, y, np.arange(len(lab)))  # the labelled come first
    return _select(grid, fit, held, bundle, f)


def logistic_regression(bundle: DataBundle, f: dict[str, np.ndarray]) -> dict[str, Any]:
    """Multinomial logistic regression on the labelled images alone."""
    lab = bundle.labelled.numpy()
    x, y = f["train"][lab], bundle.y_train.numpy()[lab]

    def fit(setting: dict[str, Any], seen: np.ndarray) -> Any:
        return LogisticRegression(max_iter=2000, **setting).fit(x[seen], y[seen])

    return _select(LR_GRID, fit, lambda model, fold: model.predict(x[fold]), bundle, f)


def scattering_features(
    bundle: DataBundle, bundle_path: str | Path, dims: int = 100
) -> dict[str, np.ndarray]:
    """Whitened scattering features (the K+1 GAN's graph and the adversarial autoencoder's
    front end, fitted on the training pool and cached beside the bundle) of the training
    pool, validation and test images."""
    from ganflow.tasks.data.neighbours import fitted_front

    front, train = fitted_front(bundle.x_train, bundle_path, dims)
    val, test = front.encode(bundle.x_val), front.encode(bundle.x_test)
    return {"train": train.numpy(), "val": val.numpy(), "test": test.numpy()}


def _or_inf(x: float | None) -> float:
    return float("inf") if x is None else x


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
    # the graph with the lowest held-out error (ties: the first; unscored: the kNN graph)
    kernel, chosen = min(runs.items(), key=lambda kr: _or_inf(kr[1]["choice_error"]))
    return {
        "label_spreading": {**chosen, "kernel": kernel},
        **{f"label_spreading_{name}": row for name, row in runs.items()},
        "logistic_regression": logistic_regression(bundle, f),
    }
