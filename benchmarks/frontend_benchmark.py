"""The scattering front end's speed by batch size: images/s of ScatteringFront.fit (the
scattering of every training image, then the PCA) on the CPU, each batch size beside the
old default of 1000 in one run, and whether its features equal that run's bit for bit.

    .venv/bin/python benchmarks/frontend_benchmark.py [--images 10000] [--batches 1000,256,64,32]
    .venv/bin/python benchmarks/frontend_benchmark.py --spread ../shared/data/cifar10-small \
        --image-size 32 --labels-per-class 40

With --spread, on a colour folder instead: how often labels spread from N labelled images
per class over each front end's 20-nearest-neighbour graph (the K+1 GAN's graph labels) are
right, and each front end's rate: the pixels' principal components, R, G and B scattered at
the image's side (the front end before 2026-12-06), and the front end now (the luminance
scattered at most at 32 pixels, the colour averaged).

Fashion-MNIST's training images (`apt-get install dataset-fashion-mnist`), else digits
upscaled to 28x28 (the same coefficient count).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def images(n: int) -> tuple[str, torch.Tensor]:
    from ganflow.tasks.data.sources import DataError, SourceOptions, load_source

    try:
        src = load_source("fashion-mnist", SourceOptions())
        return "fashion-mnist", torch.from_numpy(np.ascontiguousarray(src.train_x[:n]))
    except DataError:
        src = load_source("digits", SourceOptions())
        x = torch.from_numpy(np.ascontiguousarray(src.train_x)).float()
        x = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear")
        return "digits (28x28)", x.round().clamp(0, 255).to(torch.uint8)[:n]


def _whiten(c: torch.Tensor, dims: int = 100) -> torch.Tensor:
    """The front end's projection: top principal components, whitened, scaled to sqrt(dims)."""
    c = c - c.mean(0)
    torch.manual_seed(0)
    _, sv, v = torch.pca_lowrank(c, q=min(dims + 10, *c.shape), center=False, niter=4)
    z = c @ v[:, :dims] / (sv[:dims] / (len(c) - 1) ** 0.5)
    return torch.nn.functional.normalize(z, dim=1) * dims**0.5


def spread(root: str, side: int, per_class: int) -> None:
    from ganflow.models.scattering import Scattering2D, ScatteringFront
    from ganflow.tasks.data.folders import load_image_folder
    from ganflow.tasks.data.neighbours import (
        nearest_neighbours,
        neighbour_weights,
        propagate_labels,
    )
    from ganflow.tasks.data.sources import SourceOptions

    raw = load_image_folder(SourceOptions(root=root, image_size=side, channels=3))
    x, y = torch.from_numpy(raw.train_x), torch.from_numpy(raw.train_y)
    k = len(raw.class_names)
    rng = np.random.default_rng(0)
    lab = torch.from_numpy(np.concatenate(
        [rng.permutation(np.flatnonzero(raw.train_y == c))[:per_class] for c in range(k)]
    ))  # fmt: skip

    def rgb_scattering(x: torch.Tensor) -> torch.Tensor:
        sc = Scattering2D((side, side), J=2, L=8)
        xs = x.float() / 255
        return torch.cat([torch.log1p(10 * sc(xs[i : i + 64])).flatten(1)
                          for i in range(0, len(xs), 64)])  # fmt: skip

    fronts = {
        "pixels, 100 principal components": lambda x: x.float().flatten(1) / 255,
        f"R, G, B scattered at {side} (before)": rgb_scattering,
        "luminance scattered, colour averaged (now)": lambda x: ScatteringFront(
            (3, side, side), 100
        )._scatter(x),
    }
    print(f"{root}: {len(x)} training images at {side}x{side}, {per_class} labels per class")
    print(f"{'front end':<44} {'img/s':>7} {'alpha 0.95':>11} {'alpha 0.99':>11}")
    for name, coefficients in fronts.items():
        t = time.perf_counter()
        f = _whiten(coefficients(x))
        rate = len(x) / (time.perf_counter() - t)
        nb = nearest_neighbours(f, 20)
        w = neighbour_weights(f, nb, 3.0)
        right = [
            float(
                (propagate_labels(nb, lab, y[lab], k, a, weights=w).argmax(1) == y).float().mean()
            )
            for a in (0.95, 0.99)
        ]
        print(f"{name:<44} {rate:>7.0f} {100 * right[0]:>10.1f}% {100 * right[1]:>10.1f}%")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batches", default="1000,256,64,32")
    ap.add_argument("--spread", metavar="FOLDER", default=None)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--labels-per-class", type=int, default=40)
    args = ap.parse_args(argv)
    if args.spread:
        spread(args.spread, args.image_size, args.labels_per_class)
        return 0
    from ganflow.models.scattering import ScatteringFront

    name, x = images(args.images)
    batches = [int(b) for b in args.batches.split(",")]
    print(f"{name}: {len(x)} images, {torch.get_num_threads()} threads")
    print(f"{'batch':>6} {'img/s':>8} {'vs first':>9} {'same features':>14}")
    first = None
    for b in batches:
        front = ScatteringFront(tuple(x.shape[1:]), dims=49)
        t = time.perf_counter()
        f = front.fit(x, batch_size=b)
        rate = len(x) / (time.perf_counter() - t)
        first = first or (rate, f)
        same = "yes" if torch.equal(f, first[1]) else "no"
        print(f"{b:>6} {rate:>8.0f} {rate / first[0]:>8.2f}x {same:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
