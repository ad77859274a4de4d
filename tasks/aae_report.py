"""Pictures of an adversarial autoencoder: clusters (the paper's Fig. 9), the 2-D code of the
test set coloured by class (Fig. 4 / section 7), and style vs content (Fig. 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tasks.report import _figure_png, image_grid, save_png


@torch.no_grad()
def _decode(Dec: nn.Module, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
    Dec.eval()
    return torch.sigmoid(Dec(y, z)).cpu()  # (N, C, H, W) in [0, 1]


@torch.no_grad()
def cluster_png(Dec: nn.Module, k: int, z_dim: int, x: torch.Tensor, clusters: np.ndarray,
                confidence: np.ndarray, path: Path, members: int = 10) -> Path:  # fmt: skip
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
    return save_png(_grid(torch.stack(rows), members + 1), path)


def _grid(imgs: torch.Tensor, ncol: int) -> np.ndarray:
    from torchvision.utils import make_grid

    scale = max(1, 32 // imgs.shape[-1])
    if scale > 1:
        imgs = F.interpolate(imgs, scale_factor=scale, mode="nearest")
    grid = make_grid(imgs, nrow=ncol, padding=2, pad_value=1.0)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@torch.no_grad()
def style_png(Dec: nn.Module, k: int, styles: torch.Tensor, path: Path) -> Path:
    """Style and content (Fig. 7): row r keeps the style z_r, column c sets y = one-hot(c)."""
    device = next(Dec.parameters()).device
    n = len(styles)
    y = F.one_hot(torch.arange(k).repeat(n), k).float().to(device)
    z = styles.to(device).repeat_interleave(k, dim=0)
    return save_png(_grid(_decode(Dec, y, z), k), path)


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
    return _figure_png(fig, path)


def samples_png(x: torch.Tensor, path: Path) -> Path:
    return save_png(image_grid(x[:100]), path)
