"""Train-on-synthetic-test-on-real (classification accuracy score, CAS; Ravuri & Vinyals 2019).

A fixed classifier (the domain architecture, a fixed recipe and seed) is trained only on
labelled synthetic images and tested on the real test set; beside it the same classifier is
trained on the same number of real training images, drawn with the same per-class counts, so
the gap between `cas_accuracy` and `real_accuracy` is what the synthetic data costs.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from ganflow.models.classifiers import (
    ClassifierTraining,
    build_classifier,
    classifier_arch,
    train_classifier,
)
from ganflow.tasks.evaluate.classification import predict

CAS_ACCURACY = "cas_accuracy"
REAL_ACCURACY = "real_accuracy"


def cas_recipe(
    seed: int = 0, min_steps: int = 200, max_seconds: float | None = 60.0
) -> ClassifierTraining:
    """The CAS classifier's recipe: up to 30 epochs (at least `min_steps` steps), stopped
    early on a held-out tenth of its training images or after `max_seconds`."""
    return ClassifierTraining(min_steps=min_steps, seed=seed, max_seconds=max_seconds)


def matched_subset(y_pool: np.ndarray, counts: np.ndarray, seed: int) -> np.ndarray:
    """Indices into y_pool with counts[c] images of class c (all there are, if fewer)."""
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(y_pool == c))[: int(n)] for c, n in enumerate(counts)]
    return np.sort(np.concatenate(picked))


def accuracy_of_trained(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    recipe: ClassifierTraining,
    device: str,
    report: dict[str, Any] | None = None,
) -> float:
    """Test accuracy of the fixed classifier trained on (x_train, y_train); `report`, when
    given, is filled with how the training went (steps, epochs, why it stopped, seconds)."""
    shape = tuple(x_train.shape[1:])
    model = build_classifier(classifier_arch(shape), shape, num_classes, recipe.seed)  # type: ignore[arg-type]
    done = train_classifier(model, x_train, y_train, recipe, device)
    if report is not None:
        report.update(done)
    pred = predict(model, x_test, device).argmax(1)
    return float((pred == y_test).double().mean())


def classification_accuracy_score(
    x_syn: torch.Tensor,
    y_syn: torch.Tensor,
    x_real: torch.Tensor,
    y_real: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    seed: int = 0,
    device: str = "cpu",
    min_steps: int = 200,
    real_baseline: bool = True,
    max_seconds: float | None = 60.0,
) -> dict[str, Any]:
    """{cas_accuracy, real_accuracy, protocol}. x_real/y_real: the real training pool the
    matched real subset is drawn from (real_baseline=False: x_syn is itself real, and
    real_accuracy is cas_accuracy)."""
    if len(x_syn) == 0:
        raise ValueError("no labelled synthetic images to train on")
    counts = np.bincount(y_syn.numpy(), minlength=num_classes)
    idx = matched_subset(y_real.numpy(), counts, seed)
    recipe = cas_recipe(seed, min_steps, max_seconds)
    reports: dict[str, dict[str, Any]] = {"synthetic": {}, "real": {}}
    cas = accuracy_of_trained(
        x_syn, y_syn, x_test, y_test, num_classes, recipe, device, reports["synthetic"]
    )
    if real_baseline:
        real = accuracy_of_trained(
            x_real[idx], y_real[idx], x_test, y_test, num_classes, recipe, device, reports["real"]
        )
    else:  # the "synthetic" images are real ones (the floor): they are their own baseline
        real, idx = cas, np.arange(len(x_syn))
    protocol = {
        "classifier": classifier_arch(tuple(x_syn.shape[1:])),
        "training": asdict(recipe),  # type: ignore[arg-type]
        "trained": reports,
        "synthetic_count": len(x_syn),
        "synthetic_per_class": counts.tolist(),
        "real_count": len(idx),
        "test_count": len(y_test),
    }
    return {CAS_ACCURACY: cas, REAL_ACCURACY: real, "protocol": protocol}
