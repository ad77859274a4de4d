"""K+1-class semi-supervised GAN (Salimans et al. 2016, section 5): config and phases.

One training step is two phases:
  d: L_D = L_supervised(labelled batch) + w * L_unsupervised(unlabelled batch, G(z))
         [+ historical averaging of D's parameters]
  g: L_G = feature matching on D's last hidden layer (default), or the non-saturating loss
         [+ historical averaging of G's parameters]
The supervised-only baseline is the same discriminator with the `sup` phase alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from models.engine import Batch, IndexStream, Phase, adam
from models.losses import (
    feature_matching_loss,
    generator_nonsaturating_loss,
    supervised_loss,
    unsupervised_loss,
)
from models.regularizers import EMA, HistoricalAveraging
from models.ssgan_nets import (
    ARCH_BY_SIZE,
    ARCH_IMAGE_SIZE,
    ARCHS,
    build_discriminator,
    build_generator,
    sample_z,
)


@dataclass
class SSGANConfig:
    arch: str = "auto"  # mlp28 | mlp8 | conv28 | conv32 | conv8; auto picks by image size
    z_dim: int = 100  # generator noise size, z ~ U(0, 1)
    feature_matching: bool = True  # G: ||E f(x) - E f(G(z))||^2 (sec. 3.1); else non-saturating
    minibatch_discrimination: bool = False  # minibatch features before D's output (sec. 3.2)
    mbd_kernels: int = 50  # B, number of minibatch kernels (sec. 3.2)
    mbd_kernel_dim: int = 5  # C, dimension of each kernel (sec. 3.2)
    historical_averaging: float = 0.0  # weight of ||theta - mean_t theta_t||^2 (sec. 3.3); 0 = off
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - alpha (sec. 3.4); 0 = off
    virtual_batch_norm: bool = True  # VBN in G, fixed reference batch (sec. 3.5); else BN
    vbn_reference_size: int = 100  # size of the VBN reference batch
    weight_norm: bool = True  # weight-normalised D layers, as in the released models
    input_noise: float | None = None  # std of Gaussian noise on D's input (None: arch default)
    hidden_noise: float | None = None  # std of Gaussian noise on D's hidden layers
    input_dropout: float | None = None  # dropout rate on D's input
    dropout: float | None = None  # dropout rate on D's hidden layers
    unsupervised_weight: float = 1.0  # w, weight of L_unsupervised in D's loss
    lr_d: float | None = None  # Adam learning rate of D (None: the arch's default)
    lr_g: float | None = None  # Adam learning rate of G
    beta1: float = 0.5  # Adam beta1, as in the released code
    batch_size: int = 100  # unlabelled and generated batch size
    labelled_batch_size: int = 100  # labelled batch size (the labelled set repeats within it)
    lr_decay_start: float = 0.66  # fraction of training after which lr decays linearly to 0
    ema_decay: float = 0.0  # EMA of D's weights for evaluation; 0 = off

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SSGANConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown SSGAN config fields: {sorted(unknown)}")
        return cls(**d)


# Defaults that differ by architecture: the MLP and CIFAR values are the released code's.
ARCH_DEFAULTS: dict[str, dict[str, float]] = {
    "mlp28": dict(
        input_noise=0.3, hidden_noise=0.5, input_dropout=0.0, dropout=0.0, lr_d=0.003, lr_g=0.003
    ),
    "conv28": dict(
        input_noise=0.3, hidden_noise=0.3, input_dropout=0.0, dropout=0.0, lr_d=0.001, lr_g=0.001
    ),
    "conv8": dict(
        input_noise=0.2, hidden_noise=0.3, input_dropout=0.0, dropout=0.0, lr_d=0.001, lr_g=0.001
    ),
    "conv32": dict(
        input_noise=0.0, hidden_noise=0.0, input_dropout=0.2, dropout=0.5, lr_d=0.0003, lr_g=0.0003
    ),
}
ARCH_DEFAULTS["mlp8"] = ARCH_DEFAULTS["mlp28"]  # the same model on 8x8 inputs


def resolve(cfg: SSGANConfig, image_size: int) -> SSGANConfig:
    """Fill `arch: auto` and the None fields for images of `image_size`; the resolved config is
    what checkpoints store, so a run is reproducible from it alone."""
    arch = cfg.arch
    if arch == "auto":
        if image_size not in ARCH_BY_SIZE:
            raise ValueError(
                f"no default architecture for {image_size}x{image_size} images; resize to one of "
                f"{sorted(ARCH_BY_SIZE)} (e.g. --image-size 32) or name --arch"
            )
        arch = ARCH_BY_SIZE[image_size]
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if ARCH_IMAGE_SIZE[arch] != image_size:
        raise ValueError(
            f"architecture {arch} takes {ARCH_IMAGE_SIZE[arch]}x{ARCH_IMAGE_SIZE[arch]} images, the data are {image_size}x{image_size}"
        )
    filled = {k: v for k, v in ARCH_DEFAULTS[arch].items() if getattr(cfg, k) is None}
    return dataclasses.replace(cfg, arch=arch, **filled)


def build_models(
    cfg: SSGANConfig, channels: int, num_classes: int, seed: int
) -> dict[str, nn.Module]:
    """{'D': discriminator/classifier, 'G': generator} for a resolved config."""
    return {
        "D": build_discriminator(cfg.arch, channels, num_classes, cfg),
        "G": build_generator(cfg.arch, channels, cfg, seed),
    }


@dataclass
class Training:
    """Everything a fit needs: the phases, the batch function, and every stateful object
    (modules, optimisers, schedulers, trick buffers) by the name it is checkpointed under."""

    phases: list[Phase]
    next_batch: Callable[[int], Batch]
    stateful: dict[str, Any] = field(default_factory=dict)
    ema: EMA | None = None


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def make_batches(
    data: dict[str, torch.Tensor], cfg: SSGANConfig, seed: int, unlabelled: bool
) -> Callable[[int], Batch]:
    """data: x_lab (L, C, H, W) uint8, y_lab (L,), x_unl (U, C, H, W) uint8, all on one device.
    Each stream is an IndexStream, so batch t depends only on (seed, t)."""
    lab = IndexStream(len(data["x_lab"]), cfg.labelled_batch_size, seed * 3 + 1)
    if unlabelled:
        unl = IndexStream(len(data["x_unl"]), cfg.batch_size, seed * 3 + 2)
        unl2 = IndexStream(len(data["x_unl"]), cfg.batch_size, seed * 3 + 3)
    device = data["x_lab"].device

    def next_batch(step: int) -> Batch:
        i = lab(step).to(device)
        batch = {"x_lab": _as_float(data["x_lab"][i]), "y_lab": data["y_lab"][i]}
        if unlabelled:
            batch["x_unl"] = _as_float(data["x_unl"][unl(step).to(device)])
            batch["x_unl2"] = _as_float(data["x_unl"][unl2(step).to(device)])
        return batch

    return next_batch


def _adam(module: nn.Module, lr: float, cfg: SSGANConfig) -> torch.optim.Adam:
    return adam(module.parameters(), lr, (cfg.beta1, 0.999))


def _linear_decay(
    opt: torch.optim.Optimizer, total_steps: int, start: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """lr * 1 until start * total, then linearly to 0 at total (the released code's schedule)."""
    begin = int(start * total_steps)
    span = max(1, total_steps - begin)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, max(0.0, (total_steps - s) / span))
    )


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == y).float().mean()


