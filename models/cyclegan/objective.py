"""CycleGAN's objective (Zhu et al. 2017, section 4, eq. 1-3, and 5.2) in three phases of
the engine, both directions of the translation in each:
  g:   L_G = LS(D_b(G(a)), 1) + LS(D_a(F(b)), 1)                       (least squares, 4.2)
           + lambda_cycle (|F(G(a) + n) - a|_1 + |G(F(b) + n) - b|_1)  (cycle consistency;
                                                    n ~ N(0, cycle_noise^2), 0 in the paper)
           + lambda_identity lambda_cycle (|G(b) - b|_1 + |F(a) - a|_1) (identity, 5.2)
  d_a: L = 1/2 [(D_a(a) - 1)^2 + D_a(pool_a(F(b)))^2]
  d_b: L = 1/2 [(D_b(b) - 1)^2 + D_b(pool_b(G(a)))^2]
with G = G_ab, F = G_ba. The discriminators see fakes through a 50-image replay pool
(section 4), so they also judge what the generators made some steps ago. The identity
term needs both domains to have the same number of channels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models import losses
from ganflow.models.cyclegan.config import CycleGANConfig
from ganflow.models.engine import Batch, Phase, Training, adam, linear_decay
from ganflow.models.regularizers import ImagePool


def g_least_squares(scores: torch.Tensor) -> torch.Tensor:
    """The generator's least-squares loss of the reference code: E (D(G(a)) - 1)^2."""
    return (scores - 1.0).pow(2).mean()


class CycleGANObjective:
    def __init__(
        self, models: dict[str, nn.Module], cfg: CycleGANConfig, pools: dict[str, ImagePool]
    ) -> None:
        self.m, self.cfg, self.pools = models, cfg, pools
        self.fakes: dict[str, torch.Tensor] = {}  # this step's G(a) and F(b), for the d phases

    def g(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        G, F, cfg = self.m["G_ab"], self.m["G_ba"], self.cfg
        a, b = batch["a"], batch["b"]
        fake_b, fake_a = G(a), F(b)  # (N, C_b, S, S), (N, C_a, S, S)
        adv = g_least_squares(self.m["D_b"](fake_b)) + g_least_squares(self.m["D_a"](fake_a))
        back_a, back_b = F(self._noisy(fake_b)), G(self._noisy(fake_a))
        cycle = (back_a - a).abs().mean() + (back_b - b).abs().mean()
        loss = adv + cfg.lambda_cycle * cycle
        terms = {"adv": adv.detach(), "cycle": cycle.detach()}
        if cfg.lambda_identity > 0:
            identity = (G(b) - b).abs().mean() + (F(a) - a).abs().mean()
            loss = loss + cfg.lambda_identity * cfg.lambda_cycle * identity
            terms["identity"] = identity.detach()
        self.fakes = {"a": fake_a.detach(), "b": fake_b.detach()}
        return loss, terms

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        """x + N(0, cycle_noise^2) per pixel (x itself when cycle_noise is 0)."""
        if self.cfg.cycle_noise <= 0:
            return x
        return x + self.cfg.cycle_noise * torch.randn_like(x)

    def _d(self, side: str, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        D = self.m[f"D_{side}"]
        fake = self.pools[side].query(self.fakes[side])
        loss = losses.d_least_squares(D(batch[side]), D(fake))
        return loss, {}

    def d_a(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self._d("a", batch)

    def d_b(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self._d("b", batch)


def build_training(
    models: dict[str, nn.Module], cfg: CycleGANConfig, batches: Any, total_steps: int, seed: int
) -> Training:
    """Phases g (both generators, one optimiser, as in the reference code), then d_a and d_b
    on the fakes g just made; every optimiser with the constant-then-linear schedule."""
    pools = {s: ImagePool(cfg.pool_size, 0.5, seed * 2 + i) for i, s in enumerate("ab")}
    obj = CycleGANObjective(models, cfg, pools)
    stateful: dict[str, Any] = {**models, "pool_a": pools["a"], "pool_b": pools["b"]}
    gens = [models["G_ab"], models["G_ba"]]
    specs = [
        ("g", gens, obj.g),
        ("d_a", [models["D_a"]], obj.d_a),
        ("d_b", [models["D_b"]], obj.d_b),
    ]
    phases = []
    for name, modules, loss in specs:
        params = [p for m in modules for p in m.parameters()]
        opt = adam(params, cfg.lr, (cfg.beta1, 0.999))
        sched = linear_decay(opt, total_steps, cfg.lr_decay_start)
        stateful.update({f"opt_{name}": opt, f"sched_{name}": sched})
        phases.append(Phase(name, modules, opt, loss, scheduler=sched))
    return Training(phases, batches, stateful)
