"""LAPGAN's objective: one independent GAN per pyramid level (Denton et al. 2015, section
3.2), each with the non-saturating loss, trained on the same real batch's pyramid: level k's
D sees real residuals h_k with their real low-pass l_k = u(I_{k+1}) against G_k(z_k, l_k);
the coarsest pair is an unconditional GAN on I_K. Phases d<k>, g<k> for every level."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ganflow.models import losses
from ganflow.models.engine import Batch, Phase, Training, adam
from ganflow.models.images import down, up
from ganflow.models.lapgan.config import LAPGANConfig
from ganflow.models.lapgan.pyramid import laplacian_pyramid

RealBatch = Callable[[int], torch.Tensor]


def _seeded(seed: int, step: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + step) * 31 + 1)


class LAPGANBatches:
    """Batch t: the real pyramid (h_0 .. h_{K-1}, I_K), the low-pass images l_k = u(I_{k+1}),
    the coarse noise z and one noise plane per residual level, seeded by (seed, t)."""

    def __init__(self, cfg: LAPGANConfig, real: RealBatch, seed: int, device: torch.device):
        self.cfg, self.real, self.seed, self.device = cfg, real, seed, device

    def __call__(self, step: int) -> Batch:
        x = self.real(step)  # (N, C, S, S) in [-1, 1]
        g = _seeded(self.seed, step, self.device)
        pyr = laplacian_pyramid(x, self.cfg.levels)
        batch = {
            "coarse": pyr[-1],
            "z": torch.randn(len(x), self.cfg.z_dim, generator=g, device=self.device),
        }
        low = x
        for k in range(self.cfg.levels - 1):
            low = down(low)
            batch[f"h{k}"] = pyr[k]
            batch[f"l{k}"] = up(low)
            side = pyr[k].shape[-1]
            batch[f"z{k}"] = torch.randn(len(x), 1, side, side, generator=g, device=self.device)
        return batch


class LAPGANObjective:
    """d(k) and g(k) for each level k: the non-saturating GAN losses of that level's pair."""

    def __init__(self, models: dict[str, nn.Module], cfg: LAPGANConfig) -> None:
        self.m, self.top = models, cfg.levels - 1

    def fake(self, k: int, batch: Batch) -> torch.Tensor:
        G = self.m[f"G{k}"]
        return G(batch["z"]) if k == self.top else G(batch[f"z{k}"], batch[f"l{k}"])

    def judge(self, k: int, x: torch.Tensor, batch: Batch) -> torch.Tensor:
        D = self.m[f"D{k}"]
        return D(x)[0] if k == self.top else D(x, batch[f"l{k}"])[0]

    def real(self, k: int, batch: Batch) -> torch.Tensor:
        return batch["coarse"] if k == self.top else batch[f"h{k}"]

    def d(self, k: int) -> Callable:
        def loss(batch: Batch, step: int):
            with torch.no_grad():
                fake = self.fake(k, batch)
            adv = losses.d_minimax(
                self.judge(k, self.real(k, batch), batch), self.judge(k, fake, batch)
            )
            return adv, {"adv": adv}

        return loss

    def g(self, k: int) -> Callable:
        def loss(batch: Batch, step: int):
            adv = losses.g_nonsaturating(self.judge(k, self.fake(k, batch), batch))
            return adv, {"adv": adv}

        return loss


def build_training(
    models: dict[str, nn.Module], cfg: LAPGANConfig, real: RealBatch, seed: int
) -> Training:
    """Phases d<k>, g<k> from the coarsest level to the finest, Adam (lr, beta1) each."""
    obj = LAPGANObjective(models, cfg)
    phases, stateful = [], dict(models)
    for k in reversed(range(cfg.levels)):
        for who, fn in (("d", obj.d(k)), ("g", obj.g(k))):
            net = models[f"{who.upper()}{k}"]
            opt = adam(net.parameters(), cfg.lr, (cfg.beta1, 0.999))
            phases.append(Phase(f"{who}{k}", [net], opt, fn))
            stateful[f"opt_{who}{k}"] = opt
    device = next(models["G0"].parameters()).device
    return Training(phases, LAPGANBatches(cfg, real, seed, device), stateful)
