"""Training task: build a model from its config, run the engine's fit with checkpoints,
progress and validation, resume from the last checkpoint, pick the device and precision."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models import ssgan
from models.engine import FitResult, NonFiniteLossError, fit, steps_for  # noqa: F401 (steps_for re-exported)
from tasks.checkpoint import (
    CheckpointError,
    config_differences,
    load_checkpoint,
    restore,
    save_checkpoint,
)
from tasks.data import DataBundle, load_bundle
from tasks.evaluate import predict

CHECKPOINT_NAME = "checkpoint.pt"
KINDS = ("gan", "baseline")


@dataclass
class RunConfig:
    epochs: int = 100  # passes over the unlabelled pool; the baseline gets the same number of steps
    seed: int = 0  # training seed: initialisation, noise, batch order
    device: str = "auto"  # auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 elsewhere) | fp32 | bf16
    max_minutes: float | None = None  # stop (with a checkpoint) once this much wall time is spent
    checkpoint_every: int = 500  # steps between checkpoints
    eval_every: int = 250  # steps between validation-error measurements
    log_every: int = 25  # steps between loss-history entries


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; training stopped and the last good checkpoint is kept."""


def select_device(preference: str = "auto") -> torch.device:
    if preference != "auto":
        dev = torch.device(preference)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "device 'cuda' was asked for but CUDA is not available here; use --device auto or cpu"
            )
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_for(
    device: torch.device, precision: str
) -> Callable[[], contextlib.AbstractContextManager] | None:
    """bf16 autocast on CUDA by default (no loss scaling needed for bf16); fp32 elsewhere."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return None
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class _Callbacks:
    """Progress bar + progress hook, validation, loss history, checkpoints and time budget."""

    def __init__(
        self,
        trainer: _Trainer,
        start: int,
        total: int,
        progress: Callable[[int, int, dict], None] | None,
    ) -> None:
        self.t, self.total, self.progress = trainer, total, progress
        self.t0 = time.monotonic()
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=total,
            initial=start,
            desc=f"{trainer.kind} seed {trainer.run.seed}",
            file=sys.stderr,
            disable=None,
            dynamic_ncols=True,
        )
        self._last_hook = -1

    def on_step(self, step: int, logs: dict[str, float]) -> bool:
        t, run = self.t, self.t.run
        self.bar.update(1)
        if step % run.log_every == 0 or step == self.total:
            t.history.append({"step": step, **logs})
            self.bar.set_postfix(
                {k: f"{v:.3f}" for k, v in logs.items() if k.endswith("loss")}, refresh=False
            )
        if step % run.eval_every == 0 or step == self.total:
            val = t.validation_error()
            if val is not None:
                t.history.append({"step": step, "val_error": val})
        if step % run.checkpoint_every == 0 or step == self.total:
            t.save(step)
        pct = int(100 * step / self.total)
        if self.progress is not None and pct != self._last_hook:
            self._last_hook = pct
            self.progress(step, self.total, logs)
        return run.max_minutes is not None and time.monotonic() - self.t0 > 60 * run.max_minutes

    def on_end(self, step: int, ok: bool) -> None:
        self.bar.close()
        if ok:
            self.t.save(step)


class CheckpointedTrainer:
    """Checkpoint saving and resuming shared by every family's trainer. A subclass sets path,
    device, bundle, training (with .stateful), history and last_saved, and defines config():
    what must match for a checkpoint to be resumed."""

    path: Path
    device: torch.device
    bundle: DataBundle
    history: list[dict[str, float]]
    last_saved: int | None
    total_steps: int
    kind: str

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def save(self, step: int) -> None:
        if self.last_saved == step:
            return
        save_checkpoint(
            self.path, self.training.stateful, step, self.config(), self.checkpoint_extra()
        )
        self.last_saved = step

    def validation_error(self) -> float | None:
        """The held-out error the progress history records; None: this family has none."""
        return None

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"history": self.history, "class_names": self.bundle.class_names,
                "fingerprint": self.bundle.fingerprint}  # fmt: skip

    def fit(self, start: int, callbacks: list, autocast: Any, hint: str) -> FitResult:
        """The shared engine's fit from `start`; a NaN/inf loss becomes TrainingDivergedError
        naming the last good checkpoint, which is kept."""
        try:
            return fit(
                self.training.phases,
                self.training.next_batch,
                self.total_steps,
                start,
                callbacks,
                autocast,
            )
        except NonFiniteLossError as e:
            kept = (
                f"the last good checkpoint is kept at {self.path} (step {self.last_saved})"
                if self.last_saved is not None
                else "no checkpoint had been written yet"
            )
            raise TrainingDivergedError(f"{self.kind} training stopped: {e}; {kept}. {hint}") from e

    def resume_step(self) -> int:
        if not self.path.exists():
            return 0
        ckpt = load_checkpoint(self.path, map_location=self.device)
        diffs = config_differences(ckpt["config"], self.config())
        if diffs:
            raise CheckpointError(
                f"{self.path} was written by a run with another config, so it cannot be resumed: "
                + "; ".join(diffs)
                + ". Use a new run directory (it is left untouched)."
            )
        restore(self.training.stateful, ckpt)
        self.history = list(ckpt.get("history", []))
        self.last_saved = ckpt["step"]
        return int(ckpt["step"])


class _Trainer(CheckpointedTrainer):
    def __init__(
        self, bundle: DataBundle, cfg: ssgan.SSGANConfig, run: RunConfig, out_dir: Path, kind: str
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.run, self.out_dir = kind, run, out_dir
        self.bundle, self.device = bundle, select_device(run.device)
        c, h, w = bundle.image_shape
        if h != w:
            raise ValueError(f"images must be square, got {h}x{w}")
        self.cfg = ssgan.resolve(cfg, h)
        torch.manual_seed(run.seed)
        self.models = {
            k: m.to(self.device)
            for k, m in ssgan.build_models(self.cfg, c, bundle.num_classes, run.seed).items()
        }
        data = {
            "x_lab": bundle.x_train[bundle.labelled].to(self.device), "y_lab": bundle.y_train[bundle.labelled].to(self.device),
            "x_unl": bundle.x_train.to(self.device),
        }  # fmt: skip
        self.total_steps = steps_for(run.epochs, len(bundle.x_train), self.cfg.batch_size)
        build = ssgan.build_training if kind == "gan" else ssgan.build_baseline_training
        self.training = build(self.models, self.cfg, data, self.total_steps, run.seed)
        self.history: list[dict[str, float]] = []
        self._ema_classifier: nn.Module | None = None
        self.path = out_dir / CHECKPOINT_NAME
        self.last_saved: int | None = None

    def config(self) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed: not the device or the time budget."""
        return {
            "family": "ssgan", "kind": self.kind, "model": self.cfg.to_dict(), "seed": self.run.seed,
            "total_steps": self.total_steps, "data": self.bundle.fingerprint["id"],
            "image_shape": list(self.bundle.image_shape), "num_classes": self.bundle.num_classes,
        }  # fmt: skip

    def classifier(self) -> nn.Module:
        D = self.models["D"]
        if self.training.ema is None:
            return D
        if self._ema_classifier is None:
            # built once, and without touching the training RNG stream (weight init draws)
            with torch.random.fork_rng(devices=[]):
                c, k = self.bundle.image_shape[0], self.bundle.num_classes
                D_ema = ssgan.build_models(self.cfg, c, k, self.run.seed)["D"]
            self._ema_classifier = D_ema.to(self.device)
        self.training.ema.copy_to(self._ema_classifier)
        return self._ema_classifier

    def validation_error(self) -> float:
        if len(self.bundle.y_val) == 0:
            return float("nan")
        D = self.classifier()
        was_training = D.training
        pred = predict(D, self.bundle.x_val, self.device).argmax(1)
        D.train(was_training)
        return float((pred != self.bundle.y_val).float().mean())


