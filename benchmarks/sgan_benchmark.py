"""SGAN (Huang et al. 2017) beside the class-conditional DCGAN (projection D) at one CPU
budget, on MNIST and CIFAR-10-small: FID, KID and the Inception score in the domain
classifier's features (the evaluation protocol's), precision / recall, and class consistency:
the share of samples drawn for class y that the domain classifier (trained on the real
training images, not SGAN's own encoder) reads as y.

    .venv/bin/python benchmarks/sgan_benchmark.py --shared ../shared/data --seeds 0,1

Rows: SGAN with ganflow's additions (minibatch features, the class in D1, a class loss on the
image), SGAN as the paper has it, the conditional DCGAN (`--rows 1,3` leaves the paper's out).

Both rows of a data set train for the same number of steps (batches of --batch images: one G
and one D update each; SGAN spends its first --encoder-steps of them training its encoder
instead), at width --width, under a --minutes cap; the table says the steps each took and
its wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ganflow.flows.gan import GANParams, run_gan

ROWS = {
    "SGAN (2 levels)": ("sgan", {}),
    "SGAN, the paper's discriminators": (
        "sgan",
        {"minibatch_discrimination": False, "class_d1": False, "class_weight": 0.0},
    ),
    "conditional DCGAN (projection)": ("gan", {"arch": "dcgan", "condition": "projection"}),
}
KEYS = ("fid", "kid_mean", "is_mean", "precision", "recall", "class_consistency")


def data_sets(shared: Path) -> dict[str, dict[str, Any]]:
    return {
        "mnist": {"data": "mnist", "data_root": str(shared / "mnist")},
        "cifar10-small": {
            "data": "folder",
            "data_root": str(shared / "cifar10-small"),
            "image_size": 32,
            "channels": 3,
        },  # fmt: skip
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--shared", default="../shared/data", help="the folder holding mnist/ and cifar10-small/"
    )
    ap.add_argument("--sets", default="mnist,cifar10-small")
    ap.add_argument("--minutes", type=float, default=6.0, help="time cap per row")
    ap.add_argument("--steps", default="1500,1000", help="steps per row, one per data set")
    ap.add_argument("--width", type=int, default=32, help="G's and D's base channels")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--encoder-steps", type=int, default=400)
    ap.add_argument("--seeds", default="0", help="comma-separated; each row runs every seed")
    ap.add_argument(
        "--rows",
        default=",".join(str(i) for i in range(1, len(ROWS) + 1)),
        help="which rows, numbered from 1 in the order above",
    )
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="sgan-bench-"))
    sets = data_sets(Path(args.shared))
    rows = []
    steps = [int(s) for s in args.steps.split(",")]
    rows_wanted = [list(ROWS)[int(i) - 1] for i in args.rows.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    for i, name in enumerate(args.sets.split(",")):
        for row, seed in ((r, s) for r in rows_wanted for s in seeds):
            family, model = ROWS[row]
            t = time.perf_counter()
            model = {**model, "width": args.width, "batch_size": args.batch}
            if family == "sgan":
                model["encoder_steps"] = args.encoder_steps
            p = GANParams(family=family, model=model, seeds=[seed], steps=steps[min(i, len(steps) - 1)],
                          max_minutes=args.minutes, num_samples=args.samples, **sets[name])  # fmt: skip
            tag = f"{name}-row{list(ROWS).index(row) + 1}-seed{seed}"
            s = run_gan(p, run_dir=root / tag)
            r = s["per_seed"][0]
            rows.append({"data": name, "config": row, "seed": seed, "steps": r["steps"],
                         "seconds": round(time.perf_counter() - t),
                         **{k: r.get(k) for k in KEYS}, "samples_png": r["samples_png"]})  # fmt: skip
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"width {args.width}, batch {args.batch}, at most {args.minutes} min per row, "
          f"{args.samples} samples vs the test set, domain-classifier features")  # fmt: skip
    print(
        f"{'data':<14} {'configuration':<34} {'seed':>4} {'steps':>6} {'s':>5} "
        + " ".join(f"{k:>17}" for k in KEYS)
    )
    for r in rows:
        cells = " ".join(f"{r[k]:>17.3f}" if r[k] is not None else f"{'-':>17}" for k in KEYS)
        print(f"{r['data']:<14} {r['config']:<34} {r['seed']:>4} {r['steps']:>6} "
              f"{r['seconds']:>5} {cells}")  # fmt: skip
    sgan, cdcgan = list(ROWS)[0], list(ROWS)[-1]
    for name in args.sets.split(","):
        mean = {}
        for k in (sgan, cdcgan):
            got = [r["class_consistency"] for r in rows if r["data"] == name and r["config"] == k]
            mean[k] = sum(got) / len(got) if got and None not in got else None
        if None in mean.values():
            continue
        ok = mean[sgan] >= mean[cdcgan]
        print(
            f"{name}: SGAN's class consistency {mean[sgan]:.3f} against the conditional "
            f"DCGAN's {mean[cdcgan]:.3f} (mean over seeds {args.seeds}): "
            f"{'MET' if ok else 'NOT MET'}"
        )
    print(f"samples: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
