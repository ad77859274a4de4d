"""DCGAN on an image data set under a fixed wall-time budget per loss, scored with the
evaluation suite's domain-classifier features (FID, KID, precision/recall) against the
test set.

    python benchmarks/dcgan_benchmark.py                       # fashion-mnist, 10 min per config
    python benchmarks/dcgan_benchmark.py --minutes 3 --samples 5000 --json
    python benchmarks/dcgan_benchmark.py --families --minutes 5  # the lectures' other systems

Each configuration gets the same budget (--minutes) and the same step cap (--epochs passes);
the table says how many steps each managed in it. --families compares, at that budget, the
plain DCGAN (first row) with LOGAN's latent step on it, InfoGAN, LAPGAN and progressive
growing, then the class-conditional DCGAN (projection D) with BigGAN's tricks beside it.
"""

from __future__ import annotations

import argparse
import json
import re
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
    # EBGAN (Zhao et al. 2016): an autoencoder D, the margin loss and the pulling-away term
    "EBGAN (margin 1, PT 0.1)": {"loss": "ebgan", "margin": 1.0, "pt_weight": 0.1},
}


# --families: (family, model settings on top of the width); the plain DCGAN first
FAMILY_ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "DCGAN (non-saturating)": ("gan", {"arch": "dcgan", "loss": "nonsaturating"}),
    "DCGAN + LOGAN (ngd)": ("gan", {"arch": "dcgan", "latent_opt": "ngd"}),
    "InfoGAN (10-way code)": ("infogan", {"arch": "conv"}),
    "LAPGAN": ("lapgan", {}),
    "progressive growing": ("progan", {}),
    "conditional DCGAN (projection)": ("gan", {"arch": "dcgan", "condition": "projection"}),
    "conditional, BigGAN's tricks": (
        "gan",
        {"arch": "biggan", "condition": "projection", "ortho_reg": 1e-4},
    ),
}
# the width setting of each family's config
WIDTH_KEY = {"gan": "width", "infogan": "width", "lapgan": "channels", "progan": "channels"}


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
    ap.add_argument("--families", action="store_true", help="the other GAN systems (see above)")
    ap.add_argument(
        "--only", default=None, help="comma-separated row numbers of the table run (1 = the first)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="dcgan-bench-"))
    rows = []
    if args.families:
        table = {
            n: (fam, {WIDTH_KEY[fam]: args.width, **over}) for n, (fam, over) in FAMILY_ROWS.items()
        }
    else:
        table = {
            n: ("gan", {"arch": "dcgan", "width": args.width, **o}) for n, o in CONFIGS.items()
        }
    if args.only:
        keep = {int(i) for i in args.only.split(",")}
        table = {n: v for i, (n, v) in enumerate(table.items(), 1) if i in keep}
    for name, (family, model) in table.items():
        p = GANParams(
            data=args.data,
            family=family,
            model=model,
            seeds=[args.seed],
            epochs=args.epochs,
            max_minutes=args.minutes,
            num_samples=args.samples,
            device=args.device,
        )
        s = run_gan(p, run_dir=root / re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_"))
        r = s["per_seed"][0]
        rows.append(
            {
                "config": name,
                "family": family,
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
        f"{args.data}: width {args.width}, {args.minutes} min per configuration, {args.samples} samples "
        "vs the test set, domain-classifier features"
    )
    print(
        f"{'configuration':<32} {'steps':>7} {'FID':>9} {'KID':>9} {'precision':>10} {'recall':>8}"
    )
    for r in rows:
        print(
            f"{r['config']:<32} {r['steps']:>7} {r['fid']:>9.2f} {r['kid_mean']:>9.2f} {r['precision']:>10.3f} "
            f"{r['recall']:>8.3f}"
        )
    print(f"samples: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
