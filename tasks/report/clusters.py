"""Pictures and the report of an adversarial autoencoder run: clusters (the paper's Fig. 9), the
2-D code of the test set coloured by class (Fig. 4 / section 7), style vs content (Fig. 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganflow.tasks.data.bundle import load_bundle
from ganflow.tasks.evaluate.clustering import (
    CLUSTER_ACCURACY,
    HUNGARIAN_ACCURACY,
    NMI,
    encode,
    encode_training_images,
    write_assignments,
)
from ganflow.tasks.report.figures import figure_png, image_grid, png_data_uri, save_png
from ganflow.tasks.train.checkpoint import load_run


@torch.no_grad()
def _decode(Dec: nn.Module, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
    Dec.eval()
    return torch.sigmoid(Dec(y, z)).cpu()  # (N, C, H, W) in [0, 1]


@torch.no_grad()
def cluster_png(
    Dec: nn.Module,
    k: int,
    z_dim: int,
    x: torch.Tensor,
    clusters: np.ndarray,
    confidence: np.ndarray,
    path: Path,
    members: int = 10,
) -> Path:
    """One row per cluster: its head (decoded from y = one-hot, z = 0), then the test images
    it holds with the highest confidence (blank where it holds fewer)."""
    device = next(Dec.parameters()).device
    heads = _decode(
        Dec, F.one_hot(torch.arange(k), k).float().to(device), torch.zeros(k, z_dim, device=device)
    )
    blank = torch.ones_like(heads[0])
    rows = []
    for c in range(k):
        idx = np.flatnonzero(clusters == c)
        idx = idx[np.argsort(-confidence[idx])][:members]
        imgs = [x[i].float() / 255.0 for i in idx] + [blank] * (members - len(idx))
        rows += [heads[c], *imgs]
    return save_png(image_grid(torch.stack(rows), nrow=members + 1), path)


@torch.no_grad()
def style_png(Dec: nn.Module, k: int, styles: torch.Tensor, path: Path) -> Path:
    """Style and content (Fig. 7): row r keeps the style z_r, column c sets y = one-hot(c)."""
    device = next(Dec.parameters()).device
    n = len(styles)
    y = F.one_hot(torch.arange(k).repeat(n), k).float().to(device)
    z = styles.to(device).repeat_interleave(k, dim=0)
    return save_png(image_grid(_decode(Dec, y, z), nrow=k), path)


def scatter_png(z: np.ndarray, labels: np.ndarray, class_names: list[str], path: Path) -> Path:
    """The test set's 2-D codes coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for c, name in enumerate(class_names):
        m = labels == c
        ax.scatter(z[m, 0], z[m, 1], s=3, color=cmap(c % cmap.N), label=name, alpha=0.7)
    ax.legend(markerscale=4, fontsize=6, loc="best")
    ax.set_title("test set, 2-D code")
    return figure_png(fig, path)


def samples_png(x: torch.Tensor, path: Path) -> Path:
    return save_png(image_grid(x[:100]), path)


def outputs(run_dir: Path, checkpoint: str, bundle_path: str) -> tuple[str, dict[str, Path]]:
    """assignments.csv (every training and test image) and the pictures, from one load and
    one encoding of each split."""
    run, b = load_run(checkpoint, family="aae"), load_bundle(bundle_path)
    cfg, dec = run.config, run.modules["Dec"]
    te = encode(run.modules["E"], b.x_test, "cpu")
    assignments, pics = "", {}
    if cfg.clusters:
        tr = encode_training_images(run, b, bundle_path, "cpu")
        ids = [f"train/{i}" for i in range(len(b.x_train))] + [
            f"test/{i}" for i in range(len(b.x_test))
        ]
        both = {k: np.concatenate([tr[k], te[k]]) for k in ("cluster", "confidence")}
        assignments = str(write_assignments(run_dir / "assignments.csv", ids, both))
        pics["clusters"] = cluster_png(
            dec,
            cfg.clusters,
            cfg.z_dim,
            b.x_test,
            te["cluster"],
            te["confidence"],
            run_dir / "clusters.png",
        )
        pics["style"] = style_png(
            dec, cfg.clusters, torch.from_numpy(te["z"][:10]), run_dir / "style.png"
        )
    if cfg.z_dim == 2:
        pics["scatter"] = scatter_png(
            te["z"], b.y_test.numpy(), b.class_names, run_dir / "scatter.png"
        )
    return assignments, pics


def fmt_mean_std(s: dict[str, Any] | None, pct: bool = True) -> str:
    """'m ± s' of a {'mean', 'std'} summary, in % when pct; '-' for None."""
    if s is None:
        return "-"
    f = 100.0 if pct else 1.0
    return f"{f * s['mean']:.2f} ± {f * s['std']:.2f}"


def markdown_report(summary: dict[str, Any], embed: bool = True) -> str:
    lines = [
        f"# Adversarial autoencoder ({summary['mode']}): {summary['data']}, {summary['clusters']} clusters",
        "",
        "| metric | mean ± std over seeds |",
        "|---|---|",
        f"| cluster accuracy % (train-majority mapping, test set) | {fmt_mean_std(summary[CLUSTER_ACCURACY])} |",
        f"| Hungarian accuracy % | {fmt_mean_std(summary[HUNGARIAN_ACCURACY])} |",
        f"| NMI | {fmt_mean_std(summary[NMI], pct=False)} |",
    ]
    if summary["mode"] == "semi-supervised":
        lines += [
            f"| AAE test error % | {fmt_mean_std(summary['test_error'])} |",
            f"| supervised-only baseline test error % | {fmt_mean_std(summary['baseline_test_error'])} |",
        ]
    lines += [
        "",
        f"Seeds {summary['seeds']}, {summary['epochs']} epochs; assignments: `{summary['assignments']}`.",
        "",
    ]
    titles = {
        "clusters": "Clusters (head, then members)",
        "style": "Style (rows) and content (columns)",
        "scatter": "2-D code",
    }
    for key, path in summary["pictures"].items():
        src = png_data_uri(Path(path)) if embed else Path(path).name
        lines += [f"## {titles[key]}", "", f"![{key}]({src})", ""]
    return "\n".join(lines)
