"""Adversarial-autoencoder benchmark: clustering accuracy and NMI of the AAE beside k-means on
pixels and on PCA-50 (scikit-learn), mean ± std over seeds, with wall time; then the
semi-supervised error beside the supervised-only baseline.

    python benchmarks/aae_benchmark.py --data fashion-mnist            # 16 clusters, seeds 0,1,2
    python benchmarks/aae_benchmark.py --data digits --epochs 100

Every method uses the same protocol: a cluster takes the majority label of its training
images, and that mapping is scored on the test set (Makhzani et al. 2015, section 6).
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

from ganflow.flows.cluster import ClusterParams, run_cluster
from ganflow.flows.params import int_list as _seeds
from ganflow.flows.params import setting as _setting
from ganflow.tasks.data.sources import SourceOptions, load_source
from ganflow.tasks.evaluate.clustering import majority_mapping, nmi
from ganflow.tasks.evaluate.metrics import mean_std


def kmeans_scores(name: str, k: int, seed: int, pca: int | None) -> dict[str, float]:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    raw = load_source(name, SourceOptions())
    x_tr = raw.train_x.reshape(len(raw.train_x), -1) / 255.0
    x_te = raw.test_x.reshape(len(raw.test_x), -1) / 255.0
    t0 = time.monotonic()
    if pca:
        proj = PCA(pca, random_state=seed).fit(x_tr)
        x_tr, x_te = proj.transform(x_tr), proj.transform(x_te)
    km = KMeans(k, n_init=3, random_state=seed).fit(x_tr)
    c_tr, c_te = km.labels_, km.predict(x_te)
    mapping = majority_mapping(c_tr, raw.train_y, k, len(raw.class_names))
    return {
        "accuracy": float((mapping[c_te] == raw.test_y).mean()),
        "nmi": nmi(c_te, raw.test_y),
        "wall_s": time.monotonic() - t0,
    }


def one_run(job: tuple[str, int, dict[str, Any]]) -> dict[str, Any]:
    """One seed of the AAE (clustering or semi-supervised), in a worker process with one thread."""
    import torch

    torch.set_num_threads(1)
    mode, seed, kw = job
    summ = run_cluster(ClusterParams(seeds=[seed], **kw))
    if mode == "cluster":
        return {
            "accuracy": summ["cluster_accuracy"]["mean"],
            "nmi": summ["nmi"]["mean"],
            "wall_s": summ["wall_s"][0],
        }
    return {
        "test_error": summ["test_error"]["mean"],
        "baseline_test_error": summ["baseline_test_error"]["mean"],
    }


def summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in rows[0]:
        mean, std = mean_std([r[key] for r in rows])
        out[key] = {"mean": mean, "std": std}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--clusters", type=int, default=16)
    ap.add_argument("--seeds", type=_seeds, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="AAE epochs (default: the flow's)")
    ap.add_argument(
        "--labels-per-class", type=int, default=10, help="semi-supervised part (0 skips it)"
    )
    ap.add_argument(
        "--set", dest="settings", type=_setting, action="append", default=[], metavar="KEY=VALUE"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=2, help="seeds run in this many processes")
    ap.add_argument("--out", default=None, help="run directory root (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="aae-bench-"))
    started = time.monotonic()

    table: dict[str, Any] = {}
    for label, pca in (("k-means, pixels", None), ("k-means, PCA-50", 50)):
        table[label] = summarise(
            [kmeans_scores(args.data, args.clusters, s, pca) for s in args.seeds]
        )
    common = {
        "data": args.data,
        "epochs": args.epochs,
        "device": args.device,
        "model": dict(args.settings),
    }
    jobs = [
        ("cluster", s, {**common, "clusters": args.clusters, "run_dir": str(out / f"aae-{s}")})
        for s in args.seeds
    ]
    if args.labels_per_class:
        jobs += [
            (
                "semi",
                s,
                {
                    **common,
                    "labels_per_class": args.labels_per_class,
                    "run_dir": str(out / f"semi-{s}"),
                },
            )
            for s in args.seeds
        ]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(one_run, jobs))
    rows: dict[str, list[dict[str, float]]] = {"cluster": [], "semi": []}
    for (mode, _, _), r in zip(jobs, results, strict=True):
        rows[mode].append(r)
    table["AAE"] = summarise(rows["cluster"])
    semi = summarise(rows["semi"]) if rows["semi"] else None
    best_km = max(
        table["k-means, pixels"]["accuracy"]["mean"], table["k-means, PCA-50"]["accuracy"]["mean"]
    )
    margin = table["AAE"]["accuracy"]["mean"] - best_km
    total = time.monotonic() - started
    if args.json:
        print(
            json.dumps(
                {
                    "clustering": table,
                    "margin_over_best_kmeans": margin,
                    "wall_s": total,
                    "semi": semi,
                }
            )
        )
        return 0

    def pm(d: dict[str, float], f: float = 100.0) -> str:
        return f"{f * d['mean']:6.2f} ± {f * d['std']:5.2f}"

    print(
        f"{args.data}: {args.clusters} clusters, seeds {args.seeds} (train-majority mapping, test set)"
    )
    print(f"{'method':<18} {'accuracy %':>16} {'NMI':>16} {'wall s':>10}")
    for name, row in table.items():
        print(
            f"{name:<18} {pm(row['accuracy']):>16} {pm(row['nmi'], 1.0):>16} {row['wall_s']['mean']:>10.1f}"
        )
    print(f"AAE minus best k-means: {100 * margin:+.2f} points (target: at least +10)")
    if semi is not None:
        print(
            f"semi-supervised, {args.labels_per_class} labels per class: AAE test error {pm(semi['test_error'])} %, "
            f"supervised-only baseline {pm(semi['baseline_test_error'])} %"
        )
    print(f"total wall time {total / 60:.1f} min ({args.workers} processes, one thread each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
