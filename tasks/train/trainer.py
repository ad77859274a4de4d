"""The one trainer every family uses: the engine's fit with checkpoints, resume, progress,
validation and a time budget. A family hands it a Setup (its networks, its Training from
the engine, what must match for a checkpoint to be resumed, an optional validation error);
the trainer knows nothing else about it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganflow.models.config import Config, ConfigError
from ganflow.models.engine import Callback, FitResult, NonFiniteLossError, Training, fit
from ganflow.tasks.io import sweep_stale_temps
from ganflow.tasks.progress import Progress
from ganflow.tasks.train.checkpoint import (
    CheckpointError,
    config_differences,
    load_checkpoint,
    restore,
    save_checkpoint,
)
from ganflow.tasks.train.devices import PRECISIONS, autocast_for, prepare_device
from ganflow.tasks.train.distributed import agree, is_main

CHECKPOINT_NAME = "checkpoint.pt"
# (step, total, logs) -> None: e.g. a Prefect progress artifact's update
ProgressHook = Callable[[int, int, dict], None]


@dataclass
class RunConfig(Config):
    # passes over the training data (the K+1 GAN: the unlabelled pool; its baseline gets the
    # same number of steps)
    epochs: int = 100
    # training seed: initialisation, noise, batch order
    seed: int = 0
    # auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps
    device: str = "auto"
    # auto (bf16 autocast on CUDA, fp32 elsewhere) | fp32 | bf16
    precision: str = "auto"
    # stop (with a checkpoint) once this much wall time is spent
    max_minutes: float | None = None
    # steps between checkpoints
    checkpoint_every: int = 500
    # and at least this often in minutes of training: a kill loses at most this much
    checkpoint_minutes: float = 2.0
    # steps between validation-error measurements
    eval_every: int = 250
    # steps between loss-history entries
    log_every: int = 25
    # processes the training is spread over (torchrun: one per GPU, or CPU processes with
    # gloo); batch sizes stay global (tasks/train/distributed.py)
    gpus: int = 1
    # torch.compile every network in place (nn.Module.compile: the weights and checkpoints
    # are unchanged); the first steps compile, a GPU gains the most
    compile: bool = False

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        self.require("at least 1", "epochs", "checkpoint_every", "eval_every", "log_every", "gpus")
        self.require("not negative", "seed")
        self.require("positive", "max_minutes", "checkpoint_minutes")


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; training stopped and the last good checkpoint is kept."""


@dataclass
class Setup:
    """A family's training, ready to fit.

    kind:        what the run is called in logs and results ("gan", "baseline", "aae-semi", ...)
    models:      the networks by name
    training:    the engine's phases, step-pure batches and stateful objects
    total_steps: steps of the whole run
    record:      what must match for a checkpoint to be resumed (family, kind, model config,
                 seed, steps, data id, shapes); stored as the checkpoint's "config"
    extra:       stored beside it (class names, data fingerprint)
    validation:  () -> held-out error for the history, or None
    batch_size:  images per step, for the throughput figure
    hint:        what to try when a loss diverges
    """

    kind: str
    models: dict[str, nn.Module]
    training: Training
    total_steps: int
    record: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    validation: Callable[[], float] | None = None
    batch_size: int = 1
    hint: str = "Try lower learning rates."


def bundle_run(family: str, kind: str, model: Config, run: RunConfig, total_steps: int,
               bundle: Any) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """(record, extra) of a run on a data bundle: what must match for its checkpoint to be
    resumed (family, kind, model config, seed, steps, data id, image shape, classes), and the
    class names and data fingerprint stored beside it."""
    record = {"family": family, "kind": kind, "model": model.to_dict(), "seed": run.seed,
              "total_steps": total_steps, "data": bundle.fingerprint["id"],
              "image_shape": list(bundle.image_shape), "num_classes": bundle.num_classes}  # fmt: skip
    return record, {"class_names": bundle.class_names, "fingerprint": bundle.fingerprint}


