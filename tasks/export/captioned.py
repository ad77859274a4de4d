"""A trained StackGAN as an export source: Stage-II images drawn for a list of captions,
each caption in labels.csv and the manifest. Labelled by the class attribute where the
captions were made from attributes (the built-in set), else one class, "captioned"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganflow.models.stackgan.sampling import draw, noise
from ganflow.tasks.progress import Progress
from ganflow.tasks.train.checkpoint import CheckpointError, load_run
from ganflow.tasks.train.text_encoder import TextEncoder


def open_text2image(checkpoint: str | Path, device: str = "cpu") -> tuple[Any, TextEncoder]:
    """(run, its text encoder) of a StackGAN checkpoint (either stage)."""
    run = load_run(checkpoint, device, family="stackgan")
    if "text_encoder" not in run.extra:
        raise CheckpointError(f"{checkpoint} holds no text encoder")
    return run, TextEncoder.from_state(run.extra["text_encoder"], device)


def draw_for(run: Any, enc: TextEncoder, captions: list[str], seed: int,
             stage: int | None = None) -> torch.Tensor:  # fmt: skip
    """uint8 images (N, 3, S, S) for the captions at the run's last stage (or `stage`)."""
    stage = stage or run.record["stage"]
    G2 = run.modules["G2"] if stage == 2 else None
    phi = enc.encode(captions)
    low, high = draw(run.modules["G1"], G2, phi, noise(len(captions), run.config.z_dim, seed))
    return high if high is not None else low


class CaptionedSource:
    """An export source (tasks/export/writer.py) of images drawn for captions."""

    captioned = True

    def __init__(self, checkpoint: str | Path, captions: list[str], labels: list[int] | None,
                 device: str = "cpu", seed: int = 0) -> None:  # fmt: skip
        self.run, self.enc = open_text2image(checkpoint, device)
        self.captions, self.seed = captions, seed
        names = self.run.class_names
        self.class_names = list(names) if labels is not None and names else ["captioned"]
        self.labels = labels if labels is not None and names else [0] * len(captions)
        self.conditional = labels is not None and bool(names)
        self.kind = "stackgan"
        self.shape = tuple(self.run.image_shape)
        self.config = self.run.config.to_dict()
        self.data_name = self.run.record.get("data_name", "")
        self.data_fingerprint = self.run.record.get("data", "")

    def fill(self, w: Any, progress: Any = None, batch_size: int = 256) -> None:
        bar = Progress(f"export {w.tmp.parent.name}", len(self.captions), "img")
        for i in range(0, len(self.captions), batch_size):
            caps = self.captions[i : i + batch_size]
            x = draw_for(self.run, self.enc, caps, self.seed * 1_000_003 + i)
            w.add(x, torch.tensor(self.labels[i : i + batch_size]), None, caps)
            bar.update(len(caps))
        bar.close(done=True)
