"""`ganflow evaluate`: its options, the call into the flow (or the plain pipeline), and the
printed table."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_evaluate_parser(
    sub: argparse._SubParsersAction, add_data_args: Callable[..., None]
) -> None:
    ev = sub.add_parser(
        "evaluate", help="FID/KID/IS/precision/recall/density/coverage/CAS of a generator"
    )
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--checkpoint", help="a GAN run's checkpoint.pt (its generator draws the samples)"
    )
    what.add_argument(
        "--samples", help="a folder of images (one subfolder per class gives CAS labels)"
    )
    add_data_args(ev, default=None)
    ev.add_argument(
        "--num-samples",
        type=int,
        default=None,
        help="samples to score (default: the test set size, at most 10000)",
    )
    ev.add_argument(
        "--seed",
        type=int,
        default=0,
        help="sampling noise, KID subsets, IS shuffle, CAS classifiers",
    )
    ev.add_argument(
        "--labels",
        choices=("run", "domain"),
        default="run",
        help="CAS labels of generated images: the run's own classifier (default) or the domain classifier",
    )
    ev.add_argument(
        "--no-floor", dest="floor", action="store_false", help="skip the real-vs-real floor"
    )
    ev.add_argument(
        "--no-cas", dest="cas", action="store_false", help="skip train-on-synthetic-test-on-real"
    )
    ev.add_argument(
        "--cas-steps",
        type=int,
        default=1500,
        help="minimum training steps of each CAS classifier (default 1500)",
    )
    ev.add_argument(
        "--extractor-steps",
        type=int,
        default=3000,
        help="minimum training steps of the domain classifier (default 3000; cached per value)",
    )
    ev.add_argument(
        "--inception",
        choices=("auto", "on", "off"),
        default="auto",
        help="Inception metrics too: auto = on a GPU when weights are offline",
    )
    ev.add_argument(
        "--inception-weights",
        default=None,
        help="a TorchScript FID Inception file (pool3 features)",
    )
    ev.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    ev.add_argument(
        "--run-dir", default=None, help="where results go (default data/runs/evaluate-...)"
    )
    ev.add_argument(
        "--no-prefect", action="store_true", help="run the same steps without Prefect tracking"
    )
    ev.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )


def run_evaluate_command(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = dict(
        checkpoint=args.checkpoint, samples=args.samples, data=args.data, data_root=args.data_root,
        download=args.download, image_size=args.image_size, channels=args.channels, num_samples=args.num_samples,
        seed=args.seed, labels=args.labels, floor=args.floor, cas=args.cas, cas_steps=args.cas_steps, extractor_steps=args.extractor_steps, inception=args.inception,
        inception_weights=args.inception_weights, device=args.device, run_dir=args.run_dir,
    )  # fmt: skip
    if args.no_prefect:
        from tasks.evaluation import run_evaluation
        from tasks.quality import EvalParams

        return run_evaluation(EvalParams(**kwargs))
    from flows.evaluate import evaluate

    return evaluate(**kwargs)


def evaluate_table(result: dict[str, Any]) -> str:
    from tasks.evaluation import LABELS, RESULT_KEYS
    from tasks.metrics import SAMPLE_METRICS

    floor = result.get("floor") or {}
    ext = result["protocol"]["extractor"]
    lines = [
        f"{result['protocol']['data']}: {result['protocol']['fake_count']} samples vs {result['protocol']['real']['count']} test images; "
        f"features: {ext['name']} (test accuracy {100 * ext['test_accuracy']:.2f} %)",
        f"{'metric':<34} {'samples':>10} {'floor':>10}",
    ]

    def row(label: str, v: float | None, f: float | None) -> str:
        return f"{label:<34} {'-' if v is None else f'{v:.4g}':>10} {'-' if f is None else f'{f:.4g}':>10}"

    lines += [row(LABELS[k], result.get(k), floor.get(k)) for k in RESULT_KEYS]
    if "inception" in result:
        inc, finc = result["inception"], floor.get("inception", {})
        lines += [
            row(f"Inception {LABELS[k]}", inc.get(k), finc.get(k))
            for k in SAMPLE_METRICS
            if inc.get(k) is not None
        ]
    lines += [f"inception: {result['protocol']['inception']['how']}", f"report: {result['report']}"]
    return "\n".join(lines)
