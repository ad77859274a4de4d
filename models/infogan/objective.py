"""InfoGAN's objective (Chen et al. 2016, eq. 6): min_{G,Q} max_D V(D, G) - lambda L_I(G, Q),
in two phases of the shared engine per step:
- d: D and Q; D's non-saturating GAN loss on a real and a fake batch, plus the information
     terms of Q on the fake batch (Q shares D's body, so D's features learn to carry c);
- g: G; the non-saturating generator loss plus the same information terms, so G makes c
     readable in its images.
The codes are drawn per step from generators seeded by (seed, step): batch t is the same in
a resumed run."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models import losses
from ganflow.models.engine import Batch, Phase, Training, adam
from ganflow.models.infogan.config import InfoGANConfig

RealBatch = Callable[[int], torch.Tensor | tuple[torch.Tensor, torch.Tensor]]


def _seeded(seed: int, step: int, salt: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + step) * 31 + salt)


def draw_codes(
    cfg: InfoGANConfig, n: int, g: torch.Generator, device: torch.device
) -> dict[str, torch.Tensor]:
    """{'z' (n, z_dim) ~ N(0, I), 'cat' (n,) ~ Cat(K) (K > 0), 'cont' (n, L) ~ U(-1, 1),
    'c' (n, K + L): one-hot cat then cont, what G reads}."""
    out = {"z": torch.randn(n, cfg.z_dim, generator=g, device=device)}
    parts = []
    if cfg.categorical:
        out["cat"] = torch.randint(0, cfg.categorical, (n,), generator=g, device=device)
        parts.append(F.one_hot(out["cat"], cfg.categorical).float())
    out["cont"] = torch.rand(n, cfg.continuous, generator=g, device=device) * 2.0 - 1.0
    parts.append(out["cont"])
    out["c"] = torch.cat(parts, 1)
    return out


def code_vector(cfg: InfoGANConfig, cat: torch.Tensor | None, cont: torch.Tensor) -> torch.Tensor:
    """c as G reads it, for chosen values: one-hot cat (n,) then cont (n, L)."""
    parts = [F.one_hot(cat, cfg.categorical).float()] if cfg.categorical else []
    return torch.cat([*parts, cont.float()], 1)


class InfoGANObjective:
    """One method per phase, d and g; each returns (loss, named terms), with `mi` the
    information lower bound L_I in nats on that batch (log K + L log 2 at best)."""

    def __init__(self, G: nn.Module, D: nn.Module, Q: nn.Module, cfg: InfoGANConfig) -> None:
        self.G, self.D, self.Q, self.cfg = G, D, Q, cfg

    def info(self, features: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, dict]:
        """lambda * (-E log Q(c_1 | x)) + lambda_cont * (-E sum_j log Q(c_j | x)) on fakes."""
        cfg = self.cfg
        logits, mean = self.Q(features)
        nll_cat = losses.categorical_code_nll(logits, batch["cat"]) if cfg.categorical else 0.0
        nll_cont = losses.gaussian_code_nll(mean, batch["cont"]) if cfg.continuous else 0.0
        loss = cfg.info_weight * nll_cat + cfg.continuous_weight * nll_cont
        mi = losses.information_lower_bound(nll_cat, cfg.categorical, nll_cont, cfg.continuous)
        return loss, {"mi": torch.as_tensor(mi).detach()}

    def d(self, batch: Batch, step: int):
        with torch.no_grad():
            fake = self.G(batch["z"], batch["c"])
        out_real, f_real = self.D(batch["real"])
        out_fake, f_fake = self.D(fake)
        adv = losses.d_minimax(out_real, out_fake)
        info, terms = self.info(f_fake, batch)
        loss = adv + info
        if "part" in batch:  # the graph prior: Q's code on the real images
            part = F.cross_entropy(self.Q(f_real)[0], batch["part"])
            loss = loss + self.cfg.partition_weight * part
            terms["part"] = part.detach()
        return loss, {"adv": adv, **terms}

    def g(self, batch: Batch, step: int):
        out_fake, f_fake = self.D(self.G(batch["z"], batch["c"]))
        adv = losses.g_nonsaturating(out_fake)
        info, terms = self.info(f_fake, batch)
        return adv + info, {"adv": adv, **terms}


class InfoGANBatches:
    """Batch t: the real images (in [-1, 1]), with the graph prior their parts ("part": real
    returns (images, parts)), and the step's z and codes."""

    def __init__(self, cfg: InfoGANConfig, real: RealBatch, seed: int, device: torch.device):
        self.cfg, self.real, self.seed, self.device = cfg, real, seed, device

    def __call__(self, step: int) -> Batch:
        x = self.real(step)
        parts = {}
        if isinstance(x, tuple):
            x, parts["part"] = x
        g = _seeded(self.seed, step, 1, self.device)
        return {"real": x, **parts, **draw_codes(self.cfg, x.shape[0], g, self.device)}


def build_training(
    models: dict[str, nn.Module], cfg: InfoGANConfig, real: RealBatch, seed: int
) -> Training:
    """Phases d (D and Q, Adam lr_d) and g (G, Adam lr_g), every step."""
    G, D, Q = models["G"], models["D"], models["Q"]
    opt_d = adam([*D.parameters(), *Q.parameters()], cfg.lr_d, (cfg.beta1, 0.999))
    opt_g = adam(G.parameters(), cfg.lr_g, (cfg.beta1, 0.999))
    obj = InfoGANObjective(G, D, Q, cfg)
    phases = [Phase("d", [D, Q], opt_d, obj.d), Phase("g", [G], opt_g, obj.g)]
    device = next(G.parameters()).device
    stateful = {"G": G, "D": D, "Q": Q, "opt_d": opt_d, "opt_g": opt_g}
    return Training(phases, InfoGANBatches(cfg, real, seed, device), stateful)
