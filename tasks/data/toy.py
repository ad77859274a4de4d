"""The mode-collapse benchmark's 2-D data and its scores.

Data and protocol follow VEEGAN (Srivastava et al. 2017, section 5.1, Table 1), whose
settings PacGAN (Lin et al. 2018, section 5) reuses:
- ring: 8 Gaussians with means on the unit circle, (cos 2 pi i / 8, sin 2 pi i / 8), std 0.01;
- grid: 25 Gaussians with means (-4 + 2i, -4 + 2j), i, j in 0..4, std 0.05;
- 2,500 samples are drawn from the trained generator; a sample is *high quality* when it lies
  within three standard deviations of its nearest mode centre; a mode is *captured* when it
  is the nearest centre of at least one high-quality sample.
"""

from __future__ import annotations

import math
from typing import Any

import torch

TOY_DATA = ("ring", "grid")
# The networks see the data divided by this, so both sets span about [-2, 2] (Metz et al. 2016
# scale D's input for the same reason); samples are scaled back before scoring.
SCALE = {"ring": 1.0, "grid": 2.0}
EVAL_SAMPLES = 2500
MODES = "modes"
HQ = "hq"

# published figures (mean over their seeds): VEEGAN Table 1 and PacGAN Table 2 ("2D-grid")
PUBLISHED: dict[str, dict[str, float | None]] = {
    "GAN (VEEGAN Table 1)": {
        "ring_modes": 1.0,
        "ring_hq": 0.993,
        "grid_modes": 3.3,
        "grid_hq": 0.005,
    },
    "ALI (VEEGAN Table 1)": {
        "ring_modes": 2.8,
        "ring_hq": 0.0013,
        "grid_modes": 15.8,
        "grid_hq": 0.016,
    },
    "Unrolled GAN (VEEGAN Table 1)": {
        "ring_modes": 7.6,
        "ring_hq": 0.356,
        "grid_modes": 23.6,
        "grid_hq": 0.16,
    },
    "VEEGAN (VEEGAN Table 1)": {
        "ring_modes": 8.0,
        "ring_hq": 0.529,
        "grid_modes": 24.6,
        "grid_hq": 0.40,
    },
    "PacGAN4 (PacGAN Table 2)": {
        "ring_modes": None,
        "ring_hq": None,
        "grid_modes": 24.8,
        "grid_hq": 0.936,
    },
}


def centres(name: str) -> tuple[torch.Tensor, float]:
    """(K, 2) mode centres and the per-coordinate std of the named mixture."""
    if name == "ring":
        a = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return torch.stack([a.cos(), a.sin()], 1), 0.01
    if name == "grid":
        g = torch.arange(-4.0, 5.0, 2.0, dtype=torch.float64)
        return torch.cartesian_prod(g, g), 0.05
    raise ValueError(f"unknown toy data {name!r}; choose from {TOY_DATA}")


def sample(name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n points from the mixture (equal weights): (n, 2) float32."""
    c, std = centres(name)
    idx = torch.randint(len(c), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return (c[idx] + std * noise).float()


def mode_scores(points: torch.Tensor, name: str) -> dict[str, Any]:
    """VEEGAN's scores of generated points (N, 2): modes captured, the fraction of
    high-quality samples, and how many high-quality samples each mode got."""
    if points.dim() != 2 or points.shape[1] != 2:
        raise ValueError(f"toy scores need (N, 2) points, got {tuple(points.shape)}")
    c, std = centres(name)
    p = points.double()
    finite = torch.isfinite(p).all(1)
    dist = torch.cdist(p[finite], c)  # (N', K)
    nearest_d, nearest = dist.min(1)
    hq = nearest_d < 3 * std
    per_mode = torch.bincount(nearest[hq], minlength=len(c))
    return {
        MODES: int((per_mode > 0).sum()),
        HQ: float(hq.sum()) / max(1, len(points)),
        "per_mode": per_mode.tolist(),
        "max_modes": len(c),
    }
