"""pix2pix's objective (Isola et al. 2017, section 3.1, eq. 4) in two phases of the engine:
  d: L_D = 1/2 [BCE(D(a, b), 1) + BCE(D(a, G(a)), 0)]         (D's objective halved, 3.3)
  g: L_G = gan_weight * BCE(D(a, G(a)), 1) + lambda_l1 * |b - G(a)|_1
With gan_weight 0 there is no D and no d phase: the L1-only U-Net of the paper's ablation.
D judges (input, output) pairs: the condition a is concatenated to the image it scores.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganflow.models import losses
from ganflow.models.engine import Batch, Phase, Training, adam, linear_decay
from ganflow.models.pix2pix.config import Pix2PixConfig


class Pix2PixObjective:
    def __init__(self, G: nn.Module, D: nn.Module | None, cfg: Pix2PixConfig) -> None:
        self.G, self.D, self.cfg = G, D, cfg

    def _d_pair(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        assert self.D is not None
        return self.D(torch.cat([a, b], 1))  # (N, 1, H', W') patch logits

    def d(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():
            fake = self.G(batch["a"])
        real_s, fake_s = self._d_pair(batch["a"], batch["b"]), self._d_pair(batch["a"], fake)
        loss = 0.5 * losses.d_minimax(real_s, fake_s)
        return loss, {"real": real_s.detach().mean(), "fake": fake_s.detach().mean()}

    def g(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        fake = self.G(batch["a"])
        l1 = (fake - batch["b"]).abs().mean()
        loss = self.cfg.lambda_l1 * l1
        terms = {"l1": l1.detach()}
        if self.D is not None and self.cfg.gan_weight > 0:
            adv = losses.g_nonsaturating(self._d_pair(batch["a"], fake))
            loss = loss + self.cfg.gan_weight * adv
            terms["adv"] = adv.detach()
        return loss, terms


def build_training(
    models: dict[str, nn.Module], cfg: Pix2PixConfig, batches: Any, total_steps: int
) -> Training:
    """Phases d (when there is a D) and g, each with Adam and the linear decay."""
    G, D = models["G"], models.get("D")
    obj = Pix2PixObjective(G, D, cfg)
    stateful: dict[str, Any] = dict(models)
    phases = []
    for name, module, loss in (("d", D, obj.d), ("g", G, obj.g)):
        if module is None:
            continue
        opt = adam(module.parameters(), cfg.lr, (cfg.beta1, 0.999))
        sched = linear_decay(opt, total_steps, cfg.lr_decay_start)
        stateful.update({f"opt_{name}": opt, f"sched_{name}": sched})
        phases.append(Phase(name, [module], opt, loss, scheduler=sched))
    return Training(phases, batches, stateful)
