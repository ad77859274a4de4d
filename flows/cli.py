"""The `ganflow` command line.

    ganflow semi-supervised [--data digits] [--labels-per-class 5] [--seeds 0,1,2] [--epochs N] [--json]
    ganflow cluster [--data fashion-mnist] [--clusters 16] [--labels-per-class N] [--json]
    ganflow evaluate (--checkpoint RUN/checkpoint.pt | --samples DIR) [--data NAME] [--json]
    ganflow train-gan [--data ring|grid|fashion-mnist|...] [--loss hinge] [--spectral-norm] ... [--json]
    ganflow gan-grid --data ring --grid loss=nonsaturating,hinge --grid pack=1,4 [--seeds 0,1,2]
    ganflow export --checkpoint RUN/checkpoint.pt --name NAME [--per-class 100] [--min-confidence 0.9]
    ganflow datasets list | show NAME | verify NAME [--version vN]
    ganflow augment [--data fashion-mnist] [--labels-per-class 10] [--generator ssgan|cgan]
    ganflow serve augment (--cron '0 3 * * *' | --interval SECONDS) [--param key=value ...]

Every command takes --json and then prints its result as one JSON object on stdout (progress
and logs go to stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

# Offline machines: no analytics calls home unless the user turned them on.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"seeds must be comma-separated integers, got {text!r}"
        ) from e
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def _setting(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set takes key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _add_data_args(p: argparse.ArgumentParser, default: str | None = "digits") -> None:
    from tasks.sources import SOURCES

    p.add_argument(
        "--data",
        default=default,
        help=f"data set: {', '.join(SOURCES)} (default {default or 'the checkpoint training data'})",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="where the data set's files are (folder source: the image tree)",
    )
    p.add_argument(
        "--download", action="store_true", help="allow a torchvision download (needs internet)"
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=32,
        help="folder source: resize images to this size (8, 28 or 32)",
    )
    p.add_argument(
        "--channels",
        type=int,
        default=3,
        choices=(1, 3),
        help="folder source: 1 = greyscale, 3 = RGB",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="stratified validation fraction of the training set",
    )


def build_parser() -> argparse.ArgumentParser:
    from flows.cluster_command import add_cluster_parser
    from flows.evaluate_command import add_evaluate_parser
    from flows.export_command import add_export_parsers
    from flows.gan_command import add_gan_parsers
    from flows.options import add_run_options
    from models.ssgan_nets import ARCHS

    parser = argparse.ArgumentParser(
        prog="ganflow",
        description="Semi-supervised learning and synthetic data with adversarial models.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ss = sub.add_parser(
        "semi-supervised", help="K+1-class semi-supervised GAN vs a supervised baseline"
    )
    _add_data_args(ss)
    ss.add_argument(
        "--labels-per-class", type=int, default=5, help="labelled images per class (default 5)"
    )
    ss.add_argument(
        "--seeds", type=_seeds, default=[0], help="comma-separated label-split seeds, e.g. 0,1,2"
    )
    ss.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="passes over the unlabelled data (default: per data set)",
    )
    ss.add_argument(
        "--max-minutes", type=float, default=None, help="wall-time budget per model and seed"
    )
    ss.add_argument(
        "--arch",
        default=None,
        help=f"network: {', '.join(ARCHS)} (default: by image size)",
    )
    ss.add_argument("--set", dest="settings", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                    help="model setting, e.g. --set minibatch_discrimination=true --set historical_averaging=1e-3")  # fmt: skip
    ss.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    add_run_options(ss)
    add_evaluate_parser(sub, _add_data_args)
    add_cluster_parser(sub, _add_data_args, _seeds, _setting)
    add_gan_parsers(sub, _seeds, _setting)
    add_export_parsers(sub, _seeds, _setting)
    from flows.serve import add_serve_parser

    add_serve_parser(sub, _setting)
    return parser


def _table(summary: dict[str, Any]) -> str:
    def row(name: str, s: dict[str, Any]) -> str:
        per_seed = ", ".join(f"{100 * e:.2f}" for e in s["test_errors"])
        return f"{name:<22} {100 * s['test_error_mean']:>6.2f} ± {100 * s['test_error_std']:<5.2f}  {per_seed}"

    lines = [
        f"{summary['data']}: {summary['labels_per_class']} labels per class, seeds {summary['seeds']}, {summary['epochs']} epochs",
        f"{'model':<22} {'test error %':>14}  per seed",
        row("K+1 GAN", summary["gan"]),
        row("supervised baseline", summary["baseline"]),
        f"report: {summary['report']}",
    ]
    return "\n".join(lines)


def json_result(summary: dict[str, Any]) -> dict[str, Any]:
    """The documented --json object of `semi-supervised` (see README)."""
    keep = (
        "test_error_mean",
        "test_error_std",
        "test_errors",
        "per_class_accuracy",
        "checkpoints",
        "wall_s",
        "images_per_s",
    )
    return {
        "gan": {k: summary["gan"][k] for k in keep}, "baseline": {k: summary["baseline"][k] for k in keep},
        "run_dir": summary["run_dir"], "report": summary["report"], "metrics": summary["metrics"],
        "data": summary["data"], "labels_per_class": summary["labels_per_class"], "seeds": summary["seeds"],
        "epochs": summary["epochs"], "fingerprints": summary["fingerprints"], "config": summary["config"],
    }  # fmt: skip


def run_semi_supervised_command(args: argparse.Namespace) -> dict[str, Any]:
    model = dict(args.settings)
    if args.arch:
        model["arch"] = args.arch
    kwargs = dict(
        data=args.data, labels_per_class=args.labels_per_class, seeds=args.seeds, epochs=args.epochs,
        data_root=args.data_root, download=args.download, image_size=args.image_size, channels=args.channels,
        val_fraction=args.val_fraction, device=args.device, precision=args.precision, max_minutes=args.max_minutes,
        model=model, run_dir=args.run_dir,
    )  # fmt: skip
    if args.no_prefect:
        from tasks.pipeline import SemiSupervisedParams, run_semi_supervised

        return run_semi_supervised(SemiSupervisedParams(**kwargs))
    from flows.semi_supervised import semi_supervised

    return semi_supervised(**kwargs)


def _run_data_command(args: argparse.Namespace) -> int:
    """export, datasets, augment and serve; returns the exit code."""
    from flows import export_command as ec

    if args.command == "serve":
        from flows.serve import build_deployments, describe, run_serve

        if args.dry_run:
            build_deployments(args)
            print(describe(args))
            return 0
        return run_serve(args)
    if args.command == "datasets":
        result, code = ec.run_datasets_command(args)
        print(
            json.dumps(result, default=str) if args.json else ec.datasets_table(args.action, result)
        )
        return code
    if args.command == "export":
        r = ec.run_export_command(args)
        print(json.dumps(r, default=str) if args.json else ec.export_table(r))
        return 0
    s = ec.run_augment_command(args)
    print(json.dumps(ec.augment_json(s), default=str) if args.json else ec.augment_table(s))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from models.engine import NonFiniteLossError
    from tasks.checkpoint import CheckpointError
    from tasks.export import ExportError
    from tasks.sources import DataError
    from tasks.train import TrainingDivergedError

    try:
        if args.command in ("export", "datasets", "augment", "serve"):
            return _run_data_command(args)
        if args.command == "cluster":
            from flows.cluster_command import cluster_table, run_cluster_command
            from flows.cluster_command import json_result as cluster_json

            summary = run_cluster_command(args)
            print(json.dumps(cluster_json(summary)) if args.json else cluster_table(summary))
            return 0
        if args.command in ("train-gan", "gan-grid"):
            from flows.gan_command import gan_table, run_gan_command
            from flows.gan_command import json_result as gan_json

            summary = run_gan_command(args)
            print(json.dumps(gan_json(summary)) if args.json else gan_table(summary))
            return 0
        if args.command == "evaluate":
            from flows.evaluate_command import evaluate_table, run_evaluate_command

            result = run_evaluate_command(args)
            print(json.dumps(result, default=str) if args.json else evaluate_table(result))
            return 0
        summary = run_semi_supervised_command(args)
    except (
        DataError,
        CheckpointError,
        TrainingDivergedError,
        NonFiniteLossError,
        ExportError,
        ValueError,
    ) as e:
        print(f"ganflow: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(json_result(summary)))
    else:
        print(_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
