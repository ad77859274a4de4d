"""One K+1 GAN training in 1 process and in N processes (torchrun; gloo on CPU, NCCL on
GPUs), the same config and global batch, side by side: steps, images/s, the largest loss
difference between the two runs over all steps, and the final validation error.

    .venv/bin/python benchmarks/distributed_benchmark.py [--data digits] [--processes 2]
        [--epochs 2] [--batch-size 100] [--device cpu|cuda]

In-network noise is switched off so that the runs must agree step by step.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import DataSpec, prepare
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--labels-per-class", type=int, default=5)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="ganflow-ddp-bench-")
    info = prepare(DataSpec(a.data, a.labels_per_class, 0), root)
    cfg = SSGANConfig().with_overrides(
        {"batch_size": a.batch_size, "labelled_batch_size": a.batch_size,
         "input_noise": 0.0, "hidden_noise": 0.0}
    )  # fmt: skip
    rows, hist = {}, {}
    for n in (1, a.processes):
        run = RunConfig(epochs=a.epochs, seed=0, device=a.device, log_every=1, gpus=n)
        r = train(info["path"], cfg, run, f"{root}/p{n}", "gan")
        rows[n] = r
        ckpt = torch.load(r["checkpoint"], weights_only=True)
        hist[n] = torch.tensor(
            [[h["d/loss"], h["g/loss"]] for h in ckpt["history"] if "d/loss" in h]
        )
    gap = float((hist[1] - hist[a.processes]).abs().max())
    print(f"{a.data}, batch {a.batch_size}, {a.epochs} epochs, device {a.device}")
    print(f"{'processes':>9} {'steps':>6} {'images/s':>9} {'train s':>8} {'val error %':>11}")
    for n, r in rows.items():
        print(
            f"{n:>9} {r['steps']:>6} {r['images_per_s']:>9.0f} {r['wall_s']:>8.1f} {100 * r['val_error']:>11.2f}"
        )
    print(f"largest |loss difference| over {len(hist[1])} steps: {gap:.2e}")


if __name__ == "__main__":
    main()
