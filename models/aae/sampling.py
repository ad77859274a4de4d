"""A trained AAE run: its networks from a run record, and (semi-supervised) its samples
(the registry's hooks; `run` is a models.registry.Run)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models.aae.config import AAEConfig
from ganflow.models.aae.nets import build_models
from ganflow.models.aae.priors import sample_prior
from ganflow.models.images import to_uint8


def modules_for(cfg: AAEConfig, record: dict[str, Any]) -> dict[str, nn.Module]:
    return build_models(tuple(record["image_shape"]), cfg, record["num_classes"], record["seed"])


def why_not_sampled(run: Any) -> str | None:
    if run.kind != "aae-semi":
        return (
            "an unsupervised AAE: its clusters are not classes; use a semi-supervised one "
            "(ganflow cluster --labels-per-class N)"
        )
    return None


@torch.no_grad()
def sample(run: Any, n: int, labels: torch.Tensor, g: torch.Generator) -> tuple:
    """The decoder of (one-hot y, z ~ p(z)) (section 5): the label of each image is y."""
    cfg, device = run.config, run.device
    z = sample_prior(n, cfg, labels, generator=g, device=device)
    y = F.one_hot(labels, cfg.clusters).float().to(device)
    x = torch.sigmoid(run.modules["Dec"](y, z))
    return to_uint8(x, 0.0), labels.cpu(), None
