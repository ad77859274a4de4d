"""Streams of real samples for adversarial training: the endless 2-D toy mixtures, or a data
set's training images (all of them, or a split's labelled subset) as step-pure batches in
[-1, 1], the range of a tanh generator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganflow.models.engine import IndexStream
from ganflow.tasks.data import toy
from ganflow.tasks.data.bundle import DataSpec, load_bundle, prepare
from ganflow.tasks.data.raw import UNLABELLED
from ganflow.tasks.data.sources import SourceOptions

RealBatch = Callable[[int], "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"]


@dataclass
class GANData:
    """What training needs from a data set: a step-pure real batch and the sample shape."""

    name: str
    shape: tuple[int, ...]  # of one sample as G makes it: (2,) toy, (C, S, S) images
    count: int | None  # training images (None: an endless toy stream)
    fingerprint: dict[str, Any]
    class_names: list[str] = field(default_factory=list)
    images: torch.Tensor | None = None  # (N, C, S, S) uint8
    labels: torch.Tensor | None = None  # (N,) int64 class of each image
    # (N,) how much each image counts: batches draw image i with probability weights[i] /
    # sum(weights), with replacement (the conditional GAN trained on a teacher's pseudo-labels
    # weighs each by the teacher's confidence); None: epochs of every image once
    weights: torch.Tensor | None = None

    def cache_identity(self) -> dict[str, Any]:
        """What a cache key takes from the data: its name, shape and fingerprint, no tensor."""
        return {
            "name": self.name,
            "shape": list(self.shape),
            "count": self.count,
            "fingerprint": self.fingerprint,
            "class_names": self.class_names,
        }

    def real(
        self, batch_size: int, seed: int, device: torch.device, flat: bool, labelled: bool = False
    ) -> RealBatch:
        """step -> real batch in [-1, 1]; (batch, labels) when `labelled` (conditional GANs)."""
        if self.images is None:

            def draw(step: int) -> torch.Tensor:
                g = torch.Generator().manual_seed(seed * 1_000_003 + step)
                return (toy.sample(self.name, batch_size, g) / toy.SCALE[self.name]).to(device)

            return draw
        if labelled and self.labels is None:
            raise ValueError(f"{self.name} has no labels: a conditional GAN needs labelled images")
        x = self.images.to(device)
        y = self.labels.to(device) if labelled else None
        if self.weights is None:
            stream = IndexStream(len(x), batch_size, seed)
        else:
            stream = _weighted_stream(self.weights, batch_size, seed)

        def batch(step: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
            i = stream(step).to(device)
            b = x[i].float() / 127.5 - 1.0  # uint8 -> [-1, 1] for G's tanh
            b = b.flatten(1) if flat else b
            return b if y is None else (b, y[i])

        return batch


def _weighted_stream(weights: torch.Tensor, batch_size: int, seed: int) -> Callable:
    """step -> (batch_size,) indices drawn in proportion to `weights`, the same for a step
    whatever came before it (a resumed run draws what it would have)."""
    w = weights.double().cpu()
    if w.dim() != 1 or not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or w.sum() <= 0:
        raise ValueError("sample weights must be finite, not negative and not all 0")

    def draw(step: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        return torch.multinomial(w, batch_size, replacement=True, generator=g)

    return draw


def load_data(
    name: str,
    source: SourceOptions | None = None,
    cache_dir: str | Path | None = None,
    labels_per_class: int | None = None,
    seed: int = 0,
) -> GANData:
    """A toy stream, or a data set's training images with their labels: all of them
    (labels_per_class None), or only the labelled subset of a split drawn with `seed`."""
    if name in toy.TOY_DATA:
        return GANData(name, (2,), None, {"id": f"toy-{name}"})
    spec = DataSpec(
        name=name,
        labels_per_class=labels_per_class or 1,
        seed=seed,
        source=source or SourceOptions(),
        min_classes=2 if labels_per_class else 1,
    )
    b = load_bundle(prepare(spec, cache_dir)["path"])
    x, y = b.x_train, b.y_train
    if b.class_names == [UNLABELLED]:  # a folder without classes: images alone
        return GANData(name, tuple(b.image_shape), len(x), {**b.fingerprint, "labels": "none"},
                       [], x, None)  # fmt: skip
    if labels_per_class is not None:
        x, y = x[b.labelled], y[b.labelled]
    fp = b.fingerprint if labels_per_class else {**b.fingerprint, "labels": "all"}
    return GANData(name, tuple(b.image_shape), len(x), fp, b.class_names, x, y)
