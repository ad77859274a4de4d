"""Unconditional GAN with a selectable loss and every stabilising trick as a config switch.

Training is two phases of the shared engine per step: D (every step) and G (every
n_critic steps). Where each trick lives:
- network:   spectral norm, self-attention, minibatch discrimination, packing (gan_nets.py)
- objective: the loss zoo, gradient penalties (WGAN-GP, DRAGAN, R1), one-sided label
             smoothing, label flipping, instance noise (losses.py, regularizers.py)
- state:     experience replay (regularizers.ImagePool)
- schedule:  TTUR (lr_d != lr_g), n critic steps, SGD for D, unrolled G loss (below).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from models import losses
from models.cgan import ConditionalDiscriminator, ConditionalGenerator, feature_width
from models.engine import Batch, Phase, adam
from models.gan_config import GANConfig
from models.gan_nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
)
from models.regularizers import ImagePool, ema_into, instance_noise_std
from models.unrolled import unrolled_parameters


def build_models(
    cfg: GANConfig, shape: tuple[int, ...], seed: int, num_classes: int = 0
) -> dict[str, nn.Module]:
    """{'G', 'D'} for data of `shape`: (dim,) vectors for mlp, (C, S, S) images for dcgan.
    With a condition, G takes (z, y) and D (x, y) for labels y in 0..num_classes-1. With
    g_ema, also 'G_ema': a copy of G that is never trained, only averaged (see sampler)."""
    cfg.validate()
    if cfg.conditional and num_classes < 2:
        raise ValueError(f"a class-conditional GAN needs at least 2 classes, got {num_classes}")
    # conditional G reads [z, e(y)]; concat-conditioned D reads [x, e(y)]
    g_cfg = dataclasses.replace(cfg, z_dim=cfg.z_dim + cfg.embed_dim) if cfg.conditional else cfg
    extra = cfg.embed_dim if cfg.condition == "concat" else 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if cfg.arch == "mlp":
            if len(shape) != 1:
                raise ValueError(f"arch mlp takes vectors, got samples of shape {tuple(shape)}")
            G = MLPGenerator(g_cfg.z_dim, shape[0], cfg.width, cfg.depth, cfg.g_batchnorm)
            D = MLPDiscriminator(shape[0] + extra, cfg.width, cfg.depth, cfg)
        else:
            if len(shape) != 3 or shape[1] != shape[2]:
                raise ValueError(f"arch dcgan takes square (C, S, S) images, got {tuple(shape)}")
            G = DCGANGenerator(g_cfg, shape[0], shape[1])
            D = DCGANDiscriminator(cfg, shape[0] + extra, shape[1], cfg.d_uses_batchnorm())
        if cfg.conditional:
            G = ConditionalGenerator(G, num_classes, cfg.embed_dim)
            D = ConditionalDiscriminator(
                D, cfg.condition, num_classes, cfg.embed_dim, feature_width(D)
            )
    models = {"G": G, "D": D}
    if cfg.g_ema:
        models["G_ema"] = copy.deepcopy(G).requires_grad_(False)
    return models


def sampler(models: dict[str, nn.Module]) -> nn.Module:
    """The generator to draw samples from: G's weight average when there is one, else G."""
    return models.get("G_ema", models["G"])


@dataclass
class Training:
    phases: list[Phase]
    next_batch: Callable[[int], Batch]
    stateful: dict[str, Any]


def _seeded(seed: int, step: int, salt: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + step) * 31 + salt)


RealBatch = Callable[[int], "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"]


