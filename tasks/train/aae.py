"""Training the adversarial autoencoder (clustering, or semi-supervised with a labelled
split) on a prepared data bundle, with the shared trainer. The front end's fit, the
neighbour table and the spectral partition are computed once and cached beside the bundle
(tasks/data/neighbours.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ganflow.models.aae.config import AAEConfig
from ganflow.models.aae.nets import build_models
from ganflow.models.aae.objective import build_training
from ganflow.models.engine import steps_for
from ganflow.tasks.data.bundle import DataBundle, load_bundle
from ganflow.tasks.data.neighbours import (
    cached_neighbour_table,
    cached_partition,
    fit_frontend,
    frontend_cache,
    neighbour_cache,
    propagate_labels,
)
from ganflow.tasks.evaluate.clustering import ValidationError
from ganflow.tasks.progress import announced
from ganflow.tasks.train.devices import select_device
from ganflow.tasks.train.distributed import distribute, launch, rank_device
from ganflow.tasks.train.trainer import RunConfig, Setup, bundle_run, run_training


def _training_data(
    bundle: DataBundle,
    cfg: AAEConfig,
    models: dict,
    seed: int,
    semi: bool,
    bundle_path: Path,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """The tensors build_training needs: images, [front-end features], [neighbours],
    [the spectral partition], [the labelled split], each computed once and cached."""
    data = {"x": bundle.x_train.to(device)}
    features = None
    if cfg.frontend != "pixels":
        cache = frontend_cache(bundle_path, cfg.frontend, cfg.frontend_dims)
        features = fit_frontend(models["E"].front, bundle.x_train, cache)
        data["f"] = features.to(device)
    if cfg.uses_neighbours:
        space = (
            f"{cfg.frontend}-d{cfg.frontend_dims}"
            if features is not None
            else f"d{cfg.neighbour_dims}"
        )
        cache = neighbour_cache(bundle_path, cfg.neighbours, space)
        data["neighbours"] = cached_neighbour_table(
            bundle.x_train, cfg.neighbours, cfg.neighbour_dims, cache, features
        )
        if cfg.uses_head_init and semi:  # the labels spread over the graph
            lab = bundle.labelled
            spread = announced(
                f"labels of {len(lab)} images spread over the {cfg.neighbours}-neighbour graph "
                f"(alpha {cfg.graph_alpha:g})",
                propagate_labels,
                data["neighbours"],
                lab,
                bundle.y_train[lab],
                bundle.num_classes,
                cfg.graph_alpha,
            )
            data["init_labels"] = spread.argmax(1).to(device)
        elif cfg.uses_head_init:
            data["init_labels"] = cached_partition(data["neighbours"], cache, cfg.clusters, seed)
    if semi:
        data.update(
            x_lab=bundle.x_train[bundle.labelled].to(device),
            y_lab=bundle.y_train[bundle.labelled].to(device),
        )
        if features is not None:
            data["f_lab"] = data["f"][bundle.labelled.to(device)]
    return data


def setup(
    bundle: DataBundle,
    cfg: AAEConfig,
    run: RunConfig,
    semi: bool,
    bundle_path: Path,
    device: torch.device,
) -> Setup:
    cfg = cfg.resolved(bundle.image_shape)  # the checkpoint keeps the settled front end
    kind = "aae-semi" if semi else "aae"
    models = {
        k: m.to(device)
        for k, m in build_models(bundle.image_shape, cfg, bundle.num_classes, run.seed).items()
    }
    data = _training_data(bundle, cfg, models, run.seed, semi, bundle_path, device)
    training = build_training(models, cfg, data, run.seed, bundle.num_classes)
    total = steps_for(run.epochs, len(bundle.x_train), cfg.batch_size)
    record, extra = bundle_run("aae", kind, cfg, run, total, bundle)
    return Setup(
        kind,
        models,
        training,
        total,
        record,
        extra=extra,
        validation=ValidationError(bundle, models["E"], cfg.clusters, semi, device),
        batch_size=cfg.batch_size,
        hint="Try lower learning rates (--set lr_reg=..., lr_disc=...).",
    )


def train_aae(
    bundle_path: str | Path, cfg: AAEConfig, run: RunConfig, out_dir: str | Path, semi: bool = False
) -> dict[str, Any]:
    """Train (or resume, or reuse a finished) AAE in out_dir; returns a small dict whose
    wall_s includes the front end's fit and the neighbour search (setup_s) and whose
    images_per_s counts training alone."""
    if run.gpus > 1:
        payload = {"bundle_path": str(bundle_path), "cfg": cfg.to_dict(), "run": run.to_dict(),
                   "out_dir": str(out_dir), "semi": semi}  # fmt: skip
        return launch("aae", payload, run.gpus, out_dir)
    return _train(bundle_path, cfg, run, out_dir, semi, select_device(run.device))


def train_rank(payload: dict[str, Any]) -> dict[str, Any]:
    """One rank of a training spread over processes (tasks/train/distributed.py)."""
    run = RunConfig.from_dict(payload["run"])
    return _train(payload["bundle_path"], AAEConfig.from_dict(payload["cfg"]), run,
                  payload["out_dir"], payload["semi"], rank_device(run.device), distributed=True)  # fmt: skip


def _train(
    bundle_path: str | Path,
    cfg: AAEConfig,
    run: RunConfig,
    out_dir: str | Path,
    semi: bool,
    device: torch.device,
    distributed: bool = False,
) -> dict[str, Any]:
    t_setup = time.monotonic()
    s = setup(load_bundle(bundle_path), cfg, run, semi, Path(bundle_path), device)
    if distributed:
        s.training.grad_sync = distribute(s.models, {})
    setup_s = time.monotonic() - t_setup
    _, out = run_training(s, run, out_dir, device)
    return {
        **out,
        "wall_s": round(setup_s + out["wall_s"], 2),
        "setup_s": round(setup_s, 2),
        "config": s.record["model"],
    }