def train(bundle_path: str | Path, cfg: ssgan.SSGANConfig, run: RunConfig, out_dir: str | Path, kind: str = "gan",
          progress: Callable[[int, int, dict], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Train (or resume, or reuse a finished) `kind` model in out_dir; returns a small dict:
    checkpoint path, steps, wall time, throughput, final validation error."""
    out_dir = Path(out_dir)
    trainer = _Trainer(load_bundle(bundle_path), cfg, run, out_dir, kind)
    if trainer.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    start = trainer.resume_step()
    t0 = time.monotonic()
    callbacks = [_Callbacks(trainer, start, trainer.total_steps, progress)]
    result = trainer.fit(start, callbacks, autocast_for(trainer.device, run.precision),
                         "Try a lower learning rate (--set lr_d=..., lr_g=...) or precision fp32.")  # fmt: skip
    wall = time.monotonic() - t0
    batch = trainer.cfg.batch_size if kind == "gan" else trainer.cfg.labelled_batch_size
    vals = [h["val_error"] for h in trainer.history if "val_error" in h]
    return {
        "kind": kind, "checkpoint": str(trainer.path), "steps": result.steps_done, "total_steps": trainer.total_steps,
        "resumed_from": start or None, "stopped_early": result.stopped_early, "wall_s": round(wall, 2),
        "images_per_s": round((result.steps_done - start) * batch / wall, 1) if wall > 0 else None,
        "val_error": vals[-1] if vals else None, "device": str(trainer.device), "config": trainer.cfg.to_dict(),
    }  # fmt: skip


def load_trained(checkpoint: str | Path, device: str = "cpu") -> dict[str, Any]:
    """Rebuild the networks of a finished run from its checkpoint alone: {'classifier' (EMA
    weights if the run kept them), 'generator' (GAN runs), 'config', 'class_names', ...}."""
    ckpt = load_checkpoint(checkpoint, map_location=device, family="ssgan")
    conf = ckpt["config"]
    cfg = ssgan.SSGANConfig.from_dict(conf["model"])
    models = ssgan.build_models(cfg, conf["image_shape"][0], conf["num_classes"], conf["seed"])
    models["D"].load_state_dict(ckpt["state"]["D"])
    if "ema_d" in ckpt["state"]:
        models["D"].load_state_dict(ckpt["state"]["ema_d"]["shadow"])
    if "G" in ckpt["state"]:
        models["G"].load_state_dict(ckpt["state"]["G"])
    out = {
        "classifier": models["D"].to(device).eval(), "config": cfg, "class_names": ckpt.get("class_names"),
        "step": ckpt["step"], "history": ckpt.get("history", []), "run_config": conf,
    }  # fmt: skip
    if "G" in ckpt["state"]:
        out["generator"] = models["G"].to(device).eval()
    return out


def with_overrides(cfg: ssgan.SSGANConfig, overrides: dict[str, Any]) -> ssgan.SSGANConfig:
    """Apply key=value overrides (from --set) with a clear error for unknown keys."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    bad = sorted(set(overrides) - set(fields))
    if bad:
        raise ValueError(f"unknown model setting(s) {bad}; known: {', '.join(sorted(fields))}")
    return dataclasses.replace(cfg, **overrides)


# --- Prefect adapter ---------------------------------------------------------------------
from prefect import task  # noqa: E402


@task(name="train", task_run_name="train-{kind}")
def train_task(
    bundle_path: str | Path,
    cfg: ssgan.SSGANConfig,
    run: RunConfig,
    out_dir: str | Path,
    kind: str = "gan",
) -> dict[str, Any]:
    """`train` with a Prefect progress artifact that follows the training steps."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    artifact_id = create_progress_artifact(
        progress=0.0, description=f"{kind} training, seed {run.seed}"
    )

    def hook(step: int, total: int, logs: dict) -> None:
        update_progress_artifact(artifact_id, progress=100.0 * step / total)

    return train(bundle_path, cfg, run, out_dir, kind, progress=hook)