class Trainer:
    """Saves and resumes a Setup's checkpoint in out_dir and runs its fit."""

    def __init__(
        self, setup: Setup, run: RunConfig, out_dir: str | Path, device: torch.device
    ) -> None:
        self.setup, self.run, self.device = setup, run, device
        self.path = Path(out_dir) / CHECKPOINT_NAME
        self.history: list[dict[str, float]] = []
        self.last_saved: int | None = None
        self.spent_s = 0.0  # training seconds of the processes before this one (checkpoint's)
        self._since: float | None = None  # when this process's fit began

    def session_s(self) -> float:
        """Seconds since this process's fit began (0 before it)."""
        return 0.0 if self._since is None else time.monotonic() - self._since

    def training_s(self) -> float:
        """Seconds spent training this run so far, by every process that trained it."""
        return self.spent_s + self.session_s()

    @property
    def kind(self) -> str:
        return self.setup.kind

    @property
    def total_steps(self) -> int:
        return self.setup.total_steps

    def save(self, step: int) -> None:
        if self.last_saved == step or not is_main():  # one writer when spread over ranks
            return
        extra = {"history": self.history, "train_s": self.training_s(), **self.setup.extra}
        save_checkpoint(self.path, self.setup.training.stateful, step, self.setup.record, extra)
        self.last_saved = step

    def validation_error(self) -> float | None:
        return self.setup.validation() if self.setup.validation is not None else None

    def resume_step(self) -> int:
        """The step to start from: that of the checkpoint in out_dir (restored), else 0.
        Half-written checkpoints a killed run left are removed first."""
        if is_main():
            sweep_stale_temps(self.path.parent)
        if not self.path.exists():
            return 0
        ckpt = load_checkpoint(self.path, map_location=self.device)
        diffs = config_differences(ckpt["config"], self.setup.record)
        if diffs:
            raise CheckpointError(
                f"{self.path} was written by a run with another config, so it cannot be resumed: "
                + "; ".join(diffs)
                + ". Use a new run directory (it is left untouched)."
            )
        restore(self.setup.training.stateful, ckpt)
        self.history = list(ckpt.get("history", []))
        self.spent_s = float(ckpt.get("train_s", 0.0))
        self.last_saved = ckpt["step"]
        return int(ckpt["step"])

    def fit(self, start: int, callbacks: Sequence[Callback]) -> FitResult:
        """The shared engine's fit from `start`; a NaN/inf loss becomes TrainingDivergedError
        naming the last good checkpoint, which is kept."""
        t = self.setup.training
        self._since = time.monotonic()
        try:
            return fit(
                t.phases,
                t.next_batch,
                self.total_steps,
                start,
                callbacks,
                autocast_for(self.device, self.run.precision),
                t.grad_sync,
            )
        except NonFiniteLossError as e:
            kept = (
                f"the last good checkpoint is kept at {self.path} (step {self.last_saved})"
                if self.last_saved is not None
                else "no checkpoint had been written yet"
            )
            raise TrainingDivergedError(
                f"{self.kind} training stopped: {e}; {kept}. {self.setup.hint}"
            ) from e


class TrainingCallbacks:
    """Progress bar + progress hook, validation, loss history, checkpoints and time budget."""

    def __init__(self, trainer: Trainer, start: int, progress: ProgressHook | None) -> None:
        self.t, self.total, self.progress = trainer, trainer.total_steps, progress
        self.saved_at = time.monotonic()
        budget = trainer.run.max_minutes
        self.bar = Progress(
            f"{trainer.kind} seed {trainer.run.seed}",
            self.total,
            "step",
            initial=start,
            budget_s=None if budget is None else max(0.0, 60 * budget - trainer.session_s()),
        )
        self._last_hook = -1

    def on_step(self, step: int, logs: dict[str, float]) -> bool:
        t, run = self.t, self.t.run
        if step % run.log_every == 0:  # the losses beside the progress, as often as the history
            self.bar.update(1, **{k: v for k, v in logs.items() if k.endswith("loss")})
        else:
            self.bar.update(1)
        if step % run.log_every == 0 or step == self.total:
            t.history.append({"step": step, **logs})
        if step % run.eval_every == 0 or step == self.total:
            val = t.validation_error()
            if val is not None:
                t.history.append({"step": step, "val_error": val})
        now = time.monotonic()
        out_of_time = run.max_minutes is not None and t.session_s() > 60 * run.max_minutes
        due, out_of_time = agree(now - self.saved_at >= 60 * run.checkpoint_minutes, out_of_time)
        if step % run.checkpoint_every == 0 or step == self.total or due:
            t.save(step)
            self.saved_at = now
        # the hook (a Prefect progress artifact: one API call each) every 5 % of the run
        pct = int(20 * step / self.total)
        if self.progress is not None and (pct != self._last_hook or step == self.total):
            self._last_hook = pct
            self.progress(step, self.total, logs)
        return out_of_time

    def on_end(self, step: int, ok: bool) -> None:
        self.bar.close(done=ok)
        if ok:
            self.t.save(step)


def _rate(steps: int, seconds: float, batch_size: int) -> float | None:
    """Images a second over `steps` steps of `seconds`; None where either is 0."""
    return round(steps * batch_size / seconds, 1) if steps and seconds > 0 else None


def run_training(
    setup: Setup,
    run: RunConfig,
    out_dir: str | Path,
    device: torch.device,
    progress: ProgressHook | None = None,
    callbacks: Sequence[Callback] = (),
) -> tuple[Trainer, dict[str, Any]]:
    """Train (or resume, or reuse a finished) run in out_dir. Returns the trainer and the
    result every family reports: kind, checkpoint, steps, total_steps, resumed_from,
    stopped_early, wall_s (training, in every process that trained the run: a finished run
    read back reports the time it took), images_per_s (of the steps this process took, or
    of the whole run where it took none), val_error, device."""
    prepare_device(device)
    if run.compile:
        for module in setup.models.values():
            module.compile()
    trainer = Trainer(setup, run, out_dir, device)
    start = trainer.resume_step()
    result = trainer.fit(start, [*callbacks, TrainingCallbacks(trainer, start, progress)])
    wall = trainer.session_s()
    vals = [h["val_error"] for h in trainer.history if "val_error" in h]
    done = result.steps_done - start
    if done:
        spent, rate = trainer.spent_s + wall, _rate(done, wall, setup.batch_size)
    else:  # read back (with this process's time where the checkpoint predates train_s)
        spent = trainer.spent_s or wall
        rate = _rate(start, trainer.spent_s, setup.batch_size)
    return trainer, {
        "kind": setup.kind,
        "checkpoint": str(trainer.path),
        "steps": result.steps_done,
        "total_steps": setup.total_steps,
        "resumed_from": start or None,
        "stopped_early": result.stopped_early,
        "wall_s": round(spent, 2),
        "images_per_s": rate,
        "val_error": vals[-1] if vals else None,
        "device": str(device),
    }
