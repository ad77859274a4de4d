"""The GAN family's objective: a selectable loss and every stabilising trick as a config
switch, in two phases of the shared engine per step: d (every step) and g (every n_critic
steps). Where each trick lives:
- network:   spectral norm, self-attention, minibatch discrimination, packing (nets.py),
             class conditioning (conditional.py)
- objective: the loss zoo (EBGAN's with its autoencoder D in energy.py and the pulling-away
             term), gradient penalties (WGAN-GP, DRAGAN, R1), one-sided label
             smoothing, label flipping, instance noise (losses.py, regularizers.py)
- state:     experience replay (regularizers.ImagePool), G's weight average (G_ema)
- schedule:  TTUR (lr_d != lr_g), n critic steps, SGD for D, unrolled G loss (unrolled.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from ganflow.models import losses
from ganflow.models.engine import Batch, Phase, Training, adam
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.unrolled import unrolled_parameters
from ganflow.models.regularizers import (
    ImagePool,
    ema_into,
    instance_noise_std,
    orthogonal_penalty,
)

RealBatch = Callable[[int], "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"]


def _seeded(seed: int, step: int, salt: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + step) * 31 + salt)


class GANBatches:
    """Batch t: the real batch, z, and (conditional) the fakes' labels, uniform over the
    classes; every draw is seeded by (seed, t), so batch t is the same in a resumed run."""

    def __init__(
        self, cfg: GANConfig, real: RealBatch, seed: int, num_classes: int, device: torch.device
    ) -> None:
        self.cfg, self.real, self.seed, self.num_classes, self.device = (
            cfg,
            real,
            seed,
            num_classes,
            device,
        )

    def __call__(self, step: int) -> Batch:
        cfg, device = self.cfg, self.device
        r = self.real(step)
        x, y = r if isinstance(r, tuple) else (r, None)
        z = torch.randn(
            x.shape[0], cfg.z_dim, generator=_seeded(self.seed, step, 1, device), device=device
        )
        if not cfg.conditional:
            return {"real": x, "z": z}
        if y is None:
            raise ValueError(f"a {cfg.condition}-conditioned GAN needs labelled real batches")
        g = _seeded(self.seed, step, 6, device)
        y_fake = torch.randint(0, self.num_classes, (x.shape[0],), generator=g, device=device)
        return {"real": x, "z": z, "y": y, "y_fake": y_fake}


class GANObjective:
    """One method per phase: d (the critic's loss of the zoo, with its penalties) and g (the
    generator's, optionally through k unrolled D updates)."""

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        cfg: GANConfig,
        seed: int,
        total_steps: int,
        opt_d: torch.optim.Optimizer,
        pool: ImagePool | None,
    ) -> None:
        self.G, self.D, self.cfg, self.seed, self.opt_d, self.pool = G, D, cfg, seed, opt_d, pool
        self.device = next(G.parameters()).device
        self.spec = losses.LOSSES[cfg.loss]
        # the third argument of the zoo's D losses: the real target, or EBGAN's margin
        self.target = cfg.margin if self.spec.energy else 1.0 - cfg.label_smoothing
        self.noise_steps = cfg.instance_noise_steps or total_steps

    def rng(self, step: int, salt: int) -> torch.Generator:
        return _seeded(self.seed, step, salt, self.device)

    def gen(self, batch: Batch, z: torch.Tensor | None = None) -> torch.Tensor:
        z = batch["z"] if z is None else z
        return self.G(z, batch["y_fake"]) if self.cfg.conditional else self.G(z)

    def latent_step(self, batch: Batch, create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """LOGAN (Wu et al. 2019, eq. 2 and 5): (z', dz) with z' = z + dz, dz = alpha g (gd) or
        alpha g / (beta + ||g||^2) per sample (ngd: the natural gradient under the empirical
        Fisher g g^T + beta I), g = d f(z) / dz for D's score f(z) = D(G(z)). `create_graph`
        keeps dz differentiable in the players' weights (LOGAN's second-order terms)."""
        cfg = self.cfg
        z = batch["z"].detach().requires_grad_(True)
        score = self.disc(self.gen(batch, z), batch.get("y_fake"))[0]  # (N,)
        (g,) = torch.autograd.grad(score.sum(), z, create_graph=create_graph)
        if cfg.latent_opt == "gd":
            dz = cfg.latent_step * g
        else:
            dz = cfg.latent_step * g / (cfg.latent_damping + g.pow(2).sum(1, keepdim=True))
        return z + dz, dz

    def latent_terms(self, batch: Batch, create_graph: bool) -> tuple[torch.Tensor | None, dict]:
        """z for this phase: LOGAN's z' when latent_opt is on (with w_r ||dz||^2 and its size
        as terms), else the batch's own z."""
        if self.cfg.latent_opt == "none":
            return None, {}
        z, dz = self.latent_step(batch, create_graph)
        return z, {"dz": dz.detach().norm(dim=1).mean(), "dz_reg": dz.pow(2).sum(1).mean()}

    def disc(
        self, x: torch.Tensor, y: torch.Tensor | None, module: Callable | None = None
    ) -> tuple:
        """D's outputs for x (and labels y when conditional); `module` may be D under other
        weights (the unrolled update's functional_call)."""
        module = self.D if module is None else module
        return module(x, y) if self.cfg.conditional else module(x)

    def aux_loss(self, out: tuple, y: torch.Tensor) -> torch.Tensor | None:
        """acgan: the auxiliary classifier's cross-entropy (Odena et al. 2017, eq. 2-3)."""
        if self.cfg.condition != "acgan":
            return None
        return torch.nn.functional.cross_entropy(out[2], y)

    def d_aux_loss(
        self, d_real: tuple, d_fake: tuple, y: torch.Tensor, y_fake: torch.Tensor
    ) -> torch.Tensor | None:
        """acgan, D's side: the class of real and of fake samples (L_C = L_C,real + L_C,fake)."""
        aux = self.aux_loss(d_real, y)
        return None if aux is None else aux + self.aux_loss(d_fake, y_fake)

    def noisy(self, x: torch.Tensor, step: int, salt: int) -> torch.Tensor:
        """x + instance noise, its std annealed linearly to 0 (Sonderby et al. 2017)."""
        s = instance_noise_std(step, self.cfg.instance_noise, self.noise_steps)
        if s == 0.0:
            return x
        return x + s * torch.randn(x.shape, generator=self.rng(step, salt), device=self.device)

    def d(self, batch: Batch, step: int):
        cfg, spec = self.cfg, self.spec
        # LOGAN: dz stays differentiable in D's weights, so D's update sees the second-order
        # terms too (G is frozen in this phase)
        z, latent = self.latent_terms(batch, create_graph=True)
        if z is None:
            with torch.no_grad():
                fake = self.gen(batch)
        else:
            fake = self.gen(batch, z)
        if self.pool is not None:
            fake = self.pool.query(fake)
        x_real, x_fake = self.noisy(batch["real"], step, 2), self.noisy(fake, step, 3)
        r1_due = cfg.r1 and step % cfg.r1_every == 0
        if r1_due:  # R1 differentiates D's own forward pass on the reals: no second pass
            x_real = x_real.detach().requires_grad_(True)
        y, y_fake = batch.get("y"), batch.get("y_fake")
        d_real, d_fake = self.disc(x_real, y), self.disc(x_fake, y_fake)
        out_real, out_fake = d_real[0], d_fake[0]
        r1 = losses.input_gradient_sq_norm(out_real, x_real) if r1_due else None
        if cfg.label_flip:
            u = torch.rand(out_real.shape, generator=self.rng(step, 4), device=self.device)
            out_real, out_fake = losses.flip_labels(out_real, out_fake, u < cfg.label_flip)
        adv = spec.d(out_real, out_fake, self.target)
        terms = {"adv": adv, "real": out_real.mean(), "fake": out_fake.mean(), **latent}
        loss = adv + cfg.latent_reg * latent["dz_reg"] if latent else adv
        aux = self.d_aux_loss(d_real, d_fake, y, y_fake)
        if aux is not None:
            terms["aux"] = aux
            loss = loss + cfg.aux_weight * aux
        if spec.penalty is not None:
            g = self.rng(step, 5)
            points = (
                losses.wgan_gp_points(x_real, x_fake, g)
                if spec.penalty == "gp"
                else losses.dragan_points(x_real, g)
            )
            # conditional: the interpolates are judged under the real batch's labels
            penalty = losses.gradient_norm_penalty(lambda q: self.disc(q, y)[0], points)
            terms["penalty"] = penalty
            loss = loss + cfg.penalty_weight * penalty
        if r1 is not None:  # zero-centred, at the (noisy) reals
            terms["r1"] = r1
            loss = loss + 0.5 * cfg.r1 * cfg.r1_every * r1
        return loss, terms

    def clip_d(self) -> None:
        """WGAN's weight clipping to [-c, c] after each D step."""
        with torch.no_grad():
            for q in self.D.parameters():
                q.clamp_(-self.cfg.clip, self.cfg.clip)

    def unrolled_d(self, batch: Batch, step: int, fake: torch.Tensor) -> Callable:
        """D after k differentiable updates on this batch (Metz et al. 2016), as a callable."""
        cfg = self.cfg
        x_real = self.noisy(batch["real"], step, 2)
        y, y_fake = batch.get("y"), batch.get("y_fake")

        def with_weights(params: dict, buffers: dict) -> Callable:
            return lambda *args: functional_call(self.D, (params, buffers), args)

        def unroll_loss(params: dict, buffers: dict) -> torch.Tensor:
            """D's own objective (its adversarial term, and acgan's auxiliary term)."""
            call = with_weights(params, buffers)
            d_real, d_fake = self.disc(x_real, y, call), self.disc(fake, y_fake, call)
            loss = self.spec.d(d_real[0], d_fake[0], self.target)
            aux = self.d_aux_loss(d_real, d_fake, y, y_fake)
            return loss if aux is None else loss + cfg.aux_weight * aux

        params, buffers = unrolled_parameters(self.D, self.opt_d, unroll_loss, cfg.unrolled_steps)
        return with_weights(params, buffers)

    def g(self, batch: Batch, step: int):
        cfg = self.cfg
        z, latent = self.latent_terms(batch, create_graph=True)
        fake = self.noisy(self.gen(batch, z), step, 3)
        y_fake = batch.get("y_fake")
        critic = self.unrolled_d(batch, step, fake) if cfg.unrolled_steps else None
        d_fake = self.disc(fake, y_fake, critic)
        loss = self.spec.g(d_fake[0])
        terms = {"fake": d_fake[0].mean(), **latent}
        if self.spec.energy and cfg.pt_weight:  # EBGAN: spread the batch's codes apart
            terms["pt"] = losses.pulling_away(d_fake[1])
            loss = loss + cfg.pt_weight * terms["pt"]
        if latent:
            loss = loss + cfg.latent_reg * latent["dz_reg"]
        if cfg.ortho_reg:
            skip = (self.G.shared,) if hasattr(self.G, "shared") else ()
            terms["ortho"] = orthogonal_penalty(self.G, skip)
            loss = loss + cfg.ortho_reg * terms["ortho"]
        aux = self.aux_loss(d_fake, y_fake)
        if aux is not None:
            terms["aux"] = aux
            loss = loss + cfg.aux_weight * aux
        return loss, terms


def _optimizers(
    G: nn.Module, D: nn.Module, cfg: GANConfig, total_steps: int
) -> tuple[Any, Any, list]:
    """Adam for G; Adam or SGD for D; optional linear decay of both, per optimiser step (D
    steps every engine step, G every n_critic)."""
    opt_g = adam(G.parameters(), cfg.lr_g, (cfg.beta1, cfg.beta2))
    if cfg.d_optimizer == "adam":
        opt_d = adam(D.parameters(), cfg.lr_d, (cfg.beta1, cfg.beta2))
    else:
        opt_d = torch.optim.SGD(D.parameters(), lr=cfg.lr_d)
    scheds: list[torch.optim.lr_scheduler.LRScheduler | None] = [None, None]
    if cfg.lr_decay:
        n_d, n_g = total_steps, math.ceil(total_steps / cfg.n_critic)
        scheds = [
            torch.optim.lr_scheduler.LambdaLR(opt, lambda i, n=n: max(0.0, 1.0 - i / n))
            for opt, n in ((opt_d, n_d), (opt_g, n_g))
        ]
    return opt_g, opt_d, scheds


def build_training(
    models: dict[str, nn.Module], cfg: GANConfig, real: RealBatch, total_steps: int, seed: int
) -> Training:
    """Phases 'd' and 'g'. `real(step)` gives the real batch of a step on the models' device:
    x, or (x, labels y) for a conditional GAN. z, the fakes' labels, label flips, instance
    noise and penalty points are drawn from generators seeded by (seed, step)."""
    cfg.validate()
    G, D = models["G"], models["D"]
    num_classes = G.num_classes if cfg.conditional else 0
    opt_g, opt_d, scheds = _optimizers(G, D, cfg, total_steps)
    pool = ImagePool(cfg.replay, cfg.replay_p, seed) if cfg.replay else None
    obj = GANObjective(G, D, cfg, seed, total_steps, opt_d, pool)
    g_after = (lambda: ema_into(models["G_ema"].state_dict(), G, cfg.g_ema)) if cfg.g_ema else None
    phases = [
        Phase(
            "d",
            [D],
            opt_d,
            obj.d,
            scheduler=scheds[0],
            after_step=obj.clip_d if obj.spec.clip else None,
        ),
        Phase("g", [G], opt_g, obj.g, every=cfg.n_critic, scheduler=scheds[1], after_step=g_after),
    ]
    stateful: dict[str, Any] = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    if cfg.lr_decay:
        stateful.update(sched_d=scheds[0], sched_g=scheds[1])
    if pool is not None:
        stateful["replay"] = pool
    if cfg.g_ema:
        stateful["G_ema"] = models["G_ema"]
    return Training(phases, GANBatches(cfg, real, seed, num_classes, obj.device), stateful)
