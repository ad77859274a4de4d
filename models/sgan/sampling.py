"""A trained SGAN run: its networks from a run record, and class-conditional samples through
the whole stack, x = G0(G1(y, z1), z0) (the registry's hooks)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models.images import to_uint8
from ganflow.models.sgan.config import SGANConfig
from ganflow.models.sgan.nets import build_models


def modules_for(cfg: SGANConfig, record: dict[str, Any]) -> dict[str, nn.Module]:
    return build_models(cfg, tuple(record["shape"]), record["seed"], record["num_classes"])


@torch.no_grad()
def generate(run: Any, labels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(n, C, S, S) in [-1, 1] of the given classes, the noise of both levels from g."""
    cfg, device, n = run.config, run.device, len(labels)
    z1, z0 = torch.rand(n, cfg.z1_dim, generator=g), torch.rand(n, cfg.z0_dim, generator=g)
    y = labels.to(device)
    return run.modules["G0"](run.modules["G1"](y, z1.to(device)), z0.to(device))


def sample(run: Any, n: int, labels: torch.Tensor | None, g: torch.Generator) -> tuple:
    if labels is None:
        labels = torch.randint(0, run.record["num_classes"], (n,), generator=g)
    return to_uint8(generate(run, labels, g), -1.0), labels.cpu(), None
