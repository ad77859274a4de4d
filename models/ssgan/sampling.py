"""A trained K+1 GAN run: its networks from a run record, the weights it is evaluated with,
and its samples (the registry's hooks; `run` is a models.registry.Run)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models.images import to_uint8
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.models.ssgan.nets import build_models, sample_z


def modules_for(cfg: SSGANConfig, record: dict[str, Any]) -> dict[str, nn.Module]:
    """The networks of a run with this record (a checkpoint's config entry)."""
    c, side = record["image_shape"][0], record["image_shape"][-1]
    return build_models(cfg, c, record["num_classes"], record["seed"], side)


def load_for_eval(modules: dict[str, nn.Module], state: dict[str, Any]) -> None:
    """D's weights (its EMA's where the run kept one: that is what it is scored with) and
    G's; a baseline run has no G, and loses the module."""
    modules["D"].load_state_dict(state["D"])
    if "ema_d" in state:
        modules["D"].load_state_dict(state["ema_d"]["shadow"])
    if "G" in state:
        modules["G"].load_state_dict(state["G"])
    else:
        del modules["G"]


def why_not_sampled(run: Any) -> str | None:
    return None if "G" in run.modules else "a supervised baseline: it has no generator"


@torch.no_grad()
def sample(
    run: Any, n: int, labels: torch.Tensor | None, g: torch.Generator, labelled: bool = True
) -> tuple:
    """G is unconditional: the label of each image is the run's own classifier's prediction
    and the confidence its softmax probability over the K real classes (section 5).
    labelled False: the images alone, (x, None, None), for a caller that labels them itself
    (an export's teacher), so D does not run twice."""
    G, D, device = run.modules["G"], run.modules["D"], run.device
    z = sample_z(n, run.config.z_dim, "cpu", g).to(device)
    x = G(z).float().clamp(0, 1)  # (n, C, H, W) in [0, 1]
    if not labelled:
        return to_uint8(x, 0.0), None, None
    conf, y = D(x)[0].softmax(1).max(1)
    return to_uint8(x, 0.0), y.cpu(), conf.cpu()
