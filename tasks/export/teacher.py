"""A trained classifier as the labeller of an export (distillation through data): the class
probabilities of each image, its label the most probable class and its confidence that
probability. The semi-supervised model's classifier (the K+1 GAN's discriminator, with its
EMA weights where the run kept them) knows more than a generator trained on the few labels,
so its labels, and its doubts, go with the images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganflow.tasks.evaluate.classification import predict
from ganflow.tasks.train.checkpoint import CheckpointError, load_run


class Teacher:
    """probs = teacher(x): float32 (n, K) class probabilities of uint8 images (n, C, H, W)."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", run: Any = None) -> None:
        """run: the checkpoint's run when the caller has loaded it already (not read again)."""
        run = run if run is not None else load_run(checkpoint, device)
        model = run.family.classifier(run)
        if model is None:
            raise CheckpointError(
                f"{checkpoint} is {run.family.title}, which has no classifier to label images "
                "(train a semi-supervised model: `ganflow semi-supervised`)"
            )
        self.model, self.device = model.eval(), device
        self.checkpoint = str(Path(checkpoint).resolve())
        self.class_names = list(run.class_names)
        self.image_shape = tuple(run.image_shape)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"the teacher classifies {self.image_shape} images, got {tuple(x.shape[1:])}"
            )
        return predict(self.model, x, self.device).softmax(1)

    def label(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(labels (n,), confidences (n,), probabilities (n, K)) of uint8 images."""
        p = self(x)
        conf, y = p.max(1)
        return y, conf, p
