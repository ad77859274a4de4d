"""Unconditional-GAN steps: train (with checkpoints and resume) on the 2-D toy mixtures or on
an image data set, then score: VEEGAN's mode scores and heat maps for toy data, FID and the
other sample metrics with the domain classifier's features for images."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models import gan
from models.engine import IndexStream
from tasks import toy
from tasks.checkpoint import load_checkpoint
from tasks.data import DataSpec, load_bundle, prepare
from tasks.report import image_grid, save_png
from tasks.sources import SourceOptions
from tasks.train import CheckpointedTrainer, RunConfig, _Callbacks, select_device, steps_for

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class GANData:
    """What training needs from a data set: a step-pure real batch and the sample shape."""

    name: str
    shape: tuple[int, ...]  # of one sample as G makes it: (2,) toy, (C, S, S) images
    count: int | None  # training images (None: an endless toy stream)
    fingerprint: dict[str, Any]
    class_names: list[str] = field(default_factory=list)
    images: torch.Tensor | None = None  # (N, C, S, S) uint8
    labels: torch.Tensor | None = None  # (N,) int64 class of each image

    def real(self, batch_size: int, seed: int, device: torch.device, flat: bool,
             labelled: bool = False) -> gan.RealBatch:  # fmt: skip
        """step -> real batch in [-1, 1]; (batch, labels) when `labelled` (conditional GANs)."""
        if self.images is None:

            def draw(step: int) -> torch.Tensor:
                g = torch.Generator().manual_seed(seed * 1_000_003 + step)
                return (toy.sample(self.name, batch_size, g) / toy.SCALE[self.name]).to(device)

            return draw
        if labelled and self.labels is None:
            raise ValueError(f"{self.name} has no labels: a conditional GAN needs labelled images")
        x = self.images.to(device)
        y = self.labels.to(device) if labelled else None
        stream = IndexStream(len(x), batch_size, seed)

        def batch(step: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
            i = stream(step).to(device)
            b = x[i].float() / 127.5 - 1.0  # uint8 -> [-1, 1] for G's tanh
            b = b.flatten(1) if flat else b
            return b if y is None else (b, y[i])

        return batch


def load_data(name: str, source: SourceOptions | None = None, cache_dir: str | Path | None = None,
              labels_per_class: int | None = None, seed: int = 0) -> GANData:  # fmt: skip
    """A toy stream, or a data set's training images with their labels: all of them
    (labels_per_class None), or only the labelled subset of a split drawn with `seed`."""
    if name in toy.TOY_DATA:
        return GANData(name, (2,), None, {"id": f"toy-{name}"})
    spec = DataSpec(name=name, labels_per_class=labels_per_class or 1, seed=seed,
                    source=source or SourceOptions())  # fmt: skip
    b = load_bundle(prepare(spec, cache_dir)["path"])
    x, y = b.x_train, b.y_train
    if labels_per_class is not None:
        x, y = x[b.labelled], y[b.labelled]
    fp = b.fingerprint if labels_per_class else {**b.fingerprint, "labels": "all"}
    return GANData(name, tuple(b.image_shape), len(x), fp, b.class_names, x, y)


def network_shape(cfg: gan.GANConfig, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The sample shape the networks work on: images flattened to vectors for the MLP."""
    return (math.prod(shape),) if cfg.arch == "mlp" and len(shape) > 1 else tuple(shape)


class _GANTrainer(CheckpointedTrainer):
    def __init__(
        self, data: GANData, cfg: gan.GANConfig, run: RunConfig, steps: int | None, out_dir: Path
    ) -> None:
        self.data, self.cfg, self.run, self.kind = data, cfg, run, f"gan-{cfg.loss}"
        self.device = select_device(run.device)
        shape = network_shape(cfg, data.shape)
        self.flat = shape != data.shape
        self.num_classes = len(data.class_names) if cfg.conditional else 0
        self.models = {
            k: m.to(self.device)
            for k, m in gan.build_models(cfg, shape, run.seed, self.num_classes).items()
        }
        if steps is None:
            if data.count is None:
                raise ValueError(f"{data.name} is an endless stream: give a number of steps")
            steps = steps_for(run.epochs, data.count, cfg.batch_size)
        self.total_steps = steps
        real = data.real(cfg.batch_size, run.seed, self.device, self.flat, cfg.conditional)
        self.training = gan.build_training(self.models, cfg, real, steps, run.seed)
        self.path, self.history, self.last_saved = out_dir / CHECKPOINT_NAME, [], None

    def config(self) -> dict[str, Any]:
        return {"family": "gan", "kind": self.kind, "model": self.cfg.to_dict(), "seed": self.run.seed,
                "total_steps": self.total_steps, "data": self.data.fingerprint["id"], "data_name": self.data.name,
                "shape": list(self.data.shape), "num_classes": self.num_classes}  # fmt: skip

    def checkpoint_extra(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "class_names": self.data.class_names,
            "fingerprint": self.data.fingerprint,
        }


class _Snapshots:
    """Keeps G's samples at `count` evenly spaced steps (toy data): the heat-map frames."""

    def __init__(self, t: _GANTrainer, count: int, n: int = 2500) -> None:
        self.t, self.n = t, n
        total = t.total_steps
        self.at = sorted({max(1, round(total * (i + 1) / count)) for i in range(count)})
        self.frames: list[tuple[int, torch.Tensor]] = []

    def on_step(self, step: int, logs: dict[str, float]) -> bool:
        if step in self.at:
            self.frames.append(
                (
                    step,
                    toy.SCALE[self.t.data.name]
                    * gan.generate(gan.sampler(self.t.models), self.n, self.t.cfg.z_dim, 0),
                )
            )
        return False

    def on_end(self, step: int, ok: bool) -> None:
        pass


