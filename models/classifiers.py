"""Fixed image classifiers: the domain feature extractors of the evaluation suite and the
classifier of train-on-synthetic-test-on-real (CAS).

A LeNet-style conv net for 28x28 and 8x8 images, a small ResNet for 32x32 colour. Both return
(class logits (N, K), penultimate features (N, F)), like the discriminators: the features feed
FID/KID/precision/recall, the softmax feeds the Inception Score (the standard practice for
MNIST-like data, where ImageNet features say little).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


class SmallResNet(nn.Module):
    """A ResNet for 32x32 colour images: stem, three stages of two blocks (64, 128, 256
    channels; 32 -> 16 -> 8), global average pool (the 256-d features), fc K."""

    def __init__(self, channels: int, num_classes: int, width: int = 64) -> None:
        super().__init__()
        w = [width, 2 * width, 4 * width]
        self.stem = nn.Sequential(
            nn.Conv2d(channels, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU()
        )
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
    """'lenet' for 28x28 and 8x8 (and other sizes divisible by 4 up to 28), 'resnet' for 32x32."""
    _, h, w = image_shape
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    if h == 32:
        return "resnet"
    if h % 4 == 0 and h <= 28:
        return "lenet"
    raise ValueError(f"no domain classifier for {h}x{w} images (8, 28 and 32 are supported)")


def build_classifier(
    arch: str, image_shape: tuple[int, int, int], num_classes: int, seed: int = 0
) -> nn.Module:
    """A freshly initialised classifier; the initial weights depend only on `seed` (the global
    RNG is left as it was)."""
    c, h, _ = image_shape
    if arch not in ("lenet", "resnet"):
        raise ValueError(f"unknown classifier {arch!r}; choose lenet or resnet")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LeNet(c, h, num_classes) if arch == "lenet" else SmallResNet(c, num_classes)


@dataclass
class ClassifierTraining:
    epochs: int = 10  # passes over the training images
    batch_size: int = 128
    lr: float = 1e-3  # Adam, cosine-decayed to 0
    weight_decay: float = 5e-4
    flip: bool = False  # random horizontal flips (natural images only; never digits)
    seed: int = 0  # initialisation and batch order


def classifier_steps(n: int, cfg: ClassifierTraining) -> int:
    return steps_for(cfg.epochs, n, cfg.batch_size)


def recipe_for(n_train: int, min_epochs: int, min_steps: int, **kw) -> ClassifierTraining:
    """A fixed recipe of at least `min_epochs` epochs and about `min_steps` steps: small sets
    get more epochs, so every classifier sees a comparable amount of training."""
    batch = kw.get("batch_size", ClassifierTraining.batch_size)
    steps_per_epoch = steps_for(1, n_train, batch)
    return ClassifierTraining(epochs=max(min_epochs, -(-min_steps // steps_per_epoch)), **kw)


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
) -> nn.Module:
    """Train `model` on uint8 images x (N, C, H, W) with labels y (N,) by cross-entropy, with
    the shared engine (one phase). Deterministic for a seed on one device. Returns the model in
    eval mode on `device`."""
    if len(x) == 0:
        raise ValueError("cannot train a classifier on an empty set")
    torch.manual_seed(cfg.seed)
    model = model.to(device).train()
    x, y = x.to(device), y.to(device)
    stream = IndexStream(len(x), cfg.batch_size, cfg.seed)
    total = classifier_steps(len(x), cfg)
    opt = adam(model.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)

    def next_batch(step: int) -> dict[str, torch.Tensor]:
        i = stream(step).to(device)
        xb = x[i].float() / 255.0
        return {"x": _augment(xb, step, cfg.seed) if cfg.flip else xb, "y": y[i]}

    def loss(batch: dict[str, torch.Tensor], step: int):
        logits, _ = model(batch["x"])
        return F.cross_entropy(logits, batch["y"]), {}

    fit([Phase("cls", [model], opt, loss, scheduler=sched)], next_batch, total, callbacks=callbacks)
    return model.eval()