def _player(
    name: str, module: nn.Module, lr: float, cfg: SSGANConfig, total_steps: int, stateful: dict
) -> tuple[torch.optim.Adam, Any, HistoricalAveraging | None]:
    """Optimiser, schedule and (optional) historical average of one player, registered in
    `stateful` under opt_<name>, sched_<name>, hist_<name>."""
    opt = _adam(module, lr, cfg)
    sched = _linear_decay(opt, total_steps, cfg.lr_decay_start)
    hist = (
        HistoricalAveraging(module, cfg.historical_averaging)
        if cfg.historical_averaging > 0
        else None
    )
    stateful.update({f"opt_{name}": opt, f"sched_{name}": sched})
    if hist is not None:
        stateful[f"hist_{name}"] = hist
    return opt, sched, hist


def _classifier_ema(D: nn.Module, cfg: SSGANConfig, stateful: dict) -> EMA | None:
    """EMA of the classifier's weights (registered as ema_d), or None when ema_decay is 0."""
    if cfg.ema_decay <= 0:
        return None
    stateful["ema_d"] = EMA(D, cfg.ema_decay)
    return stateful["ema_d"]


def _after(
    hist: HistoricalAveraging | None, ema: EMA | None, module: nn.Module
) -> Callable[[], None] | None:
    if hist is None and ema is None:
        return None

    def hook() -> None:
        if hist is not None:
            hist.update()
        if ema is not None:
            ema.update(module)

    return hook


