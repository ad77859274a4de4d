"""A trained translator over a folder: every image under the input folder, resized to the
model's side, translated and written as PNG under the output folder at the same relative
path (class subfolders carry over). Nothing is overwritten: the output folder must be new
or empty, and it is filled through a temporary folder renamed at the end."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.tasks.data.folders import IMAGE_EXTENSIONS, read_images
from ganflow.tasks.data.raw import DataError
from ganflow.tasks.progress import Progress
from ganflow.tasks.train.checkpoint import CheckpointError, load_run

DIRECTIONS = ("a2b", "b2a")


def _generator(run: Any, direction: str) -> tuple[torch.nn.Module, int, int]:
    """(generator, input channels, output channels) of the run in `direction`."""
    ca, cb = run.record["channels"]
    if run.family.name == "cyclegan":
        return (
            (run.modules["G_ab"], ca, cb) if direction == "a2b" else (run.modules["G_ba"], cb, ca)
        )
    if direction != "a2b":
        raise DataError("pix2pix translates one way only (a2b); b2a needs a CycleGAN run")
    return run.modules["G"], ca, cb


def translate_folder(
    checkpoint: str | Path,
    input_dir: str | Path,
    output_dir: str | Path,
    direction: str = "a2b",
    device: str = "cpu",
    batch_size: int = 64,
) -> dict[str, Any]:
    from PIL import Image

    from ganflow.models.image_batches import translate_images

    if direction not in DIRECTIONS:
        raise DataError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    run = load_run(checkpoint, device)
    if run.family.name not in ("pix2pix", "cyclegan"):
        raise CheckpointError(
            f"{checkpoint} is {run.family.title}, not an image-to-image translator"
        )
    G, cin, _ = _generator(run, direction)
    src, dst = Path(input_dir), Path(output_dir)
    if not src.is_dir():
        raise DataError(f"input folder {src} does not exist")
    files = sorted(
        p
        for p in src.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )
    if not files:
        raise DataError(f"input folder {src} holds no images")
    if dst.exists() and any(dst.iterdir()):
        raise DataError(f"output folder {dst} is not empty: nothing is overwritten; name a new one")
    size = int(run.image_shape[-1])
    tmp = dst.parent / f".{dst.name}.tmp-{os.getpid()}"
    bar = Progress(f"translate {direction}", len(files), "img")
    try:
        for i in range(0, len(files), batch_size):
            chunk = files[i : i + batch_size]
            out = translate_images(G, torch.from_numpy(read_images(chunk, size, cin)))
            for path, img in zip(chunk, out.numpy(), strict=True):
                target = tmp / path.relative_to(src).with_suffix(".png")
                target.parent.mkdir(parents=True, exist_ok=True)
                arr = img[0] if img.shape[0] == 1 else np.ascontiguousarray(img.transpose(1, 2, 0))
                Image.fromarray(arr).save(target)
            bar.update(len(chunk))
        bar.close(done=True)
        if dst.exists():
            dst.rmdir()  # empty, checked above
        os.rename(tmp, dst)
    except BaseException:
        bar.close(done=False)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"checkpoint": str(checkpoint), "direction": direction, "input": str(src),
            "output": str(dst), "count": len(files), "image_size": size}  # fmt: skip
