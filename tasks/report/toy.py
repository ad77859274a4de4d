"""The toy-mixture picture: 2-D histograms of a generator's samples through training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganflow.tasks.data import toy
from ganflow.tasks.report.figures import figure_png


def heatmaps_png(
    snapshots: list[tuple[int, torch.Tensor]], name: str, path: Path, title: str = ""
) -> Path:
    """A row of 2-D histograms (log density) of G's samples at several steps, the mode
    centres marked: the picture of Metz et al. 2016, Fig. 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c, _ = toy.centres(name)
    lim = 1.5 if name == "ring" else 5.5
    n = len(snapshots)
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.4), squeeze=False)
    for ax, (step, pts) in zip(axes[0], snapshots, strict=True):
        h, _, _ = np.histogram2d(
            pts[:, 0].numpy(), pts[:, 1].numpy(), bins=100, range=[[-lim, lim], [-lim, lim]]
        )
        ax.imshow(np.log1p(h.T), origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma")
        ax.scatter(c[:, 0], c[:, 1], s=6, c="cyan", marker="+", linewidths=0.6)
        ax.set_title(f"step {step}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_png(fig, path)
