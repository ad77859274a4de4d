"""A trained LAPGAN run: its networks from a run record, and the coarse-to-fine sampler
(Denton et al. 2015, figure 1): I_K = G_K(z), then I_k = u(I_{k+1}) + G_k(z_k, u(I_{k+1}))."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models.images import to_uint8, up
from ganflow.models.lapgan.config import LAPGANConfig
from ganflow.models.lapgan.nets import build_models


def modules_for(cfg: LAPGANConfig, record: dict[str, Any]) -> dict[str, nn.Module]:
    return build_models(cfg, tuple(record["shape"]), record["seed"])


@torch.no_grad()
def coarse_to_fine(
    models: dict[str, nn.Module], cfg: LAPGANConfig, n: int, g: torch.Generator
) -> list[torch.Tensor]:
    """[I_K, ..., I_0]: the image at every level, coarsest first, each in [-1, 1]."""
    device = next(models["G0"].parameters()).device
    top = cfg.levels - 1
    img = models[f"G{top}"](torch.randn(n, cfg.z_dim, generator=g).to(device))
    out = [img]
    for k in reversed(range(top)):
        low = up(img)
        z = torch.randn(n, 1, low.shape[-2], low.shape[-1], generator=g).to(device)
        img = (low + models[f"G{k}"](z, low)).clamp(-1.0, 1.0)
        out.append(img)
    return out


def sample(run: Any, n: int, labels: torch.Tensor | None, g: torch.Generator) -> tuple:
    """Images of the full pyramid (the finest level), unlabelled."""
    return to_uint8(coarse_to_fine(run.modules, run.config, n, g)[-1], -1.0), None, None