def train_gan(data: GANData, cfg: gan.GANConfig, run: RunConfig, out_dir: str | Path, steps: int | None = None,
              snapshots: int = 6, progress: Callable[[int, int, dict], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Train (or resume, or reuse a finished) GAN in out_dir; returns a small dict with the
    checkpoint path, steps and throughput (and heat-map frames for toy data)."""
    out_dir = Path(out_dir)
    t = _GANTrainer(data, cfg, run, steps, out_dir)
    start, t0 = t.resume_step(), time.monotonic()
    callbacks: list[Any] = [_Callbacks(t, start, t.total_steps, progress)]
    snaps = _Snapshots(t, snapshots) if data.images is None and snapshots else None
    if snaps is not None:
        callbacks.insert(0, snaps)
    result = t.fit(
        start,
        callbacks,
        None,
        "Try lower learning rates (--set lr_d=..., lr_g=...), or another loss.",
    )
    wall = time.monotonic() - t0
    out = {"kind": t.kind, "checkpoint": str(t.path), "steps": result.steps_done, "total_steps": t.total_steps,
           "resumed_from": start or None, "wall_s": round(wall, 2), "device": str(t.device),
           "samples_per_s": round((result.steps_done - start) * cfg.batch_size / wall, 1) if wall > 0 else None,
           "config": cfg.to_dict()}  # fmt: skip
    if snaps is not None and snaps.frames:
        path = toy.heatmaps_png(
            snaps.frames, data.name, out_dir / "heatmaps.png", f"{data.name}: {cfg.summary()}"
        )
        out["heatmaps"] = str(path)
    return out


def load_gan(checkpoint: str | Path, device: str = "cpu") -> dict[str, Any]:
    ckpt = load_checkpoint(checkpoint, map_location=device, family="gan")
    conf = ckpt["config"]
    cfg = gan.GANConfig.from_dict(conf["model"])
    shape = tuple(conf["shape"])
    models = gan.build_models(
        cfg, network_shape(cfg, shape), conf["seed"], conf.get("num_classes", 0)
    )
    for k, m in models.items():
        m.load_state_dict(ckpt["state"][k])
        m.to(device).eval()
    return {**models, "config": cfg, "run_config": conf, "shape": shape, "step": ckpt["step"],
            "history": ckpt.get("history", []), "class_names": ckpt.get("class_names", [])}  # fmt: skip


def generate_images(
    run: dict[str, Any], n: int, seed: int, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """n uint8 images (n, C, S, S) from a loaded image GAN (a conditional one: of `labels`,
    uniform over the classes when not given)."""
    if run["config"].conditional and labels is None:
        k = run["run_config"]["num_classes"]
        labels = torch.arange(n) % k
    x = gan.generate(gan.sampler(run), n, run["config"].z_dim, seed, labels=labels)
    return ((x.view(n, *run["shape"]).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def score_gan(checkpoint: str | Path, out_dir: str | Path, seed: int = 0, num_samples: int = 10_000,
              device: str = "auto", source: SourceOptions | None = None) -> dict[str, Any]:  # fmt: skip
    """Toy data: VEEGAN's modes and high-quality fraction on 2,500 samples. Images: FID, KID,
    IS, precision/recall and density/coverage against the test set in the domain classifier's
    features (the evaluation suite's extractor), plus a sample grid. Writes metrics.json."""
    out_dir = Path(out_dir)
    dev = str(select_device(device))
    run = load_gan(checkpoint, dev)
    name = run["run_config"]["data_name"]
    if name in toy.TOY_DATA:
        pts = toy.SCALE[name] * gan.generate(
            gan.sampler(run), toy.EVAL_SAMPLES, run["config"].z_dim, seed
        )
        res: dict[str, Any] = {**toy.mode_scores(pts, name), "protocol": {
            "data": name, "samples": toy.EVAL_SAMPLES, "seed": seed,
            "hq": "within 3 std of the nearest mode centre; a mode counts when it is nearest to one hq sample"}}  # fmt: skip
    else:
        from tasks.extractors import domain_extractor
        from tasks.quality import EvalParams, distribution_metrics
        from tasks.sources import load_source

        raw = load_source(name, source or SourceOptions())
        n = min(num_samples, len(raw.test_x))
        x = generate_images(run, n, seed)
        ext = domain_extractor(raw, name, dev, progress=True)
        p = EvalParams(seed=seed)
        res = distribution_metrics(ext, torch.from_numpy(raw.test_x), x, p)
        res["protocol"] = {"data": name, "extractor": ext.info, "fake_count": n, "real": {"split": "test", "count": len(raw.test_x)},
                           "seed": seed}  # fmt: skip
        if run["config"].conditional:  # one row of 8 per class (x's labels cycle through them)
            k = run["run_config"]["num_classes"]
            rows = torch.arange(min(n // k, 8) * k).reshape(-1, k).T.flatten()
            grid = image_grid(x[rows], nrow=len(rows) // k)
        else:
            grid = image_grid(x[:64])
        res["samples_png"] = str(save_png(grid, out_dir / "samples.png"))
    res.update(step=run["step"], config=run["config"].to_dict())
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(res, indent=2))
    return res
