"""Training the translation families on a TranslationData with the shared trainer:
pix2pix (kind "pix2pix"), its L1-only U-Net baseline (kind "l1-unet": the same U-Net, no
discriminator) and CycleGAN (kind "cyclegan")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ganflow.models.config import Config, ConfigError
from ganflow.models.cyclegan import nets as cyclegan_nets
from ganflow.models.cyclegan import objective as cyclegan_objective
from ganflow.models.cyclegan.config import CycleGANConfig
from ganflow.models.cyclegan.config import resolve as resolve_cyclegan
from ganflow.models.engine import steps_for
from ganflow.models.image_batches import Jitter, paired_batches, unpaired_batches
from ganflow.models.pix2pix import nets as pix2pix_nets
from ganflow.models.pix2pix import objective as pix2pix_objective
from ganflow.models.pix2pix.config import Pix2PixConfig
from ganflow.models.pix2pix.config import resolve as resolve_pix2pix
from ganflow.tasks.data.translation import TranslationData
from ganflow.tasks.train.trainer import ProgressHook, RunConfig, Setup, run_training

KINDS = ("pix2pix", "l1-unet", "cyclegan")


def family_of(kind: str) -> str:
    return "cyclegan" if kind == "cyclegan" else "pix2pix"


def model_config(kind: str, overrides: dict[str, Any], image_size: int) -> Config:
    """The kind's config with the user's settings, resolved for the image side."""
    if kind not in KINDS:
        raise ConfigError(f"model must be one of {KINDS}, got {kind!r}")
    if kind == "cyclegan":
        return resolve_cyclegan(CycleGANConfig().with_overrides(overrides), image_size)
    cfg = Pix2PixConfig().with_overrides(overrides)
    if kind == "l1-unet":
        cfg = replace(cfg, gan_weight=0.0)
    return resolve_pix2pix(cfg, image_size)


def setup(
    data: TranslationData,
    kind: str,
    cfg: Config,
    run: RunConfig,
    device: torch.device,
    crop: int | None = None,
    flip: bool = False,
) -> Setup:
    """Networks, phases and run record of `kind` on the data's training images; with
    `crop` below the stored side (pix2pix's jitter: load at 286, crop 256), each batch is
    randomly cropped to it, and flipped with `flip`, the same way for both sides of a pair.
    The config must be resolved for the side the networks see (crop, or the stored side)."""
    size = crop or data.image_size
    if size > data.image_size:
        raise ConfigError(f"crop {size} is larger than the stored images ({data.image_size})")
    ca, cb = data.channels
    if kind == "cyclegan" and ca != cb and cfg.lambda_identity > 0:  # type: ignore[attr-defined]
        raise ConfigError(
            f"the identity loss maps each domain onto itself, so it needs the same channels "
            f"(A has {ca}, B has {cb}); set lambda_identity=0"
        )
    a = torch.from_numpy(data.train_a).to(device)
    b = torch.from_numpy(data.train_b).to(device)
    jitter = Jitter(size, flip, run.seed, salt=5)
    bs = cfg.batch_size  # type: ignore[attr-defined]
    total = steps_for(run.epochs, max(len(a), len(b)), bs)
    if kind == "cyclegan":
        models = cyclegan_nets.build_models(cfg, ca, cb, run.seed)  # type: ignore[arg-type]
        models = {k: m.to(device) for k, m in models.items()}
        batches = unpaired_batches(a, b, bs, run.seed, jitter)
        training = cyclegan_objective.build_training(models, cfg, batches, total, run.seed)  # type: ignore[arg-type]
    else:
        models = pix2pix_nets.build_models(cfg, ca, cb, run.seed)  # type: ignore[arg-type]
        models = {k: m.to(device) for k, m in models.items()}
        batches = paired_batches(a, b, bs, run.seed, jitter)
        training = pix2pix_objective.build_training(models, cfg, batches, total)  # type: ignore[arg-type]
    torch.manual_seed(run.seed)  # dropout's stream (pix2pix's noise), checkpointed with the rest
    record = {"family": family_of(kind), "kind": kind, "model": cfg.to_dict(), "seed": run.seed,
              "total_steps": total, "data": data.fingerprint["id"], "data_name": data.name,
              "image_shape": [cb, size, size], "channels": [ca, cb], "paired": data.paired,
              "stored_size": data.image_size, "flip": flip}  # fmt: skip
    return Setup(
        kind,
        models,
        training,
        total,
        record,
        extra={"class_names": data.class_names, "fingerprint": data.fingerprint},
        batch_size=bs,
        hint="Try a lower learning rate (--set lr=...).",
    )


def train(
    data: TranslationData,
    kind: str,
    cfg: Config,
    run: RunConfig,
    out_dir: str | Path,
    device: torch.device,
    progress: ProgressHook | None = None,
    crop: int | None = None,
    flip: bool = False,
) -> dict[str, Any]:
    """Train (or resume, or reuse a finished) run of `kind` in out_dir."""
    s = setup(data, kind, cfg, run, device, crop, flip)
    _, result = run_training(s, run, out_dir, device, progress)
    return {**result, "config": s.record["model"]}


def train_rank(payload: dict[str, Any]) -> dict[str, Any]:
    """One rank of a training spread over processes (tasks/train/distributed.py)."""
    from ganflow.tasks.data.translation import read_translation
    from ganflow.tasks.train.distributed import distribute, rank_device

    run = RunConfig.from_dict(payload["run"])
    device = rank_device(run.device)
    data = read_translation(payload["data_path"])
    cfg = model_config(payload["kind"], payload["settings"], payload["crop"] or data.image_size)
    s = setup(data, payload["kind"], cfg, run, device, payload["crop"], payload["flip"])
    s.training.grad_sync = distribute(s.models, {})
    _, result = run_training(s, run, payload["out_dir"], device)
    return {**result, "config": s.record["model"]}
