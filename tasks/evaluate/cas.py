"""Train-on-synthetic-test-on-real (classification accuracy score, CAS; Ravuri & Vinyals 2019).

A fixed classifier (the domain architecture, a fixed recipe and seed) is trained only on
labelled synthetic images and tested on the real test set; beside it the same classifier is
trained on as many real training images, drawn (seeded) with the real class mix, so the gap
between `cas_accuracy` and `real_accuracy` is what the synthetic data cost, a class the
generator drops or over-produces included. Every trained accuracy is cached by the content
hash of its training and test images and its recipe: the real baseline is trained once per
data set and sample count, and scoring the same images again trains nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.models.classifiers import (
    ClassifierTraining,
    build_classifier,
    classifier_arch,
    classifier_steps,
    train_classifier,
    training_summary,
)
from ganflow.tasks.evaluate.classification import predict
from ganflow.tasks.evaluate.extractors import stratified_subset
from ganflow.tasks.io import DATA_DIR, digest, read_keyed_json, write_json
from ganflow.tasks.progress import StepProgress, say

CAS_VERSION = 3  # 1: a real baseline with the samples' class counts; 2: the real class mix;
# 3: the time cap no longer cuts training below min_steps
CAS_ACCURACY = "cas_accuracy"
REAL_ACCURACY = "real_accuracy"


def cas_recipe(
    seed: int = 0, min_steps: int = 200, max_seconds: float | None = 20.0
) -> ClassifierTraining:
    """The CAS classifier's recipe: up to 30 epochs (at least `min_steps` steps), stopped
    early on a held-out tenth of its training images, or, past `min_steps`, fitted to
    `max_seconds` (the learning rate then decays over the steps that fit)."""
    return ClassifierTraining(min_steps=min_steps, seed=seed, max_seconds=max_seconds)


def _cache_key(arrays: tuple[torch.Tensor, ...], arch: str, recipe: ClassifierTraining) -> str:
    return digest(f"cas-v{CAS_VERSION}-{arch}", json.dumps(asdict(recipe), sort_keys=True), *arrays)


def accuracy_of_trained(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    recipe: ClassifierTraining,
    device: str,
    report: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    what: str = "CAS classifier",
    arch: str | None = None,
) -> float:
    """Test accuracy of the fixed classifier (`arch`; None: the domain's, lenet or resnet)
    trained on (x_train, y_train) (labels, or class probabilities (N, K)), from the cache
    when these images were scored with this recipe before; `report`, when given, is filled
    with how the training went (steps, epochs, why it stopped, seconds; `cached`)."""
    shape = tuple(x_train.shape[1:])
    arch = arch or classifier_arch(shape)  # type: ignore[arg-type]
    key = _cache_key((x_train, y_train, x_test, y_test), arch, recipe)
    path = Path(cache_dir or DATA_DIR / "cache" / "cas") / f"{key[:32]}.json"
    user = ":" in arch  # a user's module may change under the same name: never cached
    hit = None if user else read_keyed_json(path, key)
    if hit is not None:
        if report is not None:
            report.update(hit["trained"], cached=str(path))
        return float(hit["accuracy"])
    model = build_classifier(arch, shape, num_classes, recipe.seed)  # type: ignore[arg-type]
    bar = StepProgress(f"{what} ({len(x_train)} images)", classifier_steps(len(x_train), recipe))
    done = train_classifier(model, x_train, y_train, recipe, device, [bar])
    pred = predict(model, x_test, device).argmax(1)
    acc = float((pred == y_test).double().mean())
    if not user:
        write_json(path, {"key": key, "accuracy": acc, "trained": done})
    say(f"{what}: {training_summary(done)}, test accuracy {100 * acc:.2f} %")
    if report is not None:
        report.update(done, cached=False)
    return acc


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
    max_seconds: float | None = 20.0,
) -> dict[str, Any]:
    """{cas_accuracy, real_accuracy, protocol}. x_real/y_real: the real training pool the
    baseline's images are drawn from (real_baseline=False: x_syn is itself real, and
    real_accuracy is cas_accuracy)."""
    if len(x_syn) == 0:
        raise ValueError("no labelled synthetic images to train on")
    counts = np.bincount(y_syn.numpy(), minlength=num_classes)
    recipe = cas_recipe(seed, min_steps, max_seconds)
    reports: dict[str, dict[str, Any]] = {"synthetic": {}, "real": {}}
    cas = accuracy_of_trained(x_syn, y_syn, x_test, y_test, num_classes, recipe, device,
                              reports["synthetic"], what="CAS classifier on the samples")  # fmt: skip
    if real_baseline:
        idx = stratified_subset(y_real.numpy(), len(x_syn), seed)
        real = accuracy_of_trained(x_real[idx], y_real[idx], x_test, y_test, num_classes, recipe,
                                   device, reports["real"], what="CAS classifier on real images")  # fmt: skip
    else:  # the "synthetic" images are real ones (the floor): they are their own baseline
        real, idx = cas, np.arange(len(x_syn))
    protocol = {
        "classifier": classifier_arch(tuple(x_syn.shape[1:])),
        "training": asdict(recipe),  # type: ignore[arg-type]
        "trained": reports,
        "version": CAS_VERSION,
        "synthetic_count": len(x_syn),
        "synthetic_per_class": counts.tolist(),
        "real_count": len(idx),
        "real_draw": "the real class mix, seeded",
        "test_count": len(y_test),
    }
    return {CAS_ACCURACY: cas, REAL_ACCURACY: real, "protocol": protocol}
