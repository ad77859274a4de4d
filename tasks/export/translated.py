"""A trained translator over a folder: every image under the input folder, centre-cropped
and resized to the model's side as training read it, translated and written as PNG under
the output folder at the same relative path (class subfolders carry over). With keep_size
the whole image (not its centre square) is resized to the side, translated, and resized
back to its own width x height. Nothing is overwritten: the output folder must be new or
empty, and it is filled through a temporary folder renamed at the end."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.tasks.data.decode import square_array
from ganflow.tasks.data.folders import image_files, read_images
from ganflow.tasks.data.raw import DataError
from ganflow.tasks.data.safefiles import check_tree, open_image
from ganflow.tasks.io import check_new_output
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


class TranslatedFolder:
    """A translated folder as an export source: the images in file order, labelled by their
    class subfolder (one class, "unlabelled", when the images sit in the folder itself)."""

    conditional = False

    def __init__(self, run: Any, direction: str, src: Path, files: list[Path]) -> None:
        self.run, self.direction, self.src, self.files = run, direction, src, files
        classes = sorted(
            {p.relative_to(src).parts[0] for p in files if len(p.relative_to(src).parts) > 1}
        )
        self.class_names = classes if classes else ["unlabelled"]
        self.kind = run.family.name
        self.G, self.cin, cout = _generator(run, direction)
        size = int(run.image_shape[-1])
        self.shape = (cout, size, size)
        self.config = {**run.config.to_dict(), "direction": direction, "input": str(src)}
        self.data_name = run.record.get("data_name", "")
        self.data_fingerprint = run.record.get("data", "")

    def label(self, path: Path) -> int:
        parts = path.relative_to(self.src).parts
        return self.class_names.index(parts[0]) if len(parts) > 1 else 0

    def batches(self, batch_size: int = 64, keep_size: bool = False):
        """(paths, translated uint8 (n, C, S, S), each input's (width, height) or None) in
        file order; keep_size reads each whole image squashed to the side instead of its
        centre square."""
        from ganflow.models.image_batches import translate_images

        side = self.shape[-1]
        for i in range(0, len(self.files), batch_size):
            chunk = self.files[i : i + batch_size]
            if keep_size:
                x, sizes = _squashed(chunk, side, self.cin)
            else:
                x, sizes = read_images(chunk, side, self.cin, cache=False), None
            yield chunk, translate_images(self.G, torch.from_numpy(x)), sizes

    def fill(self, w: Any, progress: Any = None) -> None:
        bar = Progress(f"export {w.tmp.parent.name}", len(self.files), "img")
        for chunk, out, _ in self.batches():
            w.add(out, torch.tensor([self.label(p) for p in chunk]), None)
            bar.update(len(chunk))
        bar.close(done=True)


def _squashed(files: list[Path], side: int, channels: int) -> tuple[np.ndarray, list]:
    """uint8 (n, channels, side, side) of each whole image resized (antialiased) to side x
    side, and each one's (width, height)."""
    from PIL import Image

    mode = "L" if channels == 1 else "RGB"
    x = np.empty((len(files), channels, side, side), np.uint8)
    sizes = []
    for i, path in enumerate(files):
        im = open_image(path, mode)
        sizes.append(im.size)
        x[i] = square_array(im.resize((side, side), Image.Resampling.BILINEAR), side)
    return x, sizes


def export_translated(
    checkpoint: str | Path, input_dir: str | Path, name: str, direction: str = "a2b",
    device: str = "cpu", root: str | Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A new version of data set `name` (the export format: images/<class>/, labels.csv,
    manifest.json) holding the translated folder, its class subfolders as labels."""
    from ganflow.tasks.export.writer import export_dataset

    run, src, files = _open(checkpoint, input_dir, direction, device)
    return export_dataset(
        checkpoint, name, root=root, source=TranslatedFolder(run, direction, src, files)
    )


def _open(checkpoint: str | Path, input_dir: str | Path, direction: str, device: str) -> tuple:
    if direction not in DIRECTIONS:
        raise DataError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    src = Path(input_dir)  # the cheap checks first: no checkpoint is loaded for a bad folder
    if not src.is_dir():
        raise DataError(f"input folder {src} {'is a file' if src.exists() else 'does not exist'}")
    check_tree(src)
    files = image_files(src)
    if not files:
        raise DataError(f"input folder {src} holds no images")
    run = load_run(checkpoint, device)
    if run.family.name not in ("pix2pix", "cyclegan"):
        raise CheckpointError(
            f"{checkpoint} is {run.family.title}, not an image-to-image translator"
        )
    _generator(run, direction)  # pix2pix has one direction
    return run, src, files


def translate_folder(
    checkpoint: str | Path,
    input_dir: str | Path,
    output_dir: str | Path,
    direction: str = "a2b",
    device: str = "cpu",
    batch_size: int = 64,
    keep_size: bool = False,
) -> dict[str, Any]:
    from PIL import Image

    dst = check_new_output(output_dir, "--output", folder=True)
    run, src, files = _open(checkpoint, input_dir, direction, device)
    source = TranslatedFolder(run, direction, src, files)
    tmp = dst.parent / f".{dst.name}.tmp-{os.getpid()}"
    bar = Progress(f"translate {direction}", len(files), "img")
    try:
        for chunk, out, sizes in source.batches(batch_size, keep_size):
            for j, (path, img) in enumerate(zip(chunk, out.numpy(), strict=True)):
                target = tmp / path.relative_to(src).with_suffix(".png")
                target.parent.mkdir(parents=True, exist_ok=True)
                arr = img[0] if img.shape[0] == 1 else np.ascontiguousarray(img.transpose(1, 2, 0))
                im = Image.fromarray(arr)
                if sizes is not None and sizes[j] != im.size:
                    im = im.resize(sizes[j], Image.Resampling.BICUBIC)
                im.save(target)
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
            "output": str(dst), "count": len(files), "image_size": source.shape[-1],
            "keep_size": keep_size}  # fmt: skip
