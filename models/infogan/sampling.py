"""A trained InfoGAN run: its networks from a run record, its samples, the reader of its
categorical code (a clustering of real images), and the latent traversal of the paper's
figures (the registry's hooks; `run` is a models.registry.Run)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models.images import to_uint8
from ganflow.models.infogan.config import InfoGANConfig
from ganflow.models.infogan.nets import CodeReader, build_models
from ganflow.models.infogan.objective import code_vector, draw_codes


def modules_for(cfg: InfoGANConfig, record: dict[str, Any]) -> dict[str, nn.Module]:
    return build_models(cfg, tuple(record.get("image_shape") or record["shape"]), record["seed"])


@torch.no_grad()
def sample(run: Any, n: int, labels: torch.Tensor | None, g: torch.Generator) -> tuple:
    """Images of G from random z and codes; the codes are not classes: no labels."""
    codes = draw_codes(run.config, n, g, torch.device("cpu"))
    x = run.modules["G"](codes["z"].to(run.device), codes["c"].to(run.device))
    return to_uint8(x, -1.0), None, None


def encoder(run: Any) -> nn.Module | None:
    """Q's categorical code read from real images in [0, 1]: (logits (N, K), means (N, L))."""
    return CodeReader(run.modules["D"], run.modules["Q"]) if run.config.categorical else None


@torch.no_grad()
def traversal(
    G: nn.Module, cfg: InfoGANConfig, code: int, columns: int = 10, span: float = 2.0, seed: int = 0
) -> torch.Tensor:
    """The paper's figure 2: rows are the values of the categorical code (one row when there
    is none), columns vary continuous code `code` from -span to span (beyond the training
    range U(-1, 1), as the paper does) with the other codes at 0 and one z for the whole
    figure. -> (rows * columns, C, S, S) in [-1, 1]."""
    if not 0 <= code < cfg.continuous:
        raise ValueError(f"continuous code {code} does not exist (the run has {cfg.continuous})")
    device = next(G.parameters()).device
    rows = max(cfg.categorical, 1)
    z = torch.randn(1, cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    cont = torch.zeros(rows, columns, cfg.continuous)
    cont[:, :, code] = torch.linspace(-span, span, columns)
    cat = torch.arange(rows).repeat_interleave(columns) if cfg.categorical else None
    c = code_vector(cfg, cat, cont.reshape(rows * columns, cfg.continuous))
    was = G.training
    G.eval()
    x = G(z.expand(rows * columns, -1).to(device), c.to(device))
    G.train(was)
    return x.cpu()
