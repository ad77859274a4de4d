"""Run reports: pictures (sample grid, confusion matrix, training curves) and a markdown page
that embeds them, written into the run directory and published as a Prefect artifact."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.models.registry import Run
from ganflow.tasks.io import write_with


def image_grid(images: torch.Tensor, scale: int = 0, nrow: int = 0) -> np.ndarray:
    """An (H, W, C) uint8 grid of images (N, C, H, W), uint8 or float in [0, 1], `nrow` images
    a row (0: square). Small images are upscaled (nearest) so that an 8x8 digit is still
    visible in a report."""
    imgs = images.float() / 255.0 if images.dtype == torch.uint8 else images.float().clamp(0, 1)
    if scale == 0:
        scale = max(1, 32 // imgs.shape[-1])
    if scale > 1:
        imgs = torch.nn.functional.interpolate(imgs, scale_factor=scale, mode="nearest")
    nrow = nrow or int(np.ceil(np.sqrt(len(imgs))))
    grid = _tile(imgs, nrow, padding=2, pad_value=1.0)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _tile(imgs: torch.Tensor, nrow: int, padding: int, pad_value: float) -> torch.Tensor:
    """(3, H, W): the images in rows of `nrow`, `padding` pixels of pad_value around each
    (torchvision's make_grid layout, grey repeated to RGB, without importing torchvision)."""
    n, c, h, w = imgs.shape
    if c == 1:
        imgs = imgs.expand(-1, 3, -1, -1)
    cols = max(1, min(nrow, n))
    rows = -(-n // cols)
    hp, wp = h + padding, w + padding
    grid = torch.full((imgs.shape[1], rows * hp + padding, cols * wp + padding), pad_value)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[
            :, r * hp + padding : r * hp + padding + h, q * wp + padding : q * wp + padding + w
        ] = imgs[i]
    return grid


def labelled_rows(rows: list[tuple[str, torch.Tensor]], scale: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 picture of one row of images per (name, images (N, C, S, S)),
    each row named in a white margin on its left, so nobody has to guess which row is the
    input and which the translation."""
    from PIL import Image, ImageDraw, ImageFont

    tiles = [image_grid(x, scale, nrow=len(x)) for _, x in rows]  # RGB, grey repeated
    h = max(t.shape[0] for t in tiles)
    font_size = max(10, min(24, h // 4))
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    margin = 16 + max(int(measure.textlength(n, font=font)) for n, _ in rows)
    width = margin + max(t.shape[1] for t in tiles)
    canvas = Image.new("RGB", (width, sum(t.shape[0] for t in tiles)), "white")
    draw, y = ImageDraw.Draw(canvas), 0
    for (name, _), tile in zip(rows, tiles, strict=True):
        canvas.paste(Image.fromarray(tile), (margin, y))
        draw.text((8, y + tile.shape[0] // 2), name, fill="black", font=font, anchor="lm")
        y += tile.shape[0]
    return np.asarray(canvas)


def sample_grid(run: Run, n: int = 100, seed: int = 0, scale: int = 0) -> np.ndarray:
    """A grid of n images of a trained run (any family that samples), drawn with a fixed
    noise seed; a conditional run's cycle through its classes."""
    k = max(1, len(run.class_names))
    labels = torch.arange(n) % k if run.family.conditional(run) else None
    imgs, _, _ = run.family.sample(run, n, labels, torch.Generator().manual_seed(seed))
    return image_grid(imgs, scale)


def save_png(array: np.ndarray, path: Path) -> Path:
    """An (H, W, C) uint8 array as a PNG, written atomically."""
    from PIL import Image

    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    return write_with(path, lambda tmp: img.save(tmp, format="PNG"))


def figure_png(fig: Any, path: Path) -> Path:
    """A matplotlib figure as a PNG, written atomically; the figure is closed."""
    import matplotlib.pyplot as plt

    try:
        return write_with(
            path, lambda tmp: fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
        )
    finally:
        plt.close(fig)


def confusion_png(
    confusion: list[list[int]], class_names: list[str], path: Path, title: str
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    k = len(class_names)
    ax.set_xticks(range(k), class_names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(k), class_names, fontsize=7)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return figure_png(fig, path)


def curves_png(histories: dict[str, list[dict[str, float]]], path: Path) -> Path:
    """Training losses and validation error against step, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.5))
    for label, hist in histories.items():
        for key in sorted({k for h in hist for k in h if k.endswith("/loss")}):
            pts = [(h["step"], h[key]) for h in hist if key in h]
            ax_loss.plot(*zip(*pts, strict=True), label=f"{label} {key}", lw=1)
        pts = [
            (h["step"], h["val_error"])
            for h in hist
            if "val_error" in h and h["val_error"] == h["val_error"]
        ]
        if pts:
            ax_val.plot(*zip(*pts, strict=True), label=label, marker=".", lw=1)
    ax_loss.set_xlabel("step")
    ax_loss.set_title("training losses", fontsize=9)
    ax_loss.legend(fontsize=6)
    ax_val.set_xlabel("step")
    ax_val.set_title("validation error", fontsize=9)
    ax_val.legend(fontsize=6)
    return figure_png(fig, path)


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
