"""Progressive growing's objective: the loss of the zoo (the paper's WGAN-GP with its drift
term, or any other) at the stage and fade-in alpha the step's place in the schedule gives;
the real batch is brought to that resolution and faded the same way (Karras et al. 2018,
appendix A.1). Phases d and g every step."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ganflow.models import losses
from ganflow.models.engine import Batch, Phase, Training, adam
from ganflow.models.images import down, up
from ganflow.models.progan.config import ProGANConfig

RealBatch = Callable[[int], torch.Tensor]


def schedule(step: int, total: int, stages: int, fade: float) -> tuple[int, float]:
    """(stage, alpha) at `step` of `total`: equal shares of the steps per stage; a stage
    after the first fades in over its first `fade` share (alpha 0 -> 1), then trains at 1."""
    per = max(1, math.ceil(total / stages))
    stage = min(step // per, stages - 1)
    if stage == 0 or fade == 0:
        return stage, 1.0
    return stage, min(1.0, (step - stage * per) / (fade * per))


def real_at(x: torch.Tensor, stage: int, stages: int, alpha: float) -> torch.Tensor:
    """The real batch at the stage's resolution, faded like G's output: (1 - alpha) u(d(x_s))
    + alpha x_s."""
    for _ in range(stages - 1 - stage):
        x = down(x)
    return x if alpha >= 1.0 else (1.0 - alpha) * up(down(x)) + alpha * x


def _seeded(seed: int, step: int, salt: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + step) * 31 + salt)


class ProGANObjective:
    def __init__(self, G: nn.Module, D: nn.Module, cfg: ProGANConfig, total: int, seed: int):
        self.G, self.D, self.cfg, self.total, self.seed = G, D, cfg, total, seed
        self.stages = len(G.sides)
        self.spec = losses.LOSSES[cfg.loss]

    def at(self, step: int) -> tuple[int, float]:
        return schedule(step, self.total, self.stages, self.cfg.fade)

    def d(self, batch: Batch, step: int):
        stage, alpha = self.at(step)
        real = real_at(batch["real"], stage, self.stages, alpha)
        with torch.no_grad():
            fake = self.G(batch["z"], stage, alpha)
        out_real = self.D(real, stage, alpha)[0]
        adv = self.spec.d(out_real, self.D(fake, stage, alpha)[0])
        terms = {"adv": adv, "stage": torch.tensor(float(stage)), "alpha": torch.tensor(alpha)}
        loss = adv + self.cfg.drift * out_real.pow(2).mean()
        if self.spec.penalty is not None:
            g = _seeded(self.seed, step, 5, real.device)
            points = (
                losses.wgan_gp_points(real, fake, g)
                if self.spec.penalty == "gp"
                else losses.dragan_points(real, g)
            )
            terms["penalty"] = losses.gradient_norm_penalty(
                lambda q: self.D(q, stage, alpha)[0], points
            )
            loss = loss + self.cfg.penalty_weight * terms["penalty"]
        return loss, terms

    def g(self, batch: Batch, step: int):
        stage, alpha = self.at(step)
        adv = self.spec.g(self.D(self.G(batch["z"], stage, alpha), stage, alpha)[0])
        return adv, {"adv": adv}


class ProGANBatches:
    def __init__(self, cfg: ProGANConfig, real: RealBatch, seed: int, device: torch.device):
        self.cfg, self.real, self.seed, self.device = cfg, real, seed, device

    def __call__(self, step: int) -> Batch:
        x = self.real(step)
        g = _seeded(self.seed, step, 1, self.device)
        return {
            "real": x,
            "z": torch.randn(len(x), self.cfg.z_dim, generator=g, device=self.device),
        }


def build_training(
    models: dict[str, nn.Module], cfg: ProGANConfig, real: RealBatch, total: int, seed: int
) -> Training:
    G, D = models["G"], models["D"]
    opt_g = adam(G.parameters(), cfg.lr, (cfg.beta1, cfg.beta2))
    opt_d = adam(D.parameters(), cfg.lr, (cfg.beta1, cfg.beta2))
    obj = ProGANObjective(G, D, cfg, total, seed)
    phases = [Phase("d", [D], opt_d, obj.d), Phase("g", [G], opt_g, obj.g)]
    stateful = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    return Training(phases, ProGANBatches(cfg, real, seed, next(G.parameters()).device), stateful)
