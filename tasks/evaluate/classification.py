"""Evaluation: classifier predictions and classification metrics as pure functions.

Metric keys are constants so reports, JSON output and tests name them the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganflow.models.classifiers import channels_last

TEST_ERROR = "test_error"
ACCURACY = "accuracy"
PER_CLASS_ACCURACY = "per_class_accuracy"
CONFUSION = "confusion"


@torch.no_grad()
def _outputs(
    model: nn.Module, x: torch.Tensor, device: torch.device | str, batch_size: int
) -> list[tuple[torch.Tensor, ...]]:
    """The model's outputs in eval mode on uint8 or float images (N, C, H, W), batch by
    batch, each as a tuple of CPU float32 tensors."""
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        xb = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb.float()
        y = model(channels_last(xb))
        out.append(tuple(t.float().cpu() for t in (y if isinstance(y, tuple) else (y,))))
    return out


def predict(
    model: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu", batch_size: int = 500
) -> torch.Tensor:
    """Class logits (N, K) of a discriminator/classifier in eval mode, for uint8 or float
    images (N, C, H, W); computed in batches, returned on the CPU in float32."""
    out = [o[0] for o in _outputs(model, x, device, batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def predict_features(
    model: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu", batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class logits (N, K) and features (N, F) of a discriminator that returns both (the K+1
    GAN's), as predict computes the logits."""
    out = _outputs(model, x, device, batch_size)
    return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out])


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """C[i, j] = number of examples of true class i predicted as j."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int
) -> dict[str, Any]:
    """Test error, accuracy, per-class accuracy (NaN for a class absent from y_true) and the
    confusion matrix, from integer labels."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        raise ValueError("cannot score an empty test set")
    cm = confusion_matrix(y_true, y_pred, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(cm) / support, np.nan)
    acc = float(np.trace(cm) / cm.sum())
    return {
        TEST_ERROR: 1.0 - acc,
        ACCURACY: acc,
        PER_CLASS_ACCURACY: [None if np.isnan(v) else float(v) for v in per_class],
        CONFUSION: cm.tolist(),
    }


def evaluate_classifier(
    checkpoint: str | Path, bundle_path: str | Path, device: str = "cpu"
) -> dict[str, Any]:
    """Score a trained run's classifier (any family with one: the registry's) on the bundle's
    official test set."""
    from ganflow.tasks.data.bundle import load_bundle
    from ganflow.tasks.train.checkpoint import CheckpointError, load_run

    bundle = load_bundle(bundle_path)
    run = load_run(checkpoint, device)
    model = run.family.classifier(run)
    if model is None:
        raise CheckpointError(
            f"{checkpoint} holds no classifier: it is {run.family.title} of kind {run.kind}"
        )
    pred = predict(model, bundle.x_test, device).argmax(1).numpy()
    metrics = classification_metrics(bundle.y_test.numpy(), pred, bundle.num_classes)
    metrics["protocol"] = {
        "split": "test",
        "count": len(pred),
        "data": bundle.fingerprint["id"],
        "checkpoint": str(checkpoint),
    }
    return metrics
