"""`ganflow cluster`: options, the call into the flow (or the plain pipeline), the table."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from flows.options import add_run_options


def add_cluster_parser(sub: argparse._SubParsersAction, add_data_args: Callable[..., None],
                       seeds: Callable[[str], list[int]], setting: Callable[[str], tuple[str, Any]]) -> None:  # fmt: skip
    cl = sub.add_parser(
        "cluster", help="adversarial autoencoder: unsupervised clustering or semi-supervised"
    )
    add_data_args(cl)
    cl.add_argument(
        "--clusters", type=int, default=16, help="size of the categorical code (default 16)"
    )
    cl.add_argument("--labels-per-class", type=int, default=None,
                    help="semi-supervised mode: labelled images per class (clusters = classes)")  # fmt: skip
    cl.add_argument("--seeds", type=seeds, default=[0], help="comma-separated seeds, e.g. 0,1,2")
    cl.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="passes over the training images (default: per data set)",
    )
    cl.add_argument("--max-minutes", type=float, default=None, help="wall-time budget per seed")
    cl.add_argument("--set", dest="settings", type=setting, action="append", default=[], metavar="KEY=VALUE",
                    help="AAE setting, e.g. --set z_dim=2 --set prior=mixture")  # fmt: skip
    add_run_options(cl)


def run_cluster_command(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = dict(
        data=args.data, clusters=args.clusters, labels_per_class=args.labels_per_class, seeds=args.seeds,
        epochs=args.epochs, data_root=args.data_root, image_size=args.image_size, channels=args.channels,
        val_fraction=args.val_fraction, device=args.device, max_minutes=args.max_minutes,
        model=dict(args.settings), run_dir=args.run_dir,
    )  # fmt: skip
    if args.no_prefect:
        from tasks.cluster_pipeline import ClusterParams, run_cluster

        return run_cluster(ClusterParams(**kwargs))
    from flows.cluster import cluster

    return cluster(**kwargs)


def json_result(summary: dict[str, Any]) -> dict[str, Any]:
    """The documented --json object: means as the top-level numbers, the rest beside them."""
    out: dict[str, Any] = {
        "cluster_accuracy": (summary["cluster_accuracy"] or {}).get("mean"),
        "hungarian_accuracy": (summary["hungarian_accuracy"] or {}).get("mean"),
        "nmi": (summary["nmi"] or {}).get("mean"),
    }
    if summary["mode"] == "semi-supervised":
        out.update(test_error_mean=summary["test_error"]["mean"], test_error_std=summary["test_error"]["std"],
                   baseline_test_error_mean=summary["baseline_test_error"]["mean"],
                   baseline_test_error_std=summary["baseline_test_error"]["std"])  # fmt: skip
    keep = ("mode", "data", "clusters", "seeds", "epochs", "per_seed", "assignments", "pictures", "run_dir", "report",
            "metrics", "config", "wall_s", "checkpoints")  # fmt: skip
    return {**out, **{k: summary[k] for k in keep}}


def cluster_table(summary: dict[str, Any]) -> str:
    from tasks.cluster_pipeline import fmt_mean_std as pm

    lines = [f"{summary['data']}: {summary['mode']}, {summary['clusters']} clusters, seeds {summary['seeds']}, "
             f"{summary['epochs']} epochs",
             f"cluster accuracy %   {pm(summary['cluster_accuracy'])}",
             f"Hungarian accuracy % {pm(summary['hungarian_accuracy'])}",
             f"NMI                  {pm(summary['nmi'], pct=False)}"]  # fmt: skip
    if summary["mode"] == "semi-supervised":
        lines += [f"AAE test error %     {pm(summary['test_error'])}",
                  f"baseline test error % {pm(summary['baseline_test_error'])}"]  # fmt: skip
    lines += [f"assignments: {summary['assignments']}", f"report: {summary['report']}"]
    return "\n".join(lines)
