"""Training InfoGAN on a prepared data bundle's training images (no labels: they serve only
the scores), with the shared trainer; the validation curve is the categorical code's
clustering error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganflow.models.engine import steps_for
from ganflow.models.infogan.config import InfoGANConfig
from ganflow.models.infogan.nets import CodeReader, build_models
from ganflow.models.infogan.objective import build_training
from ganflow.tasks.data.bundle import DataBundle, load_bundle
from ganflow.tasks.data.neighbours import graph_partition
from ganflow.tasks.data.streams import GANData
from ganflow.tasks.evaluate.clustering import ValidationError
from ganflow.tasks.train.devices import select_device
from ganflow.tasks.train.trainer import RunConfig, Setup, bundle_run, run_training


def setup(
    bundle: DataBundle,
    cfg: InfoGANConfig,
    run: RunConfig,
    device: torch.device,
    bundle_path: str | Path | None = None,
) -> Setup:
    """With cfg.partition_weight, the real batches come with their part of the spectral
    partition (cached beside the bundle at bundle_path)."""
    models = {k: m.to(device) for k, m in build_models(cfg, bundle.image_shape, run.seed).items()}
    parts = None
    if cfg.partition_weight:
        if bundle_path is None:
            raise ValueError("partition_weight needs the bundle's path for its caches")
        try:
            parts = graph_partition(bundle.x_train, bundle_path, cfg.categorical, run.seed)
        except ValueError as e:
            raise ValueError(
                f"{e}: InfoGAN's graph prior; --set partition_weight=0 trains without it"
            ) from e
    data = GANData(
        "bundle",
        bundle.image_shape,
        len(bundle.x_train),
        bundle.fingerprint,
        bundle.class_names,
        bundle.x_train,
        parts,
    )
    real = data.real(cfg.batch_size, run.seed, device, flat=False, labelled=parts is not None)
    training = build_training(models, cfg, real, run.seed)
    total = steps_for(run.epochs, len(bundle.x_train), cfg.batch_size)
    record, extra = bundle_run("infogan", "infogan", cfg, run, total, bundle)
    reader = CodeReader(models["D"], models["Q"])
    return Setup(
        "infogan",
        models,
        training,
        total,
        record,
        extra=extra,
        validation=ValidationError(bundle, reader, cfg.categorical, False, device),
        batch_size=cfg.batch_size,
        hint="Try lower learning rates (--set lr_d=..., lr_g=...) or a smaller info_weight.",
    )


def train_infogan(
    bundle_path: str | Path, cfg: InfoGANConfig, run: RunConfig, out_dir: str | Path
) -> dict[str, Any]:
    """Train (or resume, or reuse a finished) InfoGAN in out_dir; returns the trainer's small
    dict (checkpoint, steps, wall time, images/s) and the config."""
    device = select_device(run.device)
    s = setup(load_bundle(bundle_path), cfg, run, device, bundle_path)
    _, out = run_training(s, run, out_dir, device)
    return {**out, "config": s.record["model"]}
