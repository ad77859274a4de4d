"""SGAN's training (Huang et al. 2017, section 3) as phases of the shared engine:

    e  (steps < encoder_steps): E learns the classes of the labelled real images, then stays
       frozen: its h1 = E0(x) and its class head E1 are what the generators invert.
    d  D_i: 1/2 BCE(D_i(h_i), 1) + 1/2 BCE(D_i(G_i(.)), 0) (D1 also reads the class with
       class_d1: real h1 with its image's label, G1's with the y it was given); its Q head:
       ent_weight * ||Q_i(G_i(.)) - z_i||^2 (the entropy loss's variational bound, eq. 5).
    g  L_G_i = adv_weight * BCE(D_i(G_i(.)), 1) + cond_weight * L_cond_i + ent_weight * L_ent_i
       with L_cond_1 = CE(E1(G1(y, z1)), y) (the labels back from the generated features) and
       L_cond_0 = ||E0(G0(h1, z0)) - h1||^2 (eq. 3), summed over both levels; and ganflow's
       class loss on the image, class_weight * CE(E(G0(.)), y) (0: the paper's terms only).

Independent training (section 3.3) feeds G0 the encoder's real h1 = E0(x); joint training
(the last joint_share of the GAN steps) feeds it G1's output, so that both levels' losses reach
G1 through G0: the stack trained end to end.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models.config import ConfigError
from ganflow.models.engine import Batch, Phase, Training, adam
from ganflow.models.sgan.config import SGANConfig

# step -> (real images (N, C, S, S) in [-1, 1], their labels (N,))
RealBatch = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


def schedule(cfg: SGANConfig, total_steps: int) -> tuple[int, int]:
    """(the first GAN step, the first joint step)."""
    start = min(cfg.encoder_steps, total_steps)
    joint = start + round((total_steps - start) * (1.0 - cfg.joint_share))
    return start, joint


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class SGANObjective:
    def __init__(self, models: dict[str, nn.Module], cfg: SGANConfig, joint_from: int) -> None:
        self.m, self.cfg, self.joint_from = models, cfg, joint_from

    def encoder(self, batch: Batch, step: int):
        logits = self.m["E"](batch["real"])
        loss = F.cross_entropy(logits, batch["y"])
        acc = (logits.argmax(1) == batch["y"]).float().mean()
        return loss, {"ce": loss, "acc": acc}

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Both levels' real and generated tensors for this step."""
        E = self.m["E"]
        with torch.no_grad():
            h1_real = E.features(batch["real"])  # (N, F): the level's "real data"
        h1_fake = self.m["G1"](batch["y"], batch["z1"])
        h1_in = h1_fake if step >= self.joint_from else h1_real
        x_fake = self.m["G0"](h1_in, batch["z0"])
        return {"h1_real": h1_real, "h1_fake": h1_fake, "h1_in": h1_in, "x_fake": x_fake}

    def d(self, batch: Batch, step: int):
        cfg = self.cfg
        with torch.no_grad():
            t = self.forward(batch, step)
        terms, loss = {}, 0.0
        for level, real, fake, z in (("1", t["h1_real"], t["h1_fake"], batch["z1"]),
                                     ("0", batch["real"], t["x_fake"], batch["z0"])):  # fmt: skip
            D = self.m[f"D{level}"]
            kw = {"y": batch["y"]} if level == "1" else {}
            real_logit, _ = D(real, **kw)
            fake_logit, z_guess = D(fake, **kw)
            adv = 0.5 * _bce(real_logit, 1.0) + 0.5 * _bce(fake_logit, 0.0)
            ent = (z_guess - z).pow(2).mean()
            terms[f"adv{level}"], terms[f"q{level}"] = adv, ent
            loss = loss + cfg.adv_weight * adv + cfg.ent_weight * ent
        return loss, terms

    def g(self, batch: Batch, step: int):
        cfg, E = self.cfg, self.m["E"]
        t = self.forward(batch, step)
        logit1, z1_guess = self.m["D1"](t["h1_fake"], y=batch["y"])
        logit0, z0_guess = self.m["D0"](t["x_fake"])
        f0 = E.features(t["x_fake"])  # E0 of G0's image: cond0 and, through E1, class0
        terms = {
            "adv1": _bce(logit1, 1.0),
            "cond1": F.cross_entropy(E.fc4(t["h1_fake"]), batch["y"]),
            "ent1": (z1_guess - batch["z1"]).pow(2).mean(),
            "adv0": _bce(logit0, 1.0),
            "cond0": (f0 - t["h1_in"]).pow(2).mean(),
            "ent0": (z0_guess - batch["z0"]).pow(2).mean(),
        }
        w = {"adv": cfg.adv_weight, "cond": cfg.cond_weight, "ent": cfg.ent_weight}
        loss = sum(w[k[:-1]] * v for k, v in terms.items())
        if cfg.class_weight:
            terms["class0"] = F.cross_entropy(E.fc4(f0), batch["y"])
            loss = loss + cfg.class_weight * terms["class0"]
        terms["joint"] = torch.tensor(float(step >= self.joint_from))
        return loss, terms


class SGANBatches:
    """Batch t: the real labelled batch and the noise of both levels, U(0, 1), seeded by
    (seed, t) so that a resumed run draws what an unbroken one draws."""

    def __init__(self, cfg: SGANConfig, real: RealBatch, seed: int, device: torch.device) -> None:
        self.cfg, self.real, self.seed, self.device = cfg, real, seed, device

    def __call__(self, step: int) -> Batch:
        x, y = self.real(step)
        g = torch.Generator(device=self.device).manual_seed((self.seed * 1_000_003 + step) * 31 + 7)
        n = x.shape[0]
        z1 = torch.rand(n, self.cfg.z1_dim, generator=g, device=self.device)
        z0 = torch.rand(n, self.cfg.z0_dim, generator=g, device=self.device)
        return {"real": x, "y": y, "z1": z1, "z0": z0}


def build_training(
    models: dict[str, nn.Module], cfg: SGANConfig, real: RealBatch, total_steps: int, seed: int
) -> Training:
    """Phases e (until the encoder's steps end), then d and g every step."""
    cfg.validate()
    if total_steps <= cfg.encoder_steps:
        raise ConfigError(
            f"sgan: {total_steps} steps leave none for the GANs after the encoder's "
            f"{cfg.encoder_steps}: raise --steps (or --epochs) or lower --set encoder_steps"
        )
    start, joint = schedule(cfg, total_steps)
    obj = SGANObjective(models, cfg, joint)
    betas = (cfg.beta1, 0.999)
    opt_e = adam(models["E"].parameters(), cfg.lr_e, (0.9, 0.999))
    opt_d = adam([*models["D1"].parameters(), *models["D0"].parameters()], cfg.lr_d, betas)
    opt_g = adam([*models["G1"].parameters(), *models["G0"].parameters()], cfg.lr_g, betas)
    phases = [
        Phase("e", [models["E"]], opt_e, obj.encoder, until=start),
        Phase("d", [models["D1"], models["D0"]], opt_d, obj.d, start=start),
        Phase("g", [models["G1"], models["G0"]], opt_g, obj.g, start=start),
    ]
    device = next(models["E"].parameters()).device
    stateful = {**models, "opt_e": opt_e, "opt_d": opt_d, "opt_g": opt_g}
    return Training(phases, SGANBatches(cfg, real, seed, device), stateful)
