"""A trained progressive GAN: its networks from a run record, and its samples at the stage
the run reached (upsampled to the full side when it stopped before the last stage)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models.images import to_uint8, up
from ganflow.models.progan.config import ProGANConfig
from ganflow.models.progan.nets import build_models
from ganflow.models.progan.objective import schedule


def modules_for(cfg: ProGANConfig, record: dict[str, Any]) -> dict[str, nn.Module]:
    return build_models(cfg, tuple(record["shape"]), record["seed"])


@torch.no_grad()
def sample(run: Any, n: int, labels: torch.Tensor | None, g: torch.Generator) -> tuple:
    G = run.modules["G"]
    stages = len(G.sides)
    stage, alpha = schedule(
        max(run.step - 1, 0), run.record["total_steps"], stages, run.config.fade
    )
    x = G(torch.randn(n, run.config.z_dim, generator=g).to(run.device), stage, alpha)
    while x.shape[-1] < G.sides[-1]:
        x = up(x)
    return to_uint8(x, -1.0), None, None
