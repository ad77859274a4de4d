"""`ganflow export`, `ganflow datasets list|show|verify` and `ganflow augment`: options, the
calls into the flows (or the plain steps with --no-prefect), the printed tables."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from flows.options import add_run_options


def _classes(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def add_export_parsers(sub: argparse._SubParsersAction, seeds: Callable, setting: Callable) -> None:
    from tasks.augment import GENERATORS
    from tasks.export import BALANCES

    ex = sub.add_parser(
        "export", help="export a new version of a labelled synthetic data set from a trained run"
    )
    ex.add_argument(
        "--checkpoint",
        required=True,
        help="a run's checkpoint.pt: conditional GAN, K+1 GAN or semi-supervised AAE",
    )
    ex.add_argument("--name", required=True, help="data set name (letters, digits, '.', '_', '-')")
    ex.add_argument("--per-class", type=int, default=100, help="images per class (default 100)")
    ex.add_argument(
        "--classes",
        type=_classes,
        default=None,
        help="only these classes (names or indices, comma-separated)",
    )
    ex.add_argument(
        "--balance",
        default="equal",
        choices=BALANCES,
        help="equal: per-class of each class; natural: as the generator's labels fall",
    )
    ex.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="keep samples labelled at least this confidently",
    )
    ex.add_argument("--seed", type=int, default=0, help="noise seed")
    ex.add_argument("--arrays", action="store_true", help="also write arrays.npz")
    ex.add_argument(
        "--no-metrics", action="store_true", help="skip CAS and FID & co. in the manifest"
    )
    ex.add_argument("--root", default=None, help="data sets directory (default data/datasets)")
    add_run_options(ex)
    ds = sub.add_parser("datasets", help="list, show or verify exported data sets")
    ds.add_argument("action", choices=("list", "show", "verify"))
    ds.add_argument("name", nargs="?", default=None, help="data set name (show, verify)")
    ds.add_argument("--version", default="latest", help="latest (default), vN or N")
    ds.add_argument("--root", default=None, help="data sets directory (default data/datasets)")
    ds.add_argument("--json", action="store_true", help="print the result as JSON")
    au = sub.add_parser(
        "augment", help="generator -> export -> real-only vs real + synthetic classifier"
    )
    au.add_argument("--data", default="digits", help="data set (default digits)")
    au.add_argument("--data-root", default=None)
    au.add_argument("--labels-per-class", type=int, default=10)
    au.add_argument("--seeds", type=seeds, default=[0])
    au.add_argument("--generator", default="ssgan", choices=GENERATORS)
    au.add_argument(
        "--epochs", type=int, default=None, help="generator epochs (default: per data set)"
    )
    au.add_argument("--per-class", type=int, default=500, help="synthetic images per class")
    au.add_argument(
        "--min-confidence", type=float, default=0.9, help="ssgan: label confidence to keep a sample"
    )
    au.add_argument(
        "--balance", default="equal", choices=BALANCES, help="class balance of the export"
    )
    au.add_argument("--classifier-steps", type=int, default=1500)
    au.add_argument(
        "--name", default=None, help="exported data set name (default <data>-<generator>-augment)"
    )
    au.add_argument("--root", default=None, help="data sets directory (default data/datasets)")
    au.add_argument(
        "--max-minutes", type=float, default=None, help="generator training budget per seed"
    )
    au.add_argument(
        "--set",
        dest="settings",
        type=setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="generator setting, e.g. --set feature_matching=false",
    )
    add_run_options(au)


def run_export_command(args: argparse.Namespace) -> dict[str, Any]:
    from tasks.export import ExportOptions, check_name

    check_name(args.name)
    from tasks.train import select_device

    device = str(select_device(args.device))
    kw = dict(per_class=args.per_class, classes=args.classes, balance=args.balance,
              min_confidence=args.min_confidence, seed=args.seed, arrays=args.arrays)  # fmt: skip
    ExportOptions(**kw).validate()
    if args.no_prefect:
        from tasks.export import export_dataset
        from tasks.export_metrics import export_scorer

        scorer = None if args.no_metrics else export_scorer(device, args.seed)
        return export_dataset(
            args.checkpoint, args.name, ExportOptions(**kw), args.root, device, scorer
        )
    from flows.augment import export_flow

    return export_flow(checkpoint=args.checkpoint, name=args.name, metrics=not args.no_metrics, root=args.root,
                       device=device, **kw)  # fmt: skip


def export_table(r: dict[str, Any]) -> str:
    lines = [
        f"exported {r['count']} images to {r['path']} (version {r['version']}, {r['images_per_s']} images/s)"
    ]
    lines += [f"  {k:<20} {v}" for k, v in r["per_class"].items()]
    m = r.get("metrics") or {}
    if "cas_accuracy" in m:
        lines.append(
            f"CAS {100 * m['cas_accuracy']:.2f} % (as many real images: {100 * m['real_accuracy']:.2f} %)"
        )
    if "fid" in m:
        lines.append(f"FID {m['fid']:.2f} (domain features)")
    return "\n".join(lines)


def run_datasets_command(args: argparse.Namespace) -> tuple[Any, int]:
    """(result, exit code): verify exits 1 when a check fails."""
    from tasks.datasets import list_datasets, read_manifest, verify, version_dir
    from tasks.export import ExportError

    if args.action == "list":
        return list_datasets(args.root), 0
    if not args.name:
        raise ExportError(f"datasets {args.action} needs a data set name")
    path = version_dir(args.name, args.version, args.root)
    if args.action == "show":
        return {"path": str(path), **read_manifest(path)}, 0
    res = verify(path)
    return res, 0 if res["ok"] else 1


def datasets_table(action: str, result: Any) -> str:
    if action == "list":
        if not result:
            return "no exported data sets"
        return "\n".join(f"{r['name']:<28} {r['version']:<5} {'latest' if r['latest'] else '':<7} "
                         f"{r.get('count', '?'):>7} images  {r.get('generator', '?'):<6} {r.get('created', '')}"
                         f"{'  ERROR: ' + r['error'] if 'error' in r else ''}" for r in result)  # fmt: skip
    if action == "show":
        shown = {k: v for k, v in result.items() if k != "files"}
        return (
            json.dumps(shown, indent=2) + f"\n({len(result['files'])} files with SHA-256 checksums)"
        )
    if result["ok"]:
        return f"OK: {result['checked']} files match their checksums in {result['path']}"
    return f"FAILED: {result['path']}\n" + "\n".join(f"  {p}" for p in result["problems"])


def run_augment_command(args: argparse.Namespace) -> dict[str, Any]:
    kw = dict(data=args.data, labels_per_class=args.labels_per_class, seeds=args.seeds, generator=args.generator,
              epochs=args.epochs, model=dict(args.settings), per_class=args.per_class,
              min_confidence=args.min_confidence, balance=args.balance, classifier_steps=args.classifier_steps,
              dataset_name=args.name,
              datasets_root=args.root, data_root=args.data_root, device=args.device, max_minutes=args.max_minutes,
              run_dir=args.run_dir)  # fmt: skip
    from tasks.augment import AugmentParams, run_augment

    AugmentParams(**kw).validate()  # a bad setting fails before Prefect starts
    if args.no_prefect:
        return run_augment(AugmentParams(**kw))
    from flows.augment import augment_flow

    return augment_flow(**kw)


def augment_json(s: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if k != "params"}


def augment_table(s: dict[str, Any]) -> str:
    def pm(m: str) -> str:
        return f"{100 * s[m + '_mean']:6.2f} ± {100 * s[m + '_std']:.2f}"

    return "\n".join([
        f"{s['data']}: {s['labels_per_class']} labels per class, {s['generator']} generator, seeds {s['seeds']}",
        f"real only            {pm('real_only_accuracy')} % accuracy",
        f"real + synthetic     {pm('real_plus_synthetic_accuracy')} %",
        f"synthetic only (CAS) {pm('cas_accuracy')} %  (as many real: {pm('cas_real_accuracy')} %)",
        f"export: {s['export_path']}", f"report: {s['report']}",
    ])  # fmt: skip
