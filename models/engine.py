"""The one training loop every model family uses.

A family describes one training step as a list of Phases (discriminator, generator,
reconstruction, ...). `run_phases` executes them in order; `fit` loops over steps, asks for
batches and calls callbacks (progress, checkpoints, evaluation). Neither knows what a GAN is.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

Batch = dict[str, torch.Tensor]
LossFn = Callable[[Batch, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class Phase:
    """One optimisation phase of a training step.

    name:       short label used in logs ("d", "g", "sup", ...)
    modules:    the modules this phase trains; all others are frozen while it runs
    optimizer:  steps exactly those modules' parameters
    loss:       (batch, step) -> (loss, named terms for logging)
    every:      run on steps where step % every == 0 (n critic steps, slower players, ...)
    scheduler:  optional LR scheduler, stepped after each optimiser step of this phase
    after_step: optional hook after the optimiser step (historical averaging, EMA, ...)
    until:      run only on steps before this one (a warm-up phase); None: always
    start:      run only from this step on (a phase that follows a warm-up)
    """

    name: str
    modules: Sequence[nn.Module]
    optimizer: torch.optim.Optimizer
    loss: LossFn
    every: int = 1
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    after_step: Callable[[], None] | None = None
    until: int | None = None
    start: int = 0

    def due(self, step: int) -> bool:
        return (
            step % self.every == 0
            and step >= self.start
            and (self.until is None or step < self.until)
        )


@dataclass
class Training:
    """Everything a fit needs: the phases, the step-pure batch function, and every stateful
    object (modules, optimisers, schedulers, trick buffers) by the name it is checkpointed
    under. `ema`: the weight average a family evaluates with, where it keeps one."""

    phases: list[Phase]
    next_batch: Callable[[int], Batch]
    stateful: dict[str, Any] = field(default_factory=dict)
    ema: Any = None
    # called with a phase's modules between its backward and its optimiser step (the
    # gradient average of a run over several processes); None: one process
    grad_sync: Callable[[Sequence[nn.Module]], None] | None = None


class NonFiniteLossError(RuntimeError):
    """A phase produced a NaN or infinite loss; the step was not applied."""

    def __init__(self, phase: str, step: int, terms: dict[str, float]) -> None:
        self.phase, self.step, self.terms = phase, step, terms
        shown = ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
        super().__init__(f"non-finite loss in phase '{phase}' at step {step} ({shown})")


class Trainable:
    """The parameters of every module the phases train, listed once, in the phases' order:
    freezing the players a phase does not train then sets one flag per parameter instead of
    walking each module tree on every phase of every step. Where modules nest, a later one's
    setting wins, as module by module."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        modules = {id(m): m for ph in phases for m in ph.modules}
        self.params = {key: list(m.parameters()) for key, m in modules.items()}

    def only(self, trained: Sequence[nn.Module]) -> None:
        ids = {id(m) for m in trained}
        for key, params in self.params.items():
            flag = key in ids
            for p in params:
                p.requires_grad_(flag)

    def all(self) -> None:
        for params in self.params.values():
            for p in params:
                p.requires_grad_(True)


