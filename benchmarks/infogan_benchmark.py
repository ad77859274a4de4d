"""InfoGAN benchmark: the categorical code as an unsupervised clustering of the test images,
beside k-means on pixels with as many clusters (and, with --aae, the adversarial
autoencoder), mean ± std over seeds, with wall time.

    python benchmarks/infogan_benchmark.py --data digits                 # seeds 0,1,2
    python benchmarks/infogan_benchmark.py --data fashion-mnist --epochs 3 --aae

Every method uses `ganflow cluster`'s protocol: a cluster takes the majority label of its
training images, and that mapping is scored on the test set; the Hungarian accuracy is the
best one-to-one matching of clusters to classes.
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

from ganflow.flows.params import int_list, setting
from ganflow.tasks.data.sources import SourceOptions, load_source
from ganflow.tasks.evaluate.clustering import hungarian_accuracy, majority_mapping, nmi
from ganflow.tasks.evaluate.metrics import mean_std

KEYS = ("accuracy", "hungarian", "nmi", "wall_s")


def kmeans(name: str, k: int, seed: int) -> dict[str, float]:
    from sklearn.cluster import KMeans

    raw = load_source(name, SourceOptions())
    x_tr = raw.train_x.reshape(len(raw.train_x), -1) / 255.0
    x_te = raw.test_x.reshape(len(raw.test_x), -1) / 255.0
    t0 = time.monotonic()
    km = KMeans(k, n_init=3, random_state=seed).fit(x_tr)
    c_te = km.predict(x_te)
    mapping = majority_mapping(km.labels_, raw.train_y, k, len(raw.class_names))
    return {"accuracy": float((mapping[c_te] == raw.test_y).mean()),
            "hungarian": hungarian_accuracy(c_te, raw.test_y), "nmi": nmi(c_te, raw.test_y),
            "wall_s": time.monotonic() - t0}  # fmt: skip


def one_run(job: tuple[str, int, dict[str, Any]]) -> dict[str, float]:
    """One seed of InfoGAN or the AAE, in a worker process with one thread."""
    import torch

    torch.set_num_threads(1)
    method, seed, kw = job
    if method == "infogan":
        from ganflow.flows.infogan import InfoGANParams, run_infogan

        s = run_infogan(InfoGANParams(seeds=[seed], **kw))
    else:
        from ganflow.flows.cluster import ClusterParams, run_cluster

        s = run_cluster(ClusterParams(seeds=[seed], **kw))
    hung = s["hungarian_accuracy"]
    return {"accuracy": s["cluster_accuracy"]["mean"], "hungarian": hung and hung["mean"],
            "nmi": s["nmi"]["mean"], "wall_s": s["wall_s"][0]}  # fmt: skip


def summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    out = {}
    for key in KEYS:
        vals = [r[key] for r in rows]
        out[key] = None if None in vals else dict(zip(("mean", "std"), mean_std(vals), strict=True))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="digits")
    ap.add_argument("--categorical", type=int, default=10, help="K of the code (and of k-means)")
    ap.add_argument("--seeds", type=int_list, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="InfoGAN epochs (default: the flow's)")
    ap.add_argument("--max-minutes", type=float, default=None, help="InfoGAN budget per seed")
    ap.add_argument("--aae", action="store_true", help="also the AAE with K clusters")
    ap.add_argument("--aae-epochs", type=int, default=None)
    ap.add_argument("--set", dest="settings", type=setting, action="append", default=[],
                    metavar="KEY=VALUE", help="InfoGAN setting")  # fmt: skip
    ap.add_argument("--workers", type=int, default=2, help="seeds run in this many processes")
    ap.add_argument("--out", default=None, help="run directory root (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="infogan-bench-"))
    started = time.monotonic()
    table = {
        "k-means, pixels": summarise([kmeans(args.data, args.categorical, s) for s in args.seeds])
    }
    jobs = [("infogan", s, {"data": args.data, "categorical": args.categorical,
                            "epochs": args.epochs, "max_minutes": args.max_minutes,
                            "model": dict(args.settings), "run_dir": str(out / f"infogan-{s}")})
            for s in args.seeds]  # fmt: skip
    if args.aae:
        jobs += [("aae", s, {"data": args.data, "clusters": args.categorical,
                             "epochs": args.aae_epochs, "run_dir": str(out / f"aae-{s}")})
                 for s in args.seeds]  # fmt: skip
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(one_run, jobs))
    for method, name in (("infogan", "InfoGAN code"), ("aae", "AAE")):
        rows = [r for (m, _, _), r in zip(jobs, results, strict=True) if m == method]
        if rows:
            table[name] = summarise(rows)
    total = time.monotonic() - started
    if args.json:
        print(json.dumps({"data": args.data, "clusters": args.categorical, "seeds": args.seeds,
                          "table": table, "wall_s": total}))  # fmt: skip
        return 0

    def pm(d: dict[str, float] | None, f: float = 100.0) -> str:
        return "-" if d is None else f"{f * d['mean']:6.2f} ± {f * d['std']:5.2f}"

    print(f"{args.data}: {args.categorical} clusters, seeds {args.seeds} (test set)")
    print(f"{'method':<16} {'accuracy %':>16} {'Hungarian %':>16} {'NMI':>14} {'wall s':>8}")
    for name, r in table.items():
        print(f"{name:<16} {pm(r['accuracy']):>16} {pm(r['hungarian']):>16} "
              f"{pm(r['nmi'], 1.0):>14} {r['wall_s']['mean']:>8.1f}")  # fmt: skip
    print(f"total wall time {total / 60:.1f} min ({args.workers} processes, one thread each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
