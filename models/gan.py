"""Unconditional GAN with a selectable loss and every stabilising trick as a config switch.

Training is two phases of the shared engine per step: D (every step) and G (every
n_critic steps). Where each trick lives:
- network:   spectral norm, self-attention, minibatch discrimination, packing (gan_nets.py)
- objective: the loss zoo, gradient penalties, one-sided label smoothing, label flipping,
             instance noise (losses.py, regularizers.py)
- state:     experience replay (regularizers.ImagePool)
- schedule:  TTUR (lr_d != lr_g), n critic steps, SGD for D, unrolled G loss (below).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from models import losses
from models.cgan import CONDITIONS, ConditionalDiscriminator, ConditionalGenerator, feature_width
from models.engine import Batch, Phase
from models.gan_nets import (
    ARCHS,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
)
from models.regularizers import ImagePool, instance_noise_std
from models.unrolled import unrolled_parameters

D_OPTIMIZERS = ("adam", "sgd")


@dataclass
class GANConfig:
    arch: str = "dcgan"  # mlp (vectors) | dcgan (28x28 grey or 32x32 colour images)
    z_dim: int = 100  # dimension of the N(0, I) noise z
    width: int = 64  # dcgan: base channel count; mlp: hidden units per layer
    depth: int = 3  # mlp: hidden layers in G and in D
    g_batchnorm: bool = True  # batch norm in G (DCGAN; optional for the MLP)
    d_batchnorm: bool | None = (
        None  # batch norm in D; None: DCGAN's default, off with gp/dragan or spectral norm
    )
    loss: str = "nonsaturating"  # minimax | nonsaturating | lsgan | wgan | wgan-gp | dragan | hinge
    penalty_weight: float = 10.0  # lambda of the WGAN-GP / DRAGAN gradient penalty
    clip: float = 0.01  # WGAN weight clipping range [-c, c]
    lr_g: float = 2e-4  # generator learning rate (Adam)
    lr_d: float = 2e-4  # discriminator learning rate; lr_d != lr_g is TTUR (Heusel et al. 2017)
    beta1: float = 0.5  # Adam beta1 (Radford et al. 2015)
    beta2: float = 0.999  # Adam beta2
    lr_decay: bool = False  # both learning rates decay linearly to 0 over the run
    d_optimizer: str = "adam"  # adam | sgd (SGD for D with Adam for G)
    n_critic: int = 1  # D steps per G step
    batch_size: int = 64
    spectral_norm: bool = False  # spectral normalisation of D's layers (Miyato et al. 2018)
    self_attention: bool = False  # SAGAN block in G and D (dcgan)
    minibatch_discrimination: bool = False  # Salimans et al. 2016, section 3.2, before D's read-out
    pack: int = 1  # PacGAN: D judges this many samples at once (Lin et al. 2018)
    unrolled_steps: int = 0  # k: G's loss through k differentiable D updates (Metz et al. 2016)
    instance_noise: float = 0.0  # std of noise on D's inputs at step 0, annealed linearly to 0
    instance_noise_steps: int = 0  # steps of that annealing; 0: the whole run
    label_flip: float = 0.0  # probability of swapping the real/fake label of a D example
    label_smoothing: float = 0.0  # one-sided: real target 1 - this (BCE and LS losses)
    replay: int = 0  # experience replay pool size for D's fakes; 0: off
    replay_p: float = 0.5  # chance a fake is swapped for a pooled one once the pool is full
    condition: str = "none"  # class conditioning of D: none | concat | projection | acgan (cgan.py)
    embed_dim: int = 32  # size of the label embedding fed to G (and to D with concat)
    aux_weight: float = 1.0  # acgan: weight of the auxiliary classifier's cross-entropy

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GANConfig:
        return cls(**d)

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.loss not in losses.LOSSES:
            raise ValueError(f"loss must be one of {sorted(losses.LOSSES)}, got {self.loss!r}")
        if self.d_optimizer not in D_OPTIMIZERS:
            raise ValueError(f"d_optimizer must be one of {D_OPTIMIZERS}, got {self.d_optimizer!r}")
        if self.label_smoothing and not losses.LOSSES[self.loss].smoothable:
            raise ValueError(
                f"label_smoothing has no meaning for the {self.loss} loss (no targets)"
            )
        for name in ("n_critic", "pack", "batch_size", "z_dim", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_size % self.pack:
            raise ValueError(f"batch_size {self.batch_size} must be a multiple of pack {self.pack}")
        for name in ("label_flip", "label_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.replay_p <= 1.0:
            raise ValueError(f"replay_p must be in [0, 1], got {self.replay_p}")
        if self.unrolled_steps < 0 or self.replay < 0 or self.instance_noise < 0:
            raise ValueError("unrolled_steps, replay and instance_noise must not be negative")
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.conditional and (self.pack > 1 or self.replay):
            # a pack or a replayed fake has no single label to condition on
            raise ValueError("pack > 1 and replay cannot be combined with a class condition")

    @property
    def conditional(self) -> bool:
        return self.condition != "none"

    def summary(self) -> str:
        """The loss and every stabilising trick switched on, e.g. 'hinge, spectral_norm, pack=2'."""
        tricks = ("spectral_norm", "self_attention", "minibatch_discrimination", "pack", "unrolled_steps",
                  "instance_noise", "label_flip", "label_smoothing", "replay", "n_critic", "lr_decay")  # fmt: skip
        base = GANConfig()
        on = [k if isinstance(getattr(self, k), bool) else f"{k}={getattr(self, k)}" for k in tricks
              if getattr(self, k) != getattr(base, k) and getattr(self, k)]  # fmt: skip
        if self.conditional:
            on.insert(0, f"conditional ({self.condition})")
        if self.d_optimizer != "adam":
            on.append(f"D {self.d_optimizer}")
        if self.lr_d != self.lr_g:
            on.append(f"TTUR {self.lr_d:g}/{self.lr_g:g}")
        return ", ".join([self.loss, *on])

    def d_uses_batchnorm(self) -> bool:
        if self.d_batchnorm is not None:
            return self.d_batchnorm
        # a per-example gradient penalty is not defined through batch statistics, and spectral
        # norm already controls D (Gulrajani et al. 2017, section 4; Miyato et al. 2018)
        return losses.LOSSES[self.loss].penalty is None and not self.spectral_norm


def build_models(
    cfg: GANConfig, shape: tuple[int, ...], seed: int, num_classes: int = 0
) -> dict[str, nn.Module]:
    """{'G', 'D'} for data of `shape`: (dim,) vectors for mlp, (C, S, S) images for dcgan.
    With a condition, G takes (z, y) and D (x, y) for labels y in 0..num_classes-1."""
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
    return {"G": G, "D": D}


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
        return module(x, y) if cfg.conditional else module(x)

    def aux_loss(out: tuple, y: torch.Tensor) -> torch.Tensor | None:
        """acgan: the auxiliary classifier's cross-entropy (Odena et al. 2017, eq. 2-3)."""
        if cfg.condition != "acgan":
            return None
        return torch.nn.functional.cross_entropy(out[2], y)

    device = next(G.parameters()).device
    spec = losses.LOSSES[cfg.loss]
    target = 1.0 - cfg.label_smoothing
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    if cfg.d_optimizer == "adam":
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
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
        y, y_fake = batch.get("y"), batch.get("y_fake")
        d_real, d_fake = disc(x_real, y), disc(x_fake, y_fake)
        out_real, out_fake = d_real[0], d_fake[0]
        if cfg.label_flip:
            u = torch.rand(out_real.shape, generator=_seeded(seed, step, 4, device), device=device)
            out_real, out_fake = losses.flip_labels(out_real, out_fake, u < cfg.label_flip)
        adv = spec.d(out_real, out_fake, target)
        terms = {"adv": adv, "real": out_real.mean(), "fake": out_fake.mean()}
        loss = adv
        aux = aux_loss(d_real, y)
        if aux is not None:
            aux = aux + aux_loss(d_fake, y_fake)
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

            def unroll_loss(params: dict, buffers: dict) -> torch.Tensor:
                def call(x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
                    args = (x, labels) if cfg.conditional else (x,)
                    return functional_call(D, (params, buffers), args)[0]

                return spec.d(call(x_real, y), call(fake, y_fake), target)

            params, buffers = unrolled_parameters(D, opt_d, unroll_loss, cfg.unrolled_steps)
            args = (fake, y_fake) if cfg.conditional else (fake,)
            d_fake = functional_call(D, (params, buffers), args)
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
        Phase("g", [G], opt_g, g_loss, every=cfg.n_critic, scheduler=scheds[1]),
    ]
    stateful: dict[str, Any] = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    if cfg.lr_decay:
        stateful.update(sched_d=scheds[0], sched_g=scheds[1])
    if pool is not None:
        stateful["replay"] = pool
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