def _to_host(loss: torch.Tensor, terms: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """The loss and the logged terms as Python floats, in one transfer from the device (one
    host synchronisation per phase: the finite check before the optimiser step needs it)."""
    keys = [k for k, v in terms.items() if torch.is_tensor(v)]
    tensors = [loss, *(terms[k] for k in keys)]
    # float32 holds every float16, bfloat16 and float32 value exactly (and MPS has no float64)
    wide = any(t.dtype == torch.float64 for t in tensors)
    dtype = torch.float64 if wide else torch.float32
    stacked = torch.stack([t.detach().reshape(()).to(dtype) for t in tensors]).tolist()
    host = dict(zip(keys, stacked[1:], strict=True))
    return stacked[0], {k: host[k] if k in host else float(v) for k, v in terms.items()}


def run_phases(
    phases: Sequence[Phase],
    batch: Batch,
    step: int,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
    trainable: Trainable | None = None,
    grad_sync: Callable[[Sequence[nn.Module]], None] | None = None,
) -> dict[str, float]:
    """Run every phase due at `step` once, in order; return the logged terms as floats.
    `trainable`: the phases' parameters, listed once by the caller that loops (fit).
    `grad_sync(modules)`: runs after each backward, before the optimiser step.

    Raises NonFiniteLossError before the optimiser step if a loss is NaN or infinite, so
    the parameters are never touched by a bad step.
    """
    trainable = trainable if trainable is not None else Trainable(phases)
    logs: dict[str, float] = {}
    for ph in phases:
        if not ph.due(step):
            continue
        trainable.only(ph.modules)
        ph.optimizer.zero_grad(set_to_none=True)
        with autocast() if autocast is not None else contextlib.nullcontext():
            loss, terms = ph.loss(batch, step)
        loss_value, values = _to_host(loss, terms)
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(ph.name, step, {"loss": loss_value, **values})
        loss.backward()
        if grad_sync is not None:
            grad_sync(ph.modules)
        ph.optimizer.step()
        if ph.scheduler is not None:
            ph.scheduler.step()
        if ph.after_step is not None:
            ph.after_step()
        logs[f"{ph.name}/loss"] = loss_value
        logs.update({f"{ph.name}/{k}": v for k, v in values.items()})
    trainable.all()
    return logs


class Callback(Protocol):
    def on_step(self, step: int, logs: dict[str, float]) -> bool | None:
        """Called after `step` steps are complete; return True to stop training."""

    def on_end(self, step: int, ok: bool) -> None:
        """Called once when the loop ends: ok is False when it ends by an exception, in which
        case a callback must not persist the current state (it may be the bad one)."""


@dataclass
class FitResult:
    steps_done: int
    stopped_early: bool
    last_logs: dict[str, float] = field(default_factory=dict)


def fit(
    phases: Sequence[Phase],
    next_batch: Callable[[int], Batch],
    total_steps: int,
    start_step: int = 0,
    callbacks: Sequence[Callback] = (),
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
    grad_sync: Callable[[Sequence[nn.Module]], None] | None = None,
) -> FitResult:
    """Run steps start_step .. total_steps - 1. `next_batch(step)` must be a pure function of
    the step (and seeded state) so that a resumed run sees the same batches."""
    step, logs, stopped, ok = start_step, {}, False, False
    trainable = Trainable(phases)
    try:
        while step < total_steps:
            logs = run_phases(phases, next_batch(step), step, autocast, trainable, grad_sync)
            step += 1
            stops = [cb.on_step(step, logs) for cb in callbacks]
            if any(stops):
                stopped = True
                break
        ok = True
    finally:
        for cb in callbacks:
            cb.on_end(step, ok)
    return FitResult(steps_done=step, stopped_early=stopped, last_logs=logs)


def adam(
    params: Iterable[nn.Parameter],
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
) -> torch.optim.Adam:
    """torch.optim.Adam, fused (one kernel per step for all tensors) wherever every parameter
    allows it: floating point, on the CPU or a CUDA device. Same update rule; small networks,
    whose step time is mostly per-tensor optimiser ops, train faster on the CPU."""
    params = list(params)
    fused = bool(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params
    )
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)


def linear_decay(
    opt: torch.optim.Optimizer, total_steps: int, start: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate constant until start * total_steps, then linearly down to 0 at
    total_steps (the K+1 GAN's released code; CycleGAN's 100 + 100 epochs is start 0.5)."""
    begin = int(start * total_steps)
    span = max(1, total_steps - begin)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, max(0.0, (total_steps - s) / span))
    )


def steps_for(epochs: int, n: int, batch_size: int) -> int:
    """Steps of `epochs` passes over n items in batches of batch_size (at least 1)."""
    return max(1, epochs * math.ceil(n / batch_size))


class IndexStream:
    """Batch t of an endless stream of seeded epoch permutations of range(n).

    Batch t is a pure function of (n, batch_size, seed, t), so a resumed run draws exactly
    the batches an unbroken run would, with no sampler state to save. A batch may span the
    end of one permutation and the start of the next (needed when n < batch_size, as for a
    labelled set of 50 images and batches of 100).
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if n <= 0:
            raise ValueError("cannot draw batches from an empty set")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._cache: dict[int, torch.Tensor] = {}

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            if len(self._cache) > 4:
                self._cache.clear()
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache[epoch] = torch.randperm(self.n, generator=g)
        return self._cache[epoch]

    def __call__(self, step: int) -> torch.Tensor:
        start, stop = step * self.batch_size, (step + 1) * self.batch_size
        first, last = start // self.n, (stop - 1) // self.n
        stream = torch.cat([self._permutation(e) for e in range(first, last + 1)])
        offset = start - first * self.n
        return stream[offset : offset + self.batch_size]


def load_states(modules: dict[str, nn.Module], state: dict[str, Any]) -> None:
    """Each module's weights from the checkpoint entry of the same name."""
    missing = sorted(set(modules) - set(state))
    if missing:
        raise KeyError(f"the checkpoint has no weights for {missing}")
    for name, m in modules.items():
        m.load_state_dict(state[name])
