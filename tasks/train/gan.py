"""Training the GAN family (any loss of the zoo, any trick, conditional or not) on the 2-D
toy mixtures or an image data set, with the shared trainer; and its scores: VEEGAN's mode
scores and heat maps for toy data, the evaluation protocol for images."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganflow.models.config import Config
from ganflow.models.engine import steps_for
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.nets import build_models, network_shape
from ganflow.models.gan.objective import build_training
from ganflow.models.gan.sampling import generate, sampler
from ganflow.models.infogan import nets as infogan_nets
from ganflow.models.infogan.config import InfoGANConfig
from ganflow.models.infogan.objective import build_training as infogan_training
from ganflow.models.lapgan import nets as lapgan_nets
from ganflow.models.lapgan.config import LAPGANConfig
from ganflow.models.lapgan.objective import build_training as lapgan_training
from ganflow.models.progan import nets as progan_nets
from ganflow.models.progan.config import ProGANConfig
from ganflow.models.progan.objective import build_training as progan_training
from ganflow.models.sgan import nets as sgan_nets
from ganflow.models.sgan.config import SGANConfig
from ganflow.models.sgan.objective import build_training as sgan_training
from ganflow.tasks.data import toy
from ganflow.tasks.data.sources import SourceOptions
from ganflow.tasks.data.streams import GANData
from ganflow.tasks.evaluate.scores import score_checkpoint
from ganflow.tasks.io import write_json
from ganflow.tasks.report.toy import heatmaps_png
from ganflow.tasks.train.checkpoint import load_run
from ganflow.tasks.train.devices import select_device
from ganflow.tasks.train.distributed import distribute, is_main, launch, rank_device
from ganflow.tasks.train.trainer import ProgressHook, RunConfig, Setup, run_training


def data_record(
    family: str,
    kind: str,
    cfg: Config,
    run: RunConfig,
    steps: int,
    data: GANData,
    num_classes: int = 0,
) -> dict[str, Any]:
    """What must match for a checkpoint of a run on a GANData to be resumed."""
    return {
        "family": family,
        "kind": kind,
        "model": cfg.to_dict(),
        "seed": run.seed,
        "total_steps": steps,
        "data": data.fingerprint["id"],
        "data_name": data.name,
        "shape": list(data.shape),
        "num_classes": num_classes,
    }


def total_steps(data: GANData, run: RunConfig, batch_size: int, steps: int | None) -> int:
    """`steps`, or run.epochs passes over the images (an endless toy stream needs steps)."""
    if steps is not None:
        return steps
    if data.count is None:
        raise ValueError(f"{data.name} is an endless stream: give a number of steps")
    return steps_for(run.epochs, data.count, batch_size)


def image_setup(
    family: str,
    data: GANData,
    cfg: Config,
    run: RunConfig,
    steps: int | None,
    device: torch.device,
    build: Callable,
    training: Callable,
) -> Setup:
    """The Setup of an image GAN family that is not the GAN family itself (InfoGAN, LAPGAN,
    progressive growing, SGAN): build(cfg, shape, seed) -> modules (a family of LABELLED:
    build(cfg, shape, seed, num_classes), and labelled real batches); training(modules, cfg,
    real, steps, seed)."""
    if data.images is None:
        raise ValueError(f"{family} trains on images, not on the 2-D {data.name} points")
    labelled = family in LABELLED
    k = len(data.class_names) if labelled else 0
    if labelled and (data.labels is None or k < 2):
        raise ValueError(f"{family} learns from the classes: {data.name} has no labels")
    args = (cfg, data.shape, run.seed, k) if labelled else (cfg, data.shape, run.seed)
    models = {name: m.to(device) for name, m in build(*args).items()}
    steps = total_steps(data, run, cfg.batch_size, steps)
    real = data.real(cfg.batch_size, run.seed, device, flat=False, labelled=labelled)
    lrs = [f"{name}=..." for name in cfg.field_types() if name.startswith("lr")]
    return Setup(
        family,
        models,
        training(models, cfg, real, steps, run.seed),
        steps,
        data_record(family, family, cfg, run, steps, data, k),
        extra={"class_names": data.class_names, "fingerprint": data.fingerprint},
        batch_size=cfg.batch_size,
        hint=f"Try lower learning rates (--set {', '.join(lrs)}).",
    )


# config class -> (family, build(cfg, shape, seed), training(models, cfg, real, steps, seed))
IMAGE_FAMILIES: dict[type, tuple[str, Callable, Callable]] = {
    InfoGANConfig: (
        "infogan",
        infogan_nets.build_models,
        lambda m, cfg, real, steps, seed: infogan_training(m, cfg, real, seed),
    ),
    LAPGANConfig: (
        "lapgan",
        lapgan_nets.build_models,
        lambda m, cfg, real, steps, seed: lapgan_training(m, cfg, real, seed),
    ),
    ProGANConfig: ("progan", progan_nets.build_models, progan_training),
    SGANConfig: ("sgan", sgan_nets.build_models, sgan_training),
}
# the families whose networks need the classes (and whose real batches carry the labels)
LABELLED = ("sgan",)


def setup(
    data: GANData, cfg: Config, run: RunConfig, steps: int | None, device: torch.device
) -> Setup:
    """The networks, phases and run record of the config's family: the GAN family (G and D
    for the data's sample shape, images flattened for the MLP) or one of IMAGE_FAMILIES;
    `steps` None: run.epochs passes over the images."""
    if type(cfg) in IMAGE_FAMILIES:
        family, build, training = IMAGE_FAMILIES[type(cfg)]
        return image_setup(family, data, cfg, run, steps, device, build, training)
    shape = network_shape(cfg, data.shape)
    flat = shape != data.shape
    num_classes = len(data.class_names) if cfg.conditional else 0
    models = {k: m.to(device) for k, m in build_models(cfg, shape, run.seed, num_classes).items()}
    steps = total_steps(data, run, cfg.batch_size, steps)
    real = data.real(cfg.batch_size, run.seed, device, flat, cfg.conditional)
    training = build_training(models, cfg, real, steps, run.seed)
    kind = f"gan-{cfg.loss}"
    return Setup(
        kind,
        models,
        training,
        steps,
        data_record("gan", kind, cfg, run, steps, data, num_classes),
        extra={"class_names": data.class_names, "fingerprint": data.fingerprint},
        batch_size=cfg.batch_size,
        hint="Try lower learning rates (--set lr_d=..., lr_g=...), or another loss.",
    )


class _Snapshots:
    """Keeps G's samples at `count` evenly spaced steps (toy data): the heat-map frames."""

    def __init__(self, s: Setup, data: GANData, count: int, n: int = 2500) -> None:
        self.s, self.data, self.n = s, data, n
        total = s.total_steps
        self.at = sorted({max(1, round(total * (i + 1) / count)) for i in range(count)})
        self.frames: list[tuple[int, torch.Tensor]] = []

    def on_step(self, step: int, logs: dict[str, float]) -> bool:
        if step in self.at:
            z_dim = self.s.record["model"]["z_dim"]
            pts = generate(sampler(self.s.models), self.n, z_dim, 0)
            self.frames.append((step, toy.SCALE[self.data.name] * pts))
        return False

    def on_end(self, step: int, ok: bool) -> None:
        pass


