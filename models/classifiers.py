"""Fixed image classifiers: the domain feature extractors of the evaluation suite and the
classifier of train-on-synthetic-test-on-real (CAS).

A LeNet-style conv net for 28x28 and 8x8 images, a small ResNet for 32x32 colour. Both return
(class logits (N, K), penultimate features (N, F)), like the discriminators: the features feed
FID/KID/precision/recall, the softmax feeds the Inception Score (the standard practice for
MNIST-like data, where ImageNet features say little).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models.engine import Callback, IndexStream, Phase, adam, fit, steps_for


class LeNet(nn.Module):
    """conv3-32, pool, conv3-64, pool, fc 256, fc `features` (the feature layer), fc K."""

    def __init__(self, channels: int, size: int, num_classes: int, features: int = 128) -> None:
        super().__init__()
        if size % 4:
            raise ValueError(f"LeNet needs an image size divisible by 4, got {size}")
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),  # (N, 64 * size/4 * size/4)
            nn.Linear(64 * (size // 4) ** 2, 256),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(256, features),
            nn.ReLU(),
        )
        self.head = nn.Linear(features, num_classes)
        self.num_features = features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)  # (N, F)
        return self.head(f), f


class _Block(nn.Module):
    """The basic residual block of He et al. 2016 (two 3x3 convs, projection shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


def stem_stride(side: int) -> int:
    """The stride of SmallResNet's stem: the power of 2 that brings a side of 64 or more to
    32-63 pixels (photographs at 64 to 256 cost what a 32-pixel image costs), else 1."""
    stride = 1
    while side // (2 * stride) >= 32:
        stride *= 2
    return stride


class SmallResNet(nn.Module):
    """A ResNet for colour or grey images of side 32 or more: a stem (strided for 64 and
    more: 64 -> 32, 128 -> 32, ...), three stages of two blocks (64, 128, 256 channels; each
    later stage halves the map), global average pool (the 256-d features), fc K."""

    def __init__(self, channels: int, num_classes: int, width: int = 64, side: int = 32) -> None:
        super().__init__()
        w = [width, 2 * width, 4 * width]
        s = stem_stride(side)
        self.stem = nn.Sequential(
            nn.Conv2d(channels, w[0], 3 if s == 1 else 2 * s - 1, s, s - 1 if s > 1 else 1,
                      bias=False),
            nn.BatchNorm2d(w[0]),
            nn.ReLU(),
        )  # fmt: skip
        blocks, cin = [], w[0]
        for i, cout in enumerate(w):
            blocks += [_Block(cin, cout, 1 if i == 0 else 2), _Block(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(w[-1], num_classes)
        self.num_features = w[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.blocks(self.stem(x)).mean(dim=(2, 3))  # (N, 4 * width)
        return self.head(f), f


def classifier_arch(image_shape: tuple[int, int, int]) -> str:
    """'lenet' for 28x28 and 8x8 (and other sizes divisible by 4 up to 28), 'resnet' for a
    side of 32 or more (a multiple of 4)."""
    _, h, w = image_shape
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    if h % 4 == 0 and h >= 32:
        return "resnet"
    if h % 4 == 0 and h <= 28:
        return "lenet"
    raise ValueError(
        f"no domain classifier for {h}x{w} images (a side that is a multiple of 4 is needed)"
    )


CLASSIFIERS = ("lenet", "resnet")


def build_classifier(
    arch: str, image_shape: tuple[int, int, int], num_classes: int, seed: int = 0
) -> nn.Module:
    """A freshly initialised classifier: 'lenet', 'resnet', or 'module:function', a user's
    function (image_shape, num_classes) -> nn.Module whose output is the class logits (or a
    tuple with them first). The initial weights depend only on `seed` (the global RNG is left
    as it was)."""
    c, h, _ = image_shape
    fn = user_classifier(arch) if ":" in arch else None
    if fn is None and arch not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {arch!r}; choose lenet, resnet or module:function")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if fn is not None:
            model: nn.Module = _LogitsFirst(_call_user(fn, arch, image_shape, num_classes))
        elif arch == "lenet":
            model = LeNet(c, h, num_classes)
        else:
            model = SmallResNet(c, num_classes, side=h)
    return model.to(memory_format=torch.channels_last)


def user_classifier(spec: str) -> Any:
    """The function a 'module:function' spec names (imported now, so a typo fails before any
    training), or a ValueError in one line."""
    import importlib

    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"classifier {spec!r}: write it as module:function")
    try:
        fn = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise ValueError(f"classifier {spec!r}: cannot import {module} ({e})") from e
    except AttributeError as e:
        raise ValueError(f"classifier {spec!r}: {module} has no {name}") from e
    if not callable(fn):
        raise ValueError(f"classifier {spec!r}: {module}.{name} is not a function")
    return fn


def _call_user(fn: Any, spec: str, image_shape: tuple, num_classes: int) -> nn.Module:
    model = fn(tuple(image_shape), num_classes)
    if not isinstance(model, nn.Module):
        raise ValueError(f"classifier {spec!r} returned {type(model).__name__}, not an nn.Module")
    return model


class _LogitsFirst(nn.Module):
    """A user's classifier with the (logits, features) output of the built-in ones (its
    logits stand for the features where it returns logits alone)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(x)
        if isinstance(out, tuple | list):
            return out[0], out[1] if len(out) > 1 else out[0]
        return out, out


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Image batches in the layout the classifiers are kept in: the same values, and on a CPU
    about 1.4x faster training and 1.7x faster inference of the LeNet (pooling and batch norm
    run vectorised over channels)."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


@dataclass
class ClassifierTraining:
    # at most this many passes over the training images (small sets: at least min_steps)
    epochs: int = 30
    # but at least this many steps, so that a set of a few dozen images still trains
    min_steps: int = 200
    batch_size: int = 128
    # Adam, cosine-decayed to 0 over the whole budget
    lr: float = 1e-3
    weight_decay: float = 5e-4
    # random horizontal flips (natural images only; never digits)
    flip: bool = False
    # initialisation, batch order and the validation split
    seed: int = 0
    # early stopping: this stratified share of the images is held out (none under 20 images);
    # the accuracy on it is measured every epoch (at least every 25 steps), and training
    # stops after `patience` measurements without a better one, keeping the best weights
    val_fraction: float = 0.1
    patience: int = 3
    # and, once min_steps steps are done, stops (keeping the best weights) when this much wall
    # time is spent; None: no cap. The floor comes first: a cap that stopped a classifier
    # on large images after a dozen steps would score nothing but its initialisation
    max_seconds: float | None = None


def training_summary(done: dict[str, Any]) -> str:
    """How a train_classifier run went, for the log: '2.3 epochs in 78.1 s (stopped: time)'."""
    return f"{done['epochs']} epochs in {done['seconds']} s (stopped: {done['stopped']})"


def classifier_steps(n: int, cfg: ClassifierTraining) -> int:
    """The step budget for n training images (early stopping may end it sooner)."""
    return max(steps_for(cfg.epochs, n, cfg.batch_size), cfg.min_steps)


def validation_split(
    y: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices): a stratified, seeded share of each class (at
    least one image of every class with two or more); no validation set under 20 images."""
    if len(y) < 20 or fraction <= 0:
        return torch.arange(len(y)), torch.empty(0, dtype=torch.long)
    g = torch.Generator().manual_seed(seed * 7_919 + 17)
    val = []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        val.append(idx[: max(1, round(fraction * len(idx)))] if len(idx) > 1 else idx[:0])
    val_idx = torch.sort(torch.cat(val)).values
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[val_idx] = False
    return torch.nonzero(keep).flatten(), val_idx


class EarlyStopping:
    """An engine callback: the validation accuracy every `every` steps; stops after
    `patience` measurements without a better one, or past `max_seconds` once `min_steps`
    steps are done, and leaves the model with its best weights."""

    def __init__(self, model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor, every: int,
                 patience: int, max_seconds: float | None, total: int,
                 min_steps: int = 0) -> None:  # fmt: skip
        self.model, self.x_val, self.y_val, self.every, self.total = (
            model,
            x_val,
            y_val,
            every,
            total,
        )
        self.patience, self.max_seconds, self.t0 = patience, max_seconds, time.monotonic()
        self.min_steps = min(min_steps, total)
        self.best, self.best_step, self.best_state, self.bad = -1.0, 0, None, 0
        self.stopped, self.measured = "budget", 0
        # `total` is also the learning-rate schedule's length: shortened from the budget once
        # the step rate shows that it does not fit in max_seconds (so the decay ends at 0)
        self.budget, self.probes = total, (25, 100)

    @torch.no_grad()
    def accuracy(self) -> float:
        was = self.model.training
        self.model.eval()
        correct = 0
        for i in range(0, len(self.x_val), 500):
            logits, _ = self.model(channels_last(self.x_val[i : i + 500].float() / 255.0))
            correct += int((logits.argmax(1) == self.y_val[i : i + 500]).sum())
        self.model.train(was)
        return correct / len(self.x_val)

    def _fit_to_time(self, step: int) -> None:
        """At each probe step: the steps that fit in the time left at the rate so far (a tenth
        spare for the validation passes), when fewer than the budget; the second probe
        corrects the first, whose rate includes the slower first steps."""
        spent = time.monotonic() - self.t0
        if self.max_seconds is None or spent <= 0:
            return
        fits = step + int(0.9 * (self.max_seconds - spent) * step / spent)
        self.total = max(min(fits, self.budget), step + 1, self.min_steps)
        self.stopped = "time" if self.total < self.budget else "budget"

    def on_step(self, step: int, logs: dict[str, float]) -> bool:
        if step in self.probes and step < self.budget:
            self._fit_to_time(step)
        late = self.max_seconds is not None and time.monotonic() - self.t0 > self.max_seconds
        late = (late and step >= self.min_steps) or (self.stopped == "time" and step >= self.total)
        if len(self.x_val) and (step % self.every == 0 or step == self.total or late):
            acc, self.measured = self.accuracy(), self.measured + 1
            if acc > self.best:
                self.best, self.best_step, self.bad = acc, step, 0
                self.best_state = {
                    k: v.detach().clone() for k, v in self.model.state_dict().items()
                }
            else:
                self.bad += 1
            if self.patience and self.bad >= self.patience:
                self.stopped = "patience"
                return True
        if late:
            self.stopped = "time"
            return True
        return False

    def on_end(self, step: int, ok: bool) -> None:
        if ok and self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def hard_labels(y: torch.Tensor) -> torch.Tensor:
    """Class indices (N,) of labels (N,) or of class probabilities (N, K) (their argmax)."""
    if y.dim() == 2:
        if not y.is_floating_point():
            raise ValueError("class probabilities (N, K) must be floating point")
        return y.argmax(1)
    return y


def _augment(x: torch.Tensor, step: int, seed: int) -> torch.Tensor:
    """Random horizontal flip of half the batch, a pure function of (seed, step)."""
    g = torch.Generator().manual_seed(seed * 7_919 + step)
    flip = (torch.rand(len(x), generator=g) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: ClassifierTraining,
    device: torch.device | str = "cpu",
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train `model` in place on uint8 images x (N, C, H, W) with labels y (N,), or class
    probabilities y (N, K) (soft targets: distillation; validated on their argmax), by
    cross-entropy, with the shared engine (one phase), for a budget that follows the data:
    cfg.epochs passes (at least cfg.min_steps steps), stopped early on a held-out validation
    split or a time cap (the best weights kept). Deterministic for a seed on one device unless
    the time cap ends it. Leaves the model in eval mode on `device`; returns what was done:
    steps, epochs, validation accuracy, seconds, why it stopped."""
    if len(x) == 0:
        raise ValueError("cannot train a classifier on an empty set")
    t0 = time.monotonic()
    torch.manual_seed(cfg.seed)
    model.to(device).train()
    hard = hard_labels(y)
    tr, va = validation_split(hard.cpu(), cfg.val_fraction, cfg.seed)
    x, y = x.to(device), y.to(device)
    x_val, y_val = x[va.to(device)], hard.to(device)[va.to(device)]
    x, y = x[tr.to(device)], y[tr.to(device)]
    stream = IndexStream(len(x), cfg.batch_size, cfg.seed)
    total = classifier_steps(len(x), cfg)
    opt = adam(model.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = steps_for(1, len(x), cfg.batch_size)
    stop = EarlyStopping(
        model,
        x_val,
        y_val,
        max(per_epoch, 25),
        cfg.patience,
        cfg.max_seconds,
        total,
        cfg.min_steps,
    )
    # cosine decay to 0 over the budget, or over the steps that fit in the time cap
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, stop.total) / stop.total))
    )

    def next_batch(step: int) -> dict[str, torch.Tensor]:
        i = stream(step).to(device)
        xb = x[i].float() / 255.0
        return {"x": channels_last(_augment(xb, step, cfg.seed) if cfg.flip else xb), "y": y[i]}

    def loss(batch: dict[str, torch.Tensor], step: int):
        logits, _ = model(batch["x"])
        return F.cross_entropy(logits, batch["y"]), {}  # class indices or probabilities

    res = fit([Phase("cls", [model], opt, loss, scheduler=sched)], next_batch, total,
              callbacks=[stop, *callbacks])  # fmt: skip
    model.eval()
    return {"steps": res.steps_done, "budget_steps": total, "epochs": round(res.steps_done / per_epoch, 2),
            "best_step": stop.best_step if len(x_val) else res.steps_done, "stopped": stop.stopped,
            "val_count": len(x_val), "val_accuracy": stop.best if len(x_val) else None,
            "train_count": len(x), "seconds": round(time.monotonic() - t0, 1)}  # fmt: skip
