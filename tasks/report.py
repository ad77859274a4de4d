"""Run reports: pictures (sample grid, confusion matrix, training curves) and a markdown page
that embeds them, written into the run directory and published as a Prefect artifact."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.ssgan_nets import sample_z


def image_grid(images: torch.Tensor, scale: int = 0, nrow: int = 0) -> np.ndarray:
    """An (H, W, C) uint8 grid of images (N, C, H, W), uint8 or float in [0, 1], `nrow` images
    a row (0: square). Small images are upscaled (nearest) so that an 8x8 digit is still
    visible in a report."""
    from torchvision.utils import make_grid

    imgs = images.float() / 255.0 if images.dtype == torch.uint8 else images.float().clamp(0, 1)
    if scale == 0:
        scale = max(1, 32 // imgs.shape[-1])
    if scale > 1:
        imgs = torch.nn.functional.interpolate(imgs, scale_factor=scale, mode="nearest")
    nrow = nrow or int(np.ceil(np.sqrt(len(imgs))))
    grid = make_grid(imgs, nrow=nrow, padding=2, pad_value=1.0)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def sample_grid(
    generator: torch.nn.Module, z_dim: int, n: int = 100, seed: int = 0, scale: int = 0
) -> np.ndarray:
    """A grid of n generated images, drawn with a fixed noise seed."""
    device = next(generator.parameters()).device
    generator.eval()
    with torch.no_grad():
        z = sample_z(n, z_dim, "cpu", torch.Generator().manual_seed(seed)).to(device)
        imgs = generator(z).float().clamp(0, 1).cpu()  # (n, C, H, W)
    return image_grid(imgs, scale)


def save_png(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    img.save(path)
    return path


def _figure_png(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


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
    return _figure_png(fig, path)


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
    return _figure_png(fig, path)


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _pm(mean: float, std: float) -> str:
    return f"{100 * mean:.2f} ± {100 * std:.2f} %"


def markdown_report(summary: dict[str, Any], pictures: dict[str, Path], embed: bool = True) -> str:
    """The run's report page. Pictures are embedded as data URIs (embed=True, for the Prefect
    artifact) or linked by file name (for report.md beside them)."""

    def img(key: str, alt: str) -> str:
        if key not in pictures:
            return ""
        src = png_data_uri(pictures[key]) if embed else pictures[key].name
        return f"![{alt}]({src})\n"

    g, b = summary["gan"], summary["baseline"]
    lines = [
        f"# Semi-supervised classification: {summary['data']}, {summary['labels_per_class']} labels per class",
        "",
        "| model | test error (mean ± std over seeds) | per seed |",
        "|---|---|---|",
        f"| K+1 GAN | {_pm(g['test_error_mean'], g['test_error_std'])} | {', '.join(f'{100 * e:.2f}' for e in g['test_errors'])} |",
        f"| supervised baseline | {_pm(b['test_error_mean'], b['test_error_std'])} | {', '.join(f'{100 * e:.2f}' for e in b['test_errors'])} |",
        "",
        f"Seeds: {summary['seeds']}; data fingerprints: {', '.join(summary['fingerprints'])}; run directory: `{summary['run_dir']}`.",
        "",
        "## Per-class accuracy (first seed)",
        "",
        "| class | GAN | baseline |",
        "|---|---|---|",
    ]
    for name, ga, ba in zip(
        summary["class_names"], g["per_class_accuracy"], b["per_class_accuracy"], strict=True
    ):
        lines.append(
            f"| {name} | {'-' if ga is None else f'{100 * ga:.1f} %'} | {'-' if ba is None else f'{100 * ba:.1f} %'} |"
        )
    lines += ["", "## Generated samples (first seed)", "", img("samples", "generated samples")]
    lines += [
        "## Confusion matrices (first seed)",
        "",
        img("confusion_gan", "GAN confusion"),
        img("confusion_baseline", "baseline confusion"),
    ]
    lines += ["## Training curves", "", img("curves", "training curves")]
    return "\n".join(lines)


def write_report(
    run_dir: Path, summary: dict[str, Any], pictures: dict[str, Path]
) -> dict[str, str]:
    """report.md (pictures linked) and metrics.json in run_dir; returns their paths."""
    (run_dir / "report.md").write_text(markdown_report(summary, pictures, embed=False))
    (run_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    return {"report": str(run_dir / "report.md"), "metrics": str(run_dir / "metrics.json")}