def build_training(models: dict[str, nn.Module], cfg: GANConfig, real: RealBatch, total_steps: int,
                   seed: int) -> Training:  # fmt: skip
    """Phases 'd' and 'g'. `real(step)` gives the real batch of a step on the models' device:
    x, or (x, labels y) for a conditional GAN. z, the fakes' labels (uniform over the
    classes), label flips, instance noise and penalty points are drawn from generators seeded
    by (seed, step), so batch t is the same in a resumed run."""
    cfg.validate()
    G, D = models["G"], models["D"]
    num_classes = G.num_classes if cfg.conditional else 0

    def gen(batch: Batch) -> torch.Tensor:
        return G(batch["z"], batch["y_fake"]) if cfg.conditional else G(batch["z"])

    def disc(x: torch.Tensor, y: torch.Tensor | None, module: Callable = D) -> tuple:
        """D's outputs for x (and labels y when conditional); `module` may be D under other
        weights (the unrolled update's functional_call)."""
        return module(x, y) if cfg.conditional else module(x)

    def aux_loss(out: tuple, y: torch.Tensor) -> torch.Tensor | None:
        """acgan: the auxiliary classifier's cross-entropy (Odena et al. 2017, eq. 2-3)."""
        if cfg.condition != "acgan":
            return None
        return torch.nn.functional.cross_entropy(out[2], y)

    def d_aux_loss(
        d_real: tuple, d_fake: tuple, y: torch.Tensor, y_fake: torch.Tensor
    ) -> torch.Tensor | None:
        """acgan, D's side: the class of real and of fake samples (L_C = L_C,real + L_C,fake)."""
        aux = aux_loss(d_real, y)
        return None if aux is None else aux + aux_loss(d_fake, y_fake)

    device = next(G.parameters()).device
    spec = losses.LOSSES[cfg.loss]
    target = 1.0 - cfg.label_smoothing
    opt_g = adam(G.parameters(), cfg.lr_g, (cfg.beta1, cfg.beta2))
    if cfg.d_optimizer == "adam":
        opt_d = adam(D.parameters(), cfg.lr_d, (cfg.beta1, cfg.beta2))
    else:
        opt_d = torch.optim.SGD(D.parameters(), lr=cfg.lr_d)
    scheds: list[torch.optim.lr_scheduler.LRScheduler | None] = [None, None]
    if cfg.lr_decay:  # per optimiser step: D steps every engine step, G every n_critic
        n_d, n_g = total_steps, math.ceil(total_steps / cfg.n_critic)
        scheds = [torch.optim.lr_scheduler.LambdaLR(opt, lambda i, n=n: max(0.0, 1.0 - i / n))
                  for opt, n in ((opt_d, n_d), (opt_g, n_g))]  # fmt: skip
    pool = ImagePool(cfg.replay, cfg.replay_p, seed) if cfg.replay else None
    noise_steps = cfg.instance_noise_steps or total_steps

    def next_batch(step: int) -> Batch:
        r = real(step)
        x, y = r if isinstance(r, tuple) else (r, None)
        z = torch.randn(
            x.shape[0], cfg.z_dim, generator=_seeded(seed, step, 1, device), device=device
        )
        if not cfg.conditional:
            return {"real": x, "z": z}
        if y is None:
            raise ValueError(f"a {cfg.condition}-conditioned GAN needs labelled real batches")
        g = _seeded(seed, step, 6, device)
        y_fake = torch.randint(0, num_classes, (x.shape[0],), generator=g, device=device)
        return {"real": x, "z": z, "y": y, "y_fake": y_fake}

    def noisy(x: torch.Tensor, step: int, salt: int) -> torch.Tensor:
        s = instance_noise_std(step, cfg.instance_noise, noise_steps)
        if s == 0.0:
            return x
        return x + s * torch.randn(
            x.shape, generator=_seeded(seed, step, salt, device), device=device
        )

    def d_loss(batch: Batch, step: int):
        with torch.no_grad():
            fake = gen(batch)
        if pool is not None:
            fake = pool.query(fake)
        x_real, x_fake = noisy(batch["real"], step, 2), noisy(fake, step, 3)
        r1_due = cfg.r1 and step % cfg.r1_every == 0
        if r1_due:  # R1 differentiates D's own forward pass on the reals: no second pass
            x_real = x_real.detach().requires_grad_(True)
        y, y_fake = batch.get("y"), batch.get("y_fake")
        d_real, d_fake = disc(x_real, y), disc(x_fake, y_fake)
        out_real, out_fake = d_real[0], d_fake[0]
        r1 = losses.input_gradient_sq_norm(out_real, x_real) if r1_due else None
        if cfg.label_flip:
            u = torch.rand(out_real.shape, generator=_seeded(seed, step, 4, device), device=device)
            out_real, out_fake = losses.flip_labels(out_real, out_fake, u < cfg.label_flip)
        adv = spec.d(out_real, out_fake, target)
        terms = {"adv": adv, "real": out_real.mean(), "fake": out_fake.mean()}
        loss = adv
        aux = d_aux_loss(d_real, d_fake, y, y_fake)
        if aux is not None:
            terms["aux"] = aux
            loss = loss + cfg.aux_weight * aux
        if spec.penalty is not None:
            g = _seeded(seed, step, 5, device)
            points = (losses.wgan_gp_points(x_real, x_fake, g) if spec.penalty == "gp"
                      else losses.dragan_points(x_real, g))  # fmt: skip
            # conditional: the interpolates are judged under the real batch's labels
            penalty = losses.gradient_norm_penalty(lambda p: disc(p, y)[0], points)
            terms["penalty"] = penalty
            loss = loss + cfg.penalty_weight * penalty
        if r1 is not None:  # zero-centred, at the (noisy) reals
            terms["r1"] = r1
            loss = loss + 0.5 * cfg.r1 * cfg.r1_every * r1
        return loss, terms

    def clip_d() -> None:
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-cfg.clip, cfg.clip)

    def g_loss(batch: Batch, step: int):
        fake = noisy(gen(batch), step, 3)
        y, y_fake = batch.get("y"), batch.get("y_fake")
        if cfg.unrolled_steps:
            x_real = noisy(batch["real"], step, 2)

            def with_weights(params: dict, buffers: dict) -> Callable:
                return lambda *args: functional_call(D, (params, buffers), args)

            def unroll_loss(params: dict, buffers: dict) -> torch.Tensor:
                """D's own objective (its adversarial term, and acgan's auxiliary term)."""
                call = with_weights(params, buffers)
                d_real, d_fake = disc(x_real, y, call), disc(fake, y_fake, call)
                loss = spec.d(d_real[0], d_fake[0], target)
                aux = d_aux_loss(d_real, d_fake, y, y_fake)
                return loss if aux is None else loss + cfg.aux_weight * aux

            params, buffers = unrolled_parameters(D, opt_d, unroll_loss, cfg.unrolled_steps)
            d_fake = disc(fake, y_fake, with_weights(params, buffers))
        else:
            d_fake = disc(fake, y_fake)
        loss = spec.g(d_fake[0])
        terms = {"fake": d_fake[0].mean()}
        aux = aux_loss(d_fake, y_fake)
        if aux is not None:
            terms["aux"] = aux
            loss = loss + cfg.aux_weight * aux
        return loss, terms

    phases = [
        Phase(
            "d", [D], opt_d, d_loss, scheduler=scheds[0], after_step=clip_d if spec.clip else None
        ),
        Phase("g", [G], opt_g, g_loss, every=cfg.n_critic, scheduler=scheds[1],
              after_step=(lambda: ema_into(models["G_ema"].state_dict(), G, cfg.g_ema)) if cfg.g_ema else None),
    ]  # fmt: skip
    stateful: dict[str, Any] = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    if cfg.lr_decay:
        stateful.update(sched_d=scheds[0], sched_g=scheds[1])
    if pool is not None:
        stateful["replay"] = pool
    if cfg.g_ema:
        stateful["G_ema"] = models["G_ema"]
    return Training(phases, next_batch, stateful)


def generate(G: nn.Module, n: int, z_dim: int, seed: int, batch_size: int = 1000,
             labels: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """n samples of G in eval mode from seeded noise, on the CPU: (n, ...). A conditional G
    needs `labels` (n,), the class of each sample."""
    device = next(G.parameters()).device
    if isinstance(G, ConditionalGenerator) and (labels is None or len(labels) != n):
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
