"""Drawing images from a trained StackGAN: text embeddings and noise through Stage-I, then
Stage-II on Stage-I's image, both in eval mode (the conditioning is its mean)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models.engine import load_states
from ganflow.models.images import to_uint8
from ganflow.models.stackgan.config import StackGANConfig
from ganflow.models.stackgan.nets import build_models


def modules_for(cfg: StackGANConfig, record: dict) -> dict[str, nn.Module]:
    """The networks of a checkpoint's run record (the registry's build hook)."""
    return build_models(cfg, record["seed"])


def generator_weights(state: dict[str, Any], stage: int) -> dict[str, Any]:
    """The weights stage `stage`'s generator is evaluated with in a checkpoint's state: its
    average where the run kept one (g_ema), else its own."""
    average = state.get(f"ema_g{stage}")
    return average["shadow"] if average is not None else state[f"G{stage}"]


def load_for_eval(modules: dict[str, nn.Module], state: dict[str, Any]) -> None:
    """Each network's weights, each generator's those it is evaluated with: what the run is
    scored, sampled and exported with."""
    load_states(modules, state)
    for stage in (1, 2):
        modules[f"G{stage}"].load_state_dict(generator_weights(state, stage))


def noise(n: int, z_dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def draw(
    G1: nn.Module, G2: nn.Module | None, phi: torch.Tensor, z: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """phi (N, E), z (N, Z) -> (Stage-I uint8 (N, 3, S1, S1), Stage-II uint8 (N, 3, S2, S2)
    or None without G2), on the CPU."""
    device = next(G1.parameters()).device
    modes = [(m, m.training) for m in (G1, G2) if m is not None]
    for m, _ in modes:
        m.eval()
    low, high = [], []
    for i in range(0, len(phi), batch_size):
        p, zz = phi[i : i + batch_size].to(device), z[i : i + batch_size].to(device)
        x1, _, _ = G1(p, zz)
        low.append(to_uint8(x1, -1.0))
        if G2 is not None:
            x2, _, _ = G2(x1, p)
            high.append(to_uint8(x2, -1.0))
    for m, was in modes:
        m.train(was)
    empty = torch.empty(0, dtype=torch.uint8)
    stage2 = None if G2 is None else (torch.cat(high) if high else empty)
    return (torch.cat(low) if low else empty), stage2
