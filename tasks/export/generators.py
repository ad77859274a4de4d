"""A trained run as a source of labelled synthetic images, for export.

Any family the registry can sample from feeds an export. A draw gives uint8 images
(n, C, H, W), their labels (n,) and a confidence (n,) or None; what the label means is the
family's (models/registry.py): the condition asked for (conditional GAN, semi-supervised
AAE), or the run's own classifier's prediction (K+1 GAN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganflow.models.registry import PREDICTED, Run
from ganflow.tasks.data.bundle import recorded_source
from ganflow.tasks.train.checkpoint import CheckpointError, load_run


class GeneratorSource:
    """What an export needs from a trained run: class names, image shape, config, data,
    and draw(labels, n, generator)."""

    def __init__(self, run: Run, checkpoint: Path) -> None:
        self.run = run
        self.kind = run.family.name
        # True: draw() makes the labels it is given; False: it names them itself
        self.conditional = run.family.conditional(run)
        # its sampler labels the images with its own classifier (the K+1 GAN)
        self.predicted = run.family.labels(run) == PREDICTED
        self.class_names = list(run.class_names)
        self.shape = tuple(run.image_shape)
        self.config: dict[str, Any] = run.config.to_dict()
        self.data_name = run.record.get("data_name") or run.fingerprint.get("source", "")
        self.data_fingerprint = run.record.get("data", "")
        self.source = recorded_source(run.fingerprint)  # how its data set was read

    def draw(
        self, labels: torch.Tensor | None, n: int, g: torch.Generator, label: bool = True
    ) -> tuple:
        """(images, labels, confidences); label False (a teacher labels them): a sampler that
        names its images' classes itself skips that and gives (images, None, None)."""
        if not label and self.predicted:
            return self.run.family.sample(self.run, n, labels, g, labelled=False)
        return self.run.family.sample(self.run, n, labels, g)


def open_generator(checkpoint: str | Path, device: str = "cpu") -> GeneratorSource:
    """The run behind a checkpoint.pt as a GeneratorSource, or a clear error saying why it
    cannot feed an export."""
    path = Path(checkpoint)
    run = load_run(path, device)
    fam = run.family
    why = fam.cannot_sample(run)
    if why is None and fam.labels(run) is None:
        why = (
            f"an unconditional run of {fam.title}: its samples have no labels to export; "
            "train a conditional one (for a GAN: --condition projection, concat or acgan)"
        )
    if why is not None:
        raise CheckpointError(f"{path} cannot feed an export: it is {why}")
    src = GeneratorSource(run, path)
    if not src.class_names:
        raise CheckpointError(f"{path} does not record its class names")
    return src
