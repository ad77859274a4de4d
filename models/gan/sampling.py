"""A trained GAN run: its networks from a run record, and its samples (the registry's hooks;
`run` is a models.registry.Run)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.nets import build_models, network_shape
from ganflow.models.images import to_uint8


def sampler(models: dict[str, nn.Module]) -> nn.Module:
    """The generator to draw samples from: G's weight average when there is one, else G."""
    return models.get("G_ema", models["G"])


def truncated_normal(
    n: int, dim: int, threshold: float | None, g: torch.Generator | None = None
) -> torch.Tensor:
    """(n, dim) from N(0, I), every value beyond +-threshold drawn again until inside: BigGAN's
    truncation trick (Brock et al. 2019, section 3.1); None: the plain normal. Smaller
    thresholds trade variety for fidelity."""
    z = torch.randn(n, dim, generator=g)
    if threshold is None:
        return z
    if threshold <= 0:
        raise ValueError(f"the truncation threshold must be positive, got {threshold}")
    out = z.abs() > threshold
    while out.any():
        z[out] = torch.randn(int(out.sum()), generator=g)
        out = z.abs() > threshold
    return z


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
    if getattr(G, "num_classes", 0) and (labels is None or len(labels) != n):
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
    """Images of G's weight average (or G), from z truncated at run.truncation when it is set;
    a conditional G makes the labels it is given, and an acgan D gives its auxiliary
    classifier's probability of them as the confidence."""
    cfg, device, shape = run.config, run.device, tuple(run.record["shape"])
    z = truncated_normal(n, cfg.z_dim, run.truncation, g).to(device)
    if not cfg.conditional:
        return to_uint8(sampler(run.modules)(z).view(n, *shape), -1.0), None, None
    y = labels.to(device)
    x = sampler(run.modules)(z, y).view(n, *shape)
    conf = None
    if cfg.condition == "acgan":
        out = run.modules["D"](x.flatten(1) if cfg.arch == "mlp" else x, y)
        conf = out[2].softmax(1).gather(1, y[:, None])[:, 0].cpu()
    return to_uint8(x, -1.0), labels.cpu(), conf