def build_training(
    models: dict[str, nn.Module],
    cfg: SSGANConfig,
    data: dict[str, torch.Tensor],
    total_steps: int,
    seed: int,
) -> Training:
    """The K+1 GAN's two phases (d, g) over labelled + unlabelled data."""
    D, G = models["D"], models["G"]
    stateful: dict[str, Any] = {"D": D, "G": G}
    opt_d, sched_d, hist_d = _player("d", D, cfg.lr_d, cfg, total_steps, stateful)
    opt_g, sched_g, hist_g = _player("g", G, cfg.lr_g, cfg, total_steps, stateful)
    ema = _classifier_ema(D, cfg, stateful)
    device = next(D.parameters()).device
    real_target = 1.0 - cfg.label_smoothing

    def d_loss(batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits_lab, _ = D(batch["x_lab"])  # (L, K)
        logits_unl, _ = D(batch["x_unl"])  # (N, K)
        with torch.no_grad():
            fake = G(sample_z(cfg.batch_size, cfg.z_dim, device))  # (N, C, H, W)
        logits_fake, _ = D(fake)
        l_sup = supervised_loss(logits_lab, batch["y_lab"])
        l_unsup = unsupervised_loss(logits_unl, logits_fake, real_target)
        loss = l_sup + cfg.unsupervised_weight * l_unsup
        terms = {
            "sup": l_sup.detach(),
            "unsup": l_unsup.detach(),
            "acc_lab": _accuracy(logits_lab, batch["y_lab"]),
        }
        if hist_d is not None:
            h = hist_d.penalty()
            loss, terms["hist"] = loss + h, h.detach()
        return loss, terms

    def g_loss(batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        fake = G(sample_z(cfg.batch_size, cfg.z_dim, device))
        logits_fake, f_fake = D(fake)
        if cfg.feature_matching:
            with torch.no_grad():
                _, f_real = D(batch["x_unl2"])
            loss = feature_matching_loss(f_real, f_fake)
        else:
            loss = generator_nonsaturating_loss(logits_fake)
        terms = {"adv": loss.detach()}
        if hist_g is not None:
            h = hist_g.penalty()
            loss, terms["hist"] = loss + h, h.detach()
        return loss, terms

    phases = [
        Phase("d", [D], opt_d, d_loss, scheduler=sched_d, after_step=_after(hist_d, ema, D)),
        Phase("g", [G], opt_g, g_loss, scheduler=sched_g, after_step=_after(hist_g, None, G)),
    ]
    return Training(phases, make_batches(data, cfg, seed, unlabelled=True), stateful, ema)


def build_baseline_training(
    models: dict[str, nn.Module],
    cfg: SSGANConfig,
    data: dict[str, torch.Tensor],
    total_steps: int,
    seed: int,
) -> Training:
    """The same discriminator trained on the labelled subset alone, for the same number of
    steps: the supervised-only baseline every report sets beside the GAN."""
    D = models["D"]
    cfg = dataclasses.replace(cfg, historical_averaging=0.0)  # a GAN trick: not in the baseline
    stateful: dict[str, Any] = {"D": D}
    opt, sched, hist = _player("d", D, cfg.lr_d, cfg, total_steps, stateful)
    ema = _classifier_ema(D, cfg, stateful)

    def sup_loss(batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, _ = D(batch["x_lab"])
        loss = supervised_loss(logits, batch["y_lab"])
        return loss, {"acc_lab": _accuracy(logits, batch["y_lab"])}

    phases = [Phase("sup", [D], opt, sup_loss, scheduler=sched, after_step=_after(hist, ema, D))]
    return Training(phases, make_batches(data, cfg, seed, unlabelled=False), stateful, ema)
