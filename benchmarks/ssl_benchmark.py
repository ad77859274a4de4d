"""Semi-supervised benchmark: K+1 GAN vs the supervised-only baseline, and trick ablations.

    python benchmarks/ssl_benchmark.py --data fashion-mnist --labels-per-class 10 --seeds 0,1,2
    python benchmarks/ssl_benchmark.py --data digits --labels-per-class 5 --ablate
    python benchmarks/ssl_benchmark.py --data fashion-mnist --seeds 0 --time-to 0.80 --json

Prints a table: test error mean ± std over label-split seeds of the K+1 GAN, the same
discriminator trained on the labels alone, LabelSpreading (kNN and RBF graphs) and logistic
regression (every setting of these two chosen on the validation split; LabelSpreading on the
pixels and on the scattering features the K+1 GAN's graph labels come from), wall time and
images/second; with --time-to A, the time at which validation and test accuracy first reach A.
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
from ganflow.tasks.data.bundle import load_bundle, prepare
from ganflow.tasks.evaluate.baselines import classical_baselines, scattering_features
from ganflow.tasks.evaluate.classification import evaluate_classifier
from ganflow.tasks.evaluate.metrics import mean_std
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig

# Each row flips one trick (Salimans et al. 2016 sections) or one switch added past the
# paper relative to the default config.
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
    ("consistency (1), two passes under D's noise", {"consistency": 1.0}),
    ("augment shift", {"augment": "shift"}),
    ("augment shift-flip", {"augment": "shift-flip"}),
    ("augment shift-flip + consistency (10)", {"augment": "shift-flip", "consistency": 10.0}),
    ("entropy minimisation (1)", {"entropy_weight": 1.0}),
    ("EMA of D for evaluation (0.999)", {"ema_decay": 0.999}),
    ("neighbour consistency (1), 10 PCA-50 neighbours", {"neighbour_weight": 1.0}),
    ("graph labels off (the scattering graph's labels)", {"graph_weight": 0.0}),
    ("one graph round (no second spreading)", {"graph_rounds": 1}),
    ("later rounds spread the predictions on the first graph", {"graph_rebuild": False}),
    ("unweighted graph edges (graph_gamma 0)", {"graph_gamma": 0.0}),
    ("graph_alpha 0.95 on every split (not chosen on validation)", {"graph_alpha": 0.95}),
    ("labels spread less far (graph_alpha 0.8)", {"graph_alpha": 0.8}),
    ("class mass normalisation of the spread labels", {"graph_class_mass": True}),
]
# the other architecture of each image size is one more switch
ARCH_ROWS = {
    8: [("mlp8s discriminator (narrower)", {"arch": "mlp8s"})],
    28: [("conv28s discriminator", {"arch": "conv28s"})],
}
METHODS = ("gan", "baseline", "label_spreading", "logistic_regression")
# each graph LabelSpreading ran on; label_spreading is the one of them chosen on validation
SPREADING_GRAPHS = ("label_spreading_knn", "label_spreading_rbf", "label_spreading_scattering")


class Curve:
    """Validation and test error of the run's classifier (its EMA's where it keeps one)
    every `every` steps, with the training time spent so far (the curve's own evaluations
    left out) and the wall time since the seed began (data preparation included)."""

    def __init__(self, bundle: Any, setup: Any, every: int, t_start: float) -> None:
        self.bundle, self.classifier, self.every = bundle, setup.validation, every
        self.t_start, self.t_train0, self.spent = t_start, time.monotonic(), 0.0
        self.points: list[dict[str, float]] = []

    def on_step(self, step: int, logs: dict[str, float]) -> None:
        if step % self.every == 0:
            self.point(step)

    def on_end(self, step: int, ok: bool) -> None:
        if ok and (not self.points or self.points[-1]["step"] != step):
            self.point(step)  # the last step, where it falls between two points

    def point(self, step: int) -> None:
        t = time.monotonic()
        b = self.bundle
        val, test = (
            self.classifier.error(b.x_val, b.y_val),
            self.classifier.error(b.x_test, b.y_test),
        )
        self.points.append({"step": step, "train_s": t - self.t_train0 - self.spent,
                            "all_s": t - self.t_start - self.spent, "val_error": val,
                            "test_error": test})  # fmt: skip
        self.spent += time.monotonic() - t

    def time_to(self, accuracy: float) -> dict[str, dict[str, float | None]]:
        """Seconds (training only, and in all) and step at which the validation and the test
        accuracy first reach `accuracy`; None where they never do."""
        out: dict[str, dict[str, float | None]] = {}
        for split in ("val", "test"):
            hit = next((p for p in self.points if 1 - p[f"{split}_error"] >= accuracy), None)
            out[split] = {
                "train_s": round(hit["train_s"], 1) if hit else None,
                "all_s": round(hit["all_s"], 1) if hit else None,
                "step": hit["step"] if hit else None,
                "best_accuracy": round(max(1 - p[f"{split}_error"] for p in self.points), 4)
                if self.points
                else None,
            }
        return out


def run_one(info: dict, cfg: SSGANConfig, run: RunConfig, out: Path, kind: str,
            curve_every: int | None = None, t_start: float | None = None) -> dict[str, Any]:  # fmt: skip
    t0 = time.monotonic()
    curves: list[Curve] = []

    def make_curve(bundle: Any, setup: Any) -> Curve:
        if not curves:  # one curve through every round of a run (graph_rounds)
            curves.append(Curve(bundle, setup, curve_every, t_start or t0))
        curves[0].classifier = setup.validation
        return curves[0]

    trained = train(
        info["path"], cfg, run, out, kind, callbacks=[make_curve] if curve_every else ()
    )
    metrics = evaluate_classifier(trained["checkpoint"], info["path"])
    read_back = trained.get("resumed_from") == trained["steps"]  # a finished run, no step now
    row = {
        "test_error": metrics["test_error"],
        # a run read back: the training time its checkpoint records
        "wall_s": trained["wall_s"] if read_back else time.monotonic() - t0,
        "images_per_s": trained["images_per_s"],
        "steps": trained["steps"],
        "graph_alpha": trained["config"].get("graph_alpha"),
    }
    if curves:
        row["curve"] = curves[0]
    return row


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    mean, std = mean_std([r["test_error"] for r in rows])
    return {
        "test_error_mean": mean,
        "test_error_std": std,
        "test_errors": [r["test_error"] for r in rows],
        "wall_s_mean": sum(r["wall_s"] for r in rows) / len(rows),
        "images_per_s_mean": sum(r.get("images_per_s") or 0 for r in rows) / len(rows),
        "steps": rows[0].get("steps"),
        **({"graph_alpha": [r["graph_alpha"] for r in rows]} if "graph_alpha" in rows[0] else {}),
        **({"chosen": [r["chosen"] for r in rows]} if "chosen" in rows[0] else {}),
    }


def _mean(xs: list[float | None]) -> float | None:
    return None if any(x is None for x in xs) else round(sum(xs) / len(xs), 1)  # type: ignore[arg-type]


def time_to_summary(curves: list[Curve], accuracy: float) -> dict[str, Any]:
    """Per seed and the mean over seeds (None when a seed never reached `accuracy`)."""
    per_seed = [c.time_to(accuracy) for c in curves]
    mean = {
        split: {k: _mean([s[split][k] for s in per_seed]) for k in ("train_s", "all_s")}
        for split in ("val", "test")
    }
    return {"accuracy": accuracy, "mean": mean, "per_seed": per_seed}


def _fmt(x: float | None) -> str:
    return "never" if x is None else f"{x:.0f}"


def main(argv: list[str] | None = None) -> int:
    """The benchmark; a bad setting or data folder ends it with one line and exit code 2."""
    from ganflow.flows.errors import error_line, user_errors

    try:
        return _main(argv)
    except user_errors() as e:
        line, code = error_line(e)
        print(f"ssl_benchmark: {line}", file=sys.stderr)
        return code


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--image-size", type=int, default=None, help="the image side (folder: 32)")
    ap.add_argument("--channels", type=int, default=None, choices=(1, 3))
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
        "--ablate", action="store_true", help="run the GAN once with each trick or switch flipped"
    )
    ap.add_argument(
        "--time-to", type=_accuracy, default=None, metavar="A",
        help="report the time at which validation and test accuracy first reach A (in (0, 1))",
    )  # fmt: skip
    ap.add_argument(
        "--curve-every", type=int, default=250, help="steps between points of the --time-to curve"
    )
    ap.add_argument(
        "--no-classical",
        action="store_true",
        help="leave out LabelSpreading and logistic regression",
    )
    ap.add_argument(
        "--out", default=None, help="where checkpoints go (default: a temporary directory)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.curve_every < 1:
        ap.error(f"--curve-every must be at least 1, got {args.curve_every}")

    params = SemiSupervisedParams(
        data=args.data,
        labels_per_class=args.labels_per_class,
        seeds=args.seeds,
        data_root=args.data_root,
        image_size=args.image_size,
        channels=args.channels,
    )
    params.check_bundle_source()
    epochs = args.epochs or DEFAULT_EPOCHS.get(args.data, 50)
    base_cfg = SSGANConfig().with_overrides(dict(args.settings))
    out = Path(args.out or tempfile.mkdtemp(prefix="ssl-bench-"))
    results: dict[str, list[dict[str, Any]]] = {}
    curves: list[Curve] = []
    prepared = {}  # seed: (data, run config, seconds its data took to prepare)
    for seed in args.seeds:
        t0 = time.monotonic()
        info = prepare(params.data_spec(seed), out / "data")
        run = RunConfig(
            epochs=epochs,
            seed=seed,
            device=args.device,
            max_minutes=args.max_minutes,
            eval_every=10**9,
        )
        prepared[seed] = (info, run, time.monotonic() - t0)
    shape = prepared[args.seeds[0]][0]["image_shape"]
    variants = ABLATIONS + ARCH_ROWS.get(shape[-1], []) if args.ablate else [("default", {})]
    # a row over every seed before the next row: each row printed is whole, and a stopped
    # benchmark given the same --out again reads its finished runs back
    for i, (name, over) in enumerate(variants):
        cfg = base_cfg.with_overrides(over)
        for seed, (info, run, prep_s) in prepared.items():
            curve_every = args.curve_every if (args.time_to and name == "default") else None
            # "in all" counts the seed's data preparation and this run
            t_start = time.monotonic() - prep_s
            row = run_one(info, cfg, run, out / f"s{seed}" / f"gan{i}", "gan", curve_every, t_start)
            if "curve" in row:
                curves.append(row.pop("curve"))
            results.setdefault(name, []).append(row)
            print(
                f"seed {seed} {name}: {100 * row['test_error']:.2f} %", file=sys.stderr, flush=True
            )
        if len(variants) > 1:
            r = aggregate(results[name])
            print(
                f"row {i + 1}/{len(variants)} {name}: {100 * r['test_error_mean']:.2f} ± "
                f"{100 * r['test_error_std']:.2f} % over seeds {args.seeds}",
                file=sys.stderr,
                flush=True,
            )
    for seed, (info, run, _) in prepared.items():
        results.setdefault("baseline", []).append(
            run_one(info, base_cfg, run, out / f"s{seed}" / "baseline", "baseline")
        )
        if not args.no_classical:
            bundle = load_bundle(info["path"])
            scattering = scattering_features(bundle, info["path"])
            for name, row in classical_baselines(bundle, seed, scattering).items():
                results.setdefault(name, []).append(row)

    table = {name: aggregate(rows) for name, rows in results.items()}
    table["gan"] = table["default"]
    time_to = time_to_summary(curves, args.time_to) if args.time_to else None
    if args.json:
        doc: dict[str, Any] = {
            "data": args.data,
            "labels_per_class": args.labels_per_class,
            "seeds": args.seeds,
            "epochs": epochs,
            "config": base_cfg.to_dict(),
            **{m: table[m] for m in METHODS + SPREADING_GRAPHS if m in table},
        }
        if args.ablate:
            doc["ablations"] = {name: table[name] for name, _ in variants}
        if time_to is not None:
            doc["time_to"] = time_to
        print(json.dumps(doc))
        return 0
    ref = table["default"]["test_error_mean"]
    print(
        f"\n{args.data}, {args.labels_per_class} labels per class, seeds {args.seeds}, "
        f"{epochs} epochs, {table['default']['steps']} steps"
    )
    print(f"{'model':<52} {'test error %':>15} {'vs default':>11} {'wall s':>8} {'images/s':>9}")
    names = ["baseline"] + [n for n, _ in variants] + [
        n for n in (*SPREADING_GRAPHS, "label_spreading", "logistic_regression") if n in table
    ]  # fmt: skip
    for name in names:
        r = table[name]
        label = (
            LABELS.get(name) or ("K+1 GAN " + ("" if name == "default" else f"[{name}]")).strip()
        )
        delta = "" if name == "default" else f"{100 * (r['test_error_mean'] - ref):+.2f}"
        ips = f"{r['images_per_s_mean']:>9.0f}" if r["images_per_s_mean"] else f"{'':>9}"
        print(
            f"{label:<52} {100 * r['test_error_mean']:>7.2f} ± {100 * r['test_error_std']:<5.2f} "
            f"{delta:>11} {r['wall_s_mean']:>8.1f} {ips}"
        )
    alphas = table["default"].get("graph_alpha") or []
    if any(a is not None for a in alphas):
        print(f"\ngraph_alpha by seed (chosen on validation unless set): {alphas}")
    if time_to is not None:
        m = time_to["mean"]
        print(
            f"\ntime to {100 * args.time_to:.0f} % accuracy (s, mean over seeds; curve every {args.curve_every} steps)"
        )
        print(f"{'':<12} {'training':>10} {'in all':>10}")
        for split in ("val", "test"):
            print(f"{split:<12} {_fmt(m[split]['train_s']):>10} {_fmt(m[split]['all_s']):>10}")
        for seed, s in zip(args.seeds, time_to["per_seed"], strict=True):
            print(
                f"  seed {seed}: test {_fmt(s['test']['train_s'])} s training, {_fmt(s['test']['all_s'])} s in all"
            )
    return 0


LABELS = {
    "baseline": "supervised baseline (the same D, labels only)",
    "label_spreading": "LabelSpreading (kernel chosen on validation)",
    "label_spreading_knn": "LabelSpreading, kNN graph",
    "label_spreading_rbf": "LabelSpreading, RBF graph",
    "label_spreading_scattering": "LabelSpreading, kNN graph of scattering features",
    "logistic_regression": "logistic regression (labels only)",
}


def _accuracy(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"an accuracy in (0, 1), got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
