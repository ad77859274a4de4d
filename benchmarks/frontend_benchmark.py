"""The scattering front end's speed by batch size: images/s of ScatteringFront.fit (the
scattering of every training image, then the PCA) on the CPU, each batch size beside the
old default of 1000 in one run, and whether its features equal that run's bit for bit.

    .venv/bin/python benchmarks/frontend_benchmark.py [--images 10000] [--batches 1000,256,64,32]

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batches", default="1000,256,64,32")
    args = ap.parse_args(argv)
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