def train_gan(
    data: GANData,
    cfg: GANConfig,
    run: RunConfig,
    out_dir: str | Path,
    steps: int | None = None,
    snapshots: int = 6,
    progress: ProgressHook | None = None,
) -> dict[str, Any]:
    """Train (or resume, or reuse a finished) GAN in out_dir; returns a small dict with the
    checkpoint path, steps and throughput (and heat-map frames for toy data)."""
    if run.gpus > 1:
        payload = {
            "cfg": cfg.to_dict(),
            "run": run.to_dict(),
            "out_dir": str(out_dir),
            "steps": steps,
            "snapshots": snapshots,
        }
        return launch("gan", payload, run.gpus, out_dir, dataclasses.asdict(data))
    return _train(data, cfg, run, out_dir, steps, snapshots, progress, select_device(run.device))


def train_rank(payload: dict[str, Any]) -> dict[str, Any]:
    """One rank of a training spread over processes (tasks/train/distributed.py)."""
    run = RunConfig.from_dict(payload["run"])
    fields = torch.load(payload["tensors"], map_location="cpu", weights_only=True)
    data = GANData(**{**fields, "shape": tuple(fields["shape"])})
    return _train(
        data,
        GANConfig.from_dict(payload["cfg"]),
        run,
        payload["out_dir"],
        payload["steps"],
        payload["snapshots"],
        None,
        rank_device(run.device),
        distributed=True,
    )


def _train(
    data: GANData,
    cfg: GANConfig,
    run: RunConfig,
    out_dir: str | Path,
    steps: int | None,
    snapshots: int,
    progress: ProgressHook | None,
    device: torch.device,
    distributed: bool = False,
) -> dict[str, Any]:
    out_dir = Path(out_dir)
    s = setup(data, cfg, run, steps, device)
    if distributed:
        s.training.grad_sync = distribute(s.models, {})
    snaps = _Snapshots(s, data, snapshots) if data.images is None and snapshots else None
    _, out = run_training(s, run, out_dir, device, progress, [snaps] if snaps is not None else [])
    out = {**out, "samples_per_s": out["images_per_s"], "config": cfg.to_dict()}
    if snaps is not None and snaps.frames and is_main():
        path = heatmaps_png(
            snaps.frames, data.name, out_dir / "heatmaps.png", f"{data.name}: {cfg.summary()}"
        )
        out["heatmaps"] = str(path)
    return out


def score_gan(
    checkpoint: str | Path,
    out_dir: str | Path,
    seed: int = 0,
    num_samples: int = 10_000,
    device: str = "auto",
    source: SourceOptions | None = None,
) -> dict[str, Any]:
    """Toy data: VEEGAN's modes and high-quality fraction on 2,500 samples. Images: the
    evaluation protocol (FID, KID, IS, precision/recall, density/coverage in the domain
    classifier's features, beside the real-vs-real floor) and a sample grid. Writes
    metrics.json."""
    out_dir = Path(out_dir)
    dev = str(select_device(device))
    run = load_run(checkpoint, dev)
    name = run.record["data_name"]
    if name not in toy.TOY_DATA:
        res = score_checkpoint(checkpoint, out_dir, name, seed, num_samples, dev, source)
    else:
        pts = toy.SCALE[name] * generate(
            sampler(run.modules), toy.EVAL_SAMPLES, run.config.z_dim, seed
        )
        res = {
            **toy.mode_scores(pts, name),
            "protocol": {
                "data": name,
                "samples": toy.EVAL_SAMPLES,
                "seed": seed,
                "hq": "within 3 std of the nearest mode centre; a mode counts when it is nearest to one hq sample",
            },
        }
    res.update(step=run.step, config=run.config.to_dict())
    write_json(out_dir / "metrics.json", res)
    return res
