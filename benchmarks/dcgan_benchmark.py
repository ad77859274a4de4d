"""DCGAN on an image data set under a fixed wall-time budget per loss, scored with the
evaluation suite's domain-classifier features (FID, KID, precision/recall) against the
test set.

    python benchmarks/dcgan_benchmark.py                       # fashion-mnist, 10 min per config
    python benchmarks/dcgan_benchmark.py --minutes 3 --samples 5000 --json

Each configuration gets the same budget (--minutes) and the same step cap (--epochs passes);
the table says how many steps each managed in it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from ganflow.flows.gan import GANParams, run_gan

CONFIGS: dict[str, dict[str, Any]] = {
    "non-saturating": {"loss": "nonsaturating"},
    "LSGAN": {"loss": "lsgan"},
    "WGAN-GP": {
        "loss": "wgan-gp",
        "n_critic": 5,
        "lr_d": 1e-4,
        "lr_g": 1e-4,
        "beta1": 0.0,
        "beta2": 0.9,
    },
    "hinge + spectral norm": {
        "loss": "hinge",
        "spectral_norm": True,
        "lr_d": 4e-4,
        "lr_g": 1e-4,
        "beta1": 0.0,
        "beta2": 0.9,
    },
}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget per configuration")
    ap.add_argument("--epochs", type=int, default=20, help="step cap: passes over the training set")
    ap.add_argument("--width", type=int, default=32, help="DCGAN base channels (64 is the paper's)")
    ap.add_argument("--samples", type=int, default=10_000, help="generated images scored")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="dcgan-bench-"))
    rows = []
    for name, over in CONFIGS.items():
        p = GANParams(
            data=args.data,
            model={"arch": "dcgan", "width": args.width, **over},
            seeds=[args.seed],
            epochs=args.epochs,
            max_minutes=args.minutes,
            num_samples=args.samples,
            device=args.device,
        )
        s = run_gan(p, run_dir=root / name.replace(" ", "_").replace("+", "and"))
        r = s["per_seed"][0]
        rows.append(
            {
                "config": name,
                "steps": r["steps"],
                "wall_s": r["wall_s"],
                **{k: r.get(k) for k in ("fid", "kid_mean", "precision", "recall")},
                "samples_png": r["samples_png"],
            }
        )
    if args.json:
        print(json.dumps(rows))
        return 0
    print(
        f"{args.data}: DCGAN width {args.width}, {args.minutes} min per configuration, {args.samples} samples "
        "vs the test set, domain-classifier features"
    )
    print(
        f"{'configuration':<24} {'steps':>7} {'FID':>9} {'KID':>9} {'precision':>10} {'recall':>8}"
    )
    for r in rows:
        print(
            f"{r['config']:<24} {r['steps']:>7} {r['fid']:>9.2f} {r['kid_mean']:>9.2f} {r['precision']:>10.3f} "
            f"{r['recall']:>8.3f}"
        )
    print(f"samples: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
