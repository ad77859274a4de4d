"""Mode-collapse benchmark on the 2-D ring (8 modes) and grid (25 modes), VEEGAN's protocol
(Srivastava et al. 2017, section 5.1): 2,500 samples; a sample is high quality (HQ) within
three standard deviations of its nearest mode; a mode is captured when it is the nearest mode
of at least one HQ sample. Mean ± std over seeds, beside the published figures.

    python benchmarks/modes_benchmark.py                    # the default rows, seeds 0,1,2
    python benchmarks/modes_benchmark.py --configs all      # every configuration
    python benchmarks/modes_benchmark.py --json             # [{config, ring_modes, ring_hq, grid_modes, grid_hq}, ...]
    python benchmarks/modes_benchmark.py --configs plain,instance-noise --seeds 0 --steps 2000

Runs go two at a time in separate processes (one thread each), so the table uses both cores.
All configurations share the toy recipe of tasks/gan_pipeline.TOY_DEFAULTS (MLPs of 3 x 128,
batch 128, Adam 1e-3 decaying to 0); each row changes what its name says.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ganflow.flows.gan import TOY_DEFAULTS
from ganflow.flows.params import int_list as _seeds

# name -> (GANConfig overrides, steps factor): unrolled rows cost ~k extra D passes per step,
# so they run fewer steps to fit the CPU budget (the steps column says how many)
CONFIGS: dict[str, tuple[dict[str, Any], float]] = {
    "plain (minimax)": ({"loss": "minimax"}, 1.0),
    # the same GAN with twice the width: a stronger D, and the ring collapse of the papers
    "plain (minimax), width 256": ({"loss": "minimax", "width": 256}, 1.0),
    "non-saturating": ({"loss": "nonsaturating"}, 1.0),
    "non-saturating, width 256": ({"loss": "nonsaturating", "width": 256}, 1.0),
    "WGAN-GP": ({"loss": "wgan-gp", "n_critic": 5, "lr_d": 1e-4, "lr_g": 1e-4, "beta2": 0.9}, 1.0),
    "unrolled k=5": ({"unrolled_steps": 5}, 0.25),
    "unrolled k=10": ({"unrolled_steps": 10}, 0.15),
    "PacGAN2": ({"pack": 2}, 1.0),
    "instance noise": ({"instance_noise": 1.0, "instance_noise_steps": 3000}, 1.0),
    # D sees ~20 samples of each grid mode per batch instead of ~5: the modes stay covered,
    # and twice the steps thin the bridges G draws between them
    "non-saturating, batch 512": ({"batch_size": 512}, 2.0),
    # ... and R1 (Mescheder et al. 2018) keeps D smooth around the data, so that no mode is
    # dropped late in the run and G's samples sharpen onto the modes
    "batch 512 + R1": ({"batch_size": 512, "r1": 0.1}, 2.0),
    # R1 lazily, every 4th D step (Karras et al. 2020): cheaper, less sharp (README)
    "batch 512 + lazy R1": ({"batch_size": 512, "r1": 0.1, "r1_every": 4}, 2.0),
    # EBGAN (Zhao et al. 2016): an autoencoder D, margin 1; with and without the pulling-away term
    "EBGAN (margin 1, PT 0.1)": ({"loss": "ebgan", "margin": 1.0, "pt_weight": 0.1}, 1.0),
    "EBGAN without PT": ({"loss": "ebgan", "margin": 1.0, "pt_weight": 0.0}, 1.0),
}
KEYS = {
    "plain": "plain (minimax)",
    "plain256": "plain (minimax), width 256",
    "ns": "non-saturating",
    "ns256": "non-saturating, width 256",
    "wgan-gp": "WGAN-GP",
    "unrolled5": "unrolled k=5",
    "unrolled10": "unrolled k=10",
    "pacgan2": "PacGAN2",
    "instance-noise": "instance noise",
    "batch512": "non-saturating, batch 512",
    "batch512-r1": "batch 512 + R1",
    "batch512-r1-lazy": "batch 512 + lazy R1",
    "ebgan": "EBGAN (margin 1, PT 0.1)",
    "ebgan-nopt": "EBGAN without PT",
}
# the rows the issue asks for (its target: under 20 minutes on 2 cores; README has the measured
# time), the plain GAN at width 256 (at the recipe's 128 it keeps all 8 ring modes: README);
# --configs all adds the rest
DEFAULT = (
    "plain256", "ns", "wgan-gp", "unrolled5", "unrolled10", "pacgan2", "batch512-r1", "ebgan",
    "ebgan-nopt",
)  # fmt: skip


def _cost(name: str, steps: int) -> float:
    """Rough relative CPU cost of a run: steps x D passes x batch x width^2."""
    over, base = CONFIGS[name][0], TOY_DEFAULTS
    passes = 1 + over.get("unrolled_steps", 0) + (over.get("r1", 0) > 0) / over.get("r1_every", 1)
    return (
        steps
        * passes
        * over.get("batch_size", base["batch_size"])
        * (over.get("width", base["width"]) / base["width"]) ** 2
    )


def one_run(job: tuple[str, str, int, int, str]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from ganflow.flows.gan import GANParams, run_gan

    name, data, seed, steps, root = job
    over, _ = CONFIGS[name]
    run_dir = (
        Path(root) / name.replace(" ", "_").replace("(", "").replace(")", "") / data / f"seed{seed}"
    )
    s = run_gan(
        GANParams(data=data, model=over, seeds=[seed], steps=steps, device="cpu"), run_dir=run_dir
    )
    r = s["per_seed"][0]
    return {
        "config": name,
        "data": data,
        "seed": seed,
        "modes": r["modes"],
        "hq": r["hq"],
        "steps": steps,
        "wall_s": r["wall_s"],
        "heatmaps": r.get("heatmaps"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--configs",
        default="default",
        help=f"default ({', '.join(DEFAULT)}), all, or comma-separated from: {', '.join(KEYS)}",
    )
    ap.add_argument("--seeds", type=_seeds, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=6000, help="steps of a factor-1 configuration")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="run directory root (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    keys = {"all": list(KEYS), "default": list(DEFAULT)}.get(args.configs) or [
        k.strip() for k in args.configs.split(",")
    ]
    bad = [k for k in keys if k not in KEYS]
    if bad:
        ap.error(f"unknown configuration(s) {bad}; choose from {', '.join(KEYS)}")
    names = [KEYS[k] for k in keys]
    root = args.out or tempfile.mkdtemp(prefix="modes-bench-")
    jobs = [
        (n, d, s, max(1, round(args.steps * CONFIGS[n][1])), root)
        for n in names
        for d in ("ring", "grid")
        for s in args.seeds
    ]
    jobs.sort(key=lambda j: -_cost(j[0], j[3]))  # longest first, so the two workers end together
    t0 = time.monotonic()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(one_run, jobs))
    wall = time.monotonic() - t0

    from ganflow.tasks.evaluate.metrics import mean_std

    rows = []
    for n in names:
        row: dict[str, Any] = {"config": n}
        for d in ("ring", "grid"):
            rs = [r for r in results if r["config"] == n and r["data"] == d]
            for key in ("modes", "hq"):
                row[f"{d}_{key}"], row[f"{d}_{key}_std"] = mean_std([float(r[key]) for r in rs])
            row[f"{d}_steps"] = rs[0]["steps"]
            row[f"{d}_heatmaps"] = rs[0]["heatmaps"]
        rows.append(row)
    if args.json:
        print(json.dumps(rows))
        return 0
    from ganflow.tasks.data.toy import PUBLISHED

    print(
        f"seeds {args.seeds}; 2,500 samples; HQ = within 3 std of the nearest mode; wall {wall / 60:.1f} min "
        f"({args.workers} processes)"
    )
    head = f"{'configuration':<30} {'ring modes':>12} {'ring HQ %':>12} {'grid modes':>12} {'grid HQ %':>12} {'steps':>6}"
    print(head)
    for r in rows:
        print(
            f"{r['config']:<30} {r['ring_modes']:>6.1f} ± {r['ring_modes_std']:<3.1f} "
            f"{100 * r['ring_hq']:>6.1f} ± {100 * r['ring_hq_std']:<3.1f} {r['grid_modes']:>6.1f} ± {r['grid_modes_std']:<3.1f} "
            f"{100 * r['grid_hq']:>6.1f} ± {100 * r['grid_hq_std']:<3.1f} {r['grid_steps']:>6}"
        )
    print("published (their networks and budgets):")
    for name, p in PUBLISHED.items():
        cell = lambda v, pct=False: "-" if v is None else (f"{100 * v:.1f}" if pct else f"{v:.1f}")  # noqa: E731
        print(
            f"{name:<30} {cell(p['ring_modes']):>12} {cell(p['ring_hq'], True):>12} {cell(p['grid_modes']):>12} "
            f"{cell(p['grid_hq'], True):>12}"
        )
    best = max(rows, key=lambda r: (r["ring_modes"] == 8) + r["grid_modes"] / 25 + r["grid_hq"])
    ok = (
        best["ring_modes"] == 8
        and best["grid_modes"] >= 24
        and best["grid_hq"] >= 0.8
        and best["ring_hq"] >= 0.8
    )
    print(
        f"best: {best['config']} (target 8/8 ring, >= 24/25 grid, >= 80 % HQ): {'MET' if ok else 'NOT MET'}"
    )
    print(f"heat maps: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
