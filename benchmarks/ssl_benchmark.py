"""Semi-supervised benchmark: K+1 GAN vs the supervised-only baseline, and trick ablations.

    python benchmarks/ssl_benchmark.py --data fashion-mnist --labels-per-class 10 --seeds 0,1,2
    python benchmarks/ssl_benchmark.py --data digits --labels-per-class 5 --ablate

Prints a table: test error mean ± std over label-split seeds, wall time and images/second.
Runs the same plain pipeline functions as the Prefect flow, without Prefect tracking.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ganflow.flows.params import int_list as _seeds
from ganflow.flows.params import setting as _setting
from ganflow.flows.semi_supervised import DEFAULT_EPOCHS, SemiSupervisedParams
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import prepare
from ganflow.tasks.evaluate.classification import evaluate_classifier
from ganflow.tasks.evaluate.metrics import mean_std
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig

# Each row flips one trick relative to the default config (Salimans et al. 2016 sections).
ABLATIONS: list[tuple[str, dict[str, Any]]] = [
    ("default", {}),
    ("feature matching off (non-saturating G)", {"feature_matching": False}),
    ("minibatch discrimination on", {"minibatch_discrimination": True}),
    (
        "minibatch discr. on, feature matching off",
        {"minibatch_discrimination": True, "feature_matching": False},
    ),
    ("historical averaging on (1e-4)", {"historical_averaging": 1e-4}),
    ("one-sided label smoothing on (0.1)", {"label_smoothing": 0.1}),
    ("virtual batch norm off (batch norm)", {"virtual_batch_norm": False}),
    ("weight norm off", {"weight_norm": False}),
    ("Gaussian noise in D off", {"input_noise": 0.0, "hidden_noise": 0.0}),
]


def run_one(info: dict, cfg: SSGANConfig, run: RunConfig, out: Path, kind: str) -> dict[str, Any]:
    t0 = time.monotonic()
    trained = train(info["path"], cfg, run, out, kind)
    metrics = evaluate_classifier(trained["checkpoint"], info["path"])
    return {
        "test_error": metrics["test_error"],
        "wall_s": time.monotonic() - t0,
        "images_per_s": trained["images_per_s"],
        "steps": trained["steps"],
    }


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    mean, std = mean_std([r["test_error"] for r in rows])
    return {
        "test_error_mean": mean,
        "test_error_std": std,
        "test_errors": [r["test_error"] for r in rows],
        "wall_s_mean": sum(r["wall_s"] for r in rows) / len(rows),
        "images_per_s_mean": sum(r["images_per_s"] or 0 for r in rows) / len(rows),
        "steps": rows[0]["steps"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--labels-per-class", type=int, default=10)
    ap.add_argument("--seeds", type=_seeds, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="default: the flow's per-data default")
    ap.add_argument(
        "--max-minutes", type=float, default=None, help="wall-time budget per model and seed"
    )
    ap.add_argument(
        "--set", dest="settings", type=_setting, action="append", default=[], metavar="KEY=VALUE"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--ablate", action="store_true", help="run the GAN once with each trick flipped"
    )
    ap.add_argument(
        "--out", default=None, help="where checkpoints go (default: a temporary directory)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    params = SemiSupervisedParams(
        data=args.data,
        labels_per_class=args.labels_per_class,
        seeds=args.seeds,
        data_root=args.data_root,
    )
    epochs = args.epochs or DEFAULT_EPOCHS.get(args.data, 50)
    base_cfg = SSGANConfig().with_overrides(dict(args.settings))
    out = Path(args.out or tempfile.mkdtemp(prefix="ssl-bench-"))
    variants = ABLATIONS if args.ablate else [("default", {})]
    results: dict[str, list[dict[str, Any]]] = {}
    for seed in args.seeds:
        info = prepare(params.data_spec(seed), out / "data")
        run = RunConfig(
            epochs=epochs,
            seed=seed,
            device=args.device,
            max_minutes=args.max_minutes,
            eval_every=10**9,
        )
        results.setdefault("baseline", []).append(
            run_one(info, base_cfg, run, out / f"s{seed}" / "baseline", "baseline")
        )
        for i, (name, over) in enumerate(variants):
            cfg = base_cfg.with_overrides(over)
            results.setdefault(name, []).append(
                run_one(info, cfg, run, out / f"s{seed}" / f"gan{i}", "gan")
            )
            print(
                f"seed {seed} {name}: {100 * results[name][-1]['test_error']:.2f} %",
                file=sys.stderr,
                flush=True,
            )

    table = {name: aggregate(rows) for name, rows in results.items()}
    if args.json:
        print(
            json.dumps(
                {
                    "data": args.data,
                    "labels_per_class": args.labels_per_class,
                    "seeds": args.seeds,
                    "epochs": epochs,
                    "results": table,
                }
            )
        )
        return 0
    ref = table["default"]["test_error_mean"]
    print(
        f"\n{args.data}, {args.labels_per_class} labels per class, seeds {args.seeds}, {epochs} epochs, {table['default']['steps']} steps"
    )
    print(f"{'model':<52} {'test error %':>15} {'vs default':>11} {'wall s':>8} {'images/s':>9}")
    for name in ["baseline"] + [n for n, _ in variants]:
        r = table[name]
        label = (
            "supervised baseline"
            if name == "baseline"
            else ("K+1 GAN " + ("" if name == "default" else f"[{name}]")).strip()
        )
        delta = "" if name == "default" else f"{100 * (r['test_error_mean'] - ref):+.2f}"
        print(
            f"{label:<52} {100 * r['test_error_mean']:>7.2f} ± {100 * r['test_error_std']:<5.2f} {delta:>11} {r['wall_s_mean']:>8.1f} {r['images_per_s_mean']:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
