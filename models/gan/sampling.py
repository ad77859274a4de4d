"""A trained GAN run: its networks from a run record, and its samples (the registry's hooks;
`run` is a models.registry.Run)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models.gan.conditional import ConditionalGenerator
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.nets import build_models, network_shape
from ganflow.models.images import to_uint8


def sampler(models: dict[str, nn.Module]) -> nn.Module:
    """The generator to draw samples from: G's weight average when there is one, else G."""
    return models.get("G_ema", models["G"])


def generate(
    G: nn.Module,
    n: int,
    z_dim: int,
    seed: int,
    batch_size: int = 1000,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """n samples of G in eval mode from seeded noise, on the CPU: (n, ...). A conditional G
    needs `labels` (n,), the class of each sample."""
    device = next(G.parameters()).device
    if isinstance(G, ConditionalGenerator) and (labels is None or len(labels) != n):
        raise ValueError("a conditional generator needs one label per sample")
    g = torch.Generator(device=device).manual_seed(seed)
    was = G.training
    G.eval()
    out = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - i), z_dim, generator=g, device=device)
            if labels is None:
                out.append(G(z).float().cpu())
            else:
                out.append(G(z, labels[i : i + len(z)].to(device)).float().cpu())
    G.train(was)
    return torch.cat(out)


def modules_for(cfg: GANConfig, record: dict[str, Any]) -> dict[str, nn.Module]:
    shape = network_shape(cfg, tuple(record["shape"]))
    return build_models(cfg, shape, record["seed"], record.get("num_classes", 0))


def why_not_sampled(run: Any) -> str | None:
    if len(run.record["shape"]) != 3:
        return f"trained on {run.record.get('data_name', 'toy')} points: it makes 2-D points, not images"
    return None


@torch.no_grad()
def sample(run: Any, n: int, labels: torch.Tensor | None, g: torch.Generator) -> tuple:
    """Images of G's weight average (or G); a conditional G makes the labels it is given,
    and an acgan D gives its auxiliary classifier's probability of them as the confidence."""
    cfg, device, shape = run.config, run.device, tuple(run.record["shape"])
    z = torch.randn(n, cfg.z_dim, generator=g).to(device)
    if not cfg.conditional:
        return to_uint8(sampler(run.modules)(z).view(n, *shape), -1.0), None, None
    y = labels.to(device)
    x = sampler(run.modules)(z, y).view(n, *shape)
    conf = None
    if cfg.condition == "acgan":
        out = run.modules["D"](x.flatten(1) if cfg.arch == "mlp" else x, y)
        conf = out[2].softmax(1).gather(1, y[:, None])[:, 0].cpu()
    return to_uint8(x, -1.0), labels.cpu(), conf
