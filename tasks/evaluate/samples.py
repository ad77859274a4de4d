"""The samples an evaluation scores: drawn from a trained run of any family that makes images
(the registry's), or read from a folder, and stored once in the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganflow.models.registry import CONDITION, Run
from ganflow.tasks.data.folders import read_sample_folder
from ganflow.tasks.data.sources import DataError, RawData
from ganflow.tasks.evaluate.protocol import (
    EvalParams,
    data_name,
    device_of,
    load_reference,
    sample_count,
)
from ganflow.tasks.io import save_torch
from ganflow.tasks.progress import Progress
from ganflow.tasks.train.checkpoint import load_run


@torch.no_grad()
def sample_run(
    run: Run, n: int, g: torch.Generator, bar: Progress | None = None
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """n uint8 images of a run that samples, in chunks of 500: (images, each chunk's labels);
    a conditional run is given labels that cycle through its classes."""
    k, conditional = max(1, len(run.class_names)), run.family.conditional(run)
    xs, ys = [], []
    for i in range(0, n, 500):
        m = min(500, n - i)
        labels = torch.arange(i, i + m) % k if conditional else None
        x, y, _ = run.family.sample(run, m, labels, g)
        xs.append(x)
        ys.append(y)
        if bar is not None:
            bar.update(len(x))
    return torch.cat(xs), ys


@torch.no_grad()
def _generate(
    p: EvalParams, raw: RawData, n: int, device: str
) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """n images of a trained run of any family that can sample (the registry's), with the
    labels CAS trains on: the run's own (`labels="run"`: the condition a conditional run
    was given, balanced over the classes, or a K+1 GAN's own classifier's prediction), or
    none (`labels="domain"`, or a run whose samples carry none: the domain classifier's)."""
    if p.labels not in ("run", "domain"):
        raise ValueError(f"labels must be run or domain, got {p.labels!r}")
    run = load_run(p.checkpoint, device)
    fam = run.family
    why = fam.cannot_sample(run)
    if why is not None:
        raise DataError(f"{p.checkpoint} cannot be scored: it is {why}")
    if tuple(run.image_shape) != tuple(raw.train_x.shape[1:]):
        raise DataError(
            f"{p.checkpoint} makes {tuple(run.image_shape)} images but {data_name(p)} has "
            f"{tuple(raw.train_x.shape[1:])}: name the data set it was trained on with --data"
        )
    bar = Progress(f"sampling {fam.name} {run.kind}", n, "img")
    x, ys = sample_run(run, n, torch.Generator().manual_seed(p.seed), bar)
    bar.close()
    info = {
        "source": "checkpoint",
        "path": str(p.checkpoint),
        "family": fam.name,
        "kind": run.kind,
        "step": run.step,
        "count": n,
        "seed": p.seed,
    }
    how = fam.labels(run)
    if p.labels == "run" and how is not None:
        y = torch.cat(ys)
        info["labels"] = (
            "the condition each image was drawn with (balanced over the classes)"
            if how == CONDITION
            else "argmax of the run's own classifier"
        )
    else:
        y = None  # labelled by the domain classifier in `score`
        info["labels"] = "argmax of the domain classifier"
    return x, y, info


def draw_samples(p: EvalParams, run_dir: str | Path) -> dict[str, Any]:
    """Generate (or read) the samples once and store them in run_dir/samples.pt."""
    if (p.checkpoint is None) == (p.samples is None):
        raise ValueError(
            "give exactly one of a checkpoint (--checkpoint) or a sample folder (--samples)"
        )
    raw = load_reference(p)
    n = sample_count(p, raw)
    if p.checkpoint:
        x, y, info = _generate(p, raw, n, device_of(p))
    else:
        c, h, _ = raw.train_x.shape[1:]
        xs, ys = read_sample_folder(p.samples, raw.class_names, h, c)
        x, y = torch.from_numpy(xs), (torch.from_numpy(ys) if ys is not None else None)
        info = {
            "source": "folder",
            "path": str(p.samples),
            "count": len(x),
            "files_resized_to": [c, h, h],
            "labels": "class folders" if ys is not None else "none (no class folders)",
        }
    path = Path(run_dir) / "samples.pt"
    save_torch(path, {"x": x, "y": y, "info": info})
    return {"path": str(path), "info": info}
