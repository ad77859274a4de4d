"""The seed papers' own tables on their own data, beside ganflow run as each paper describes
it ("faithful") and ganflow's defaults, with the classical baselines on the same splits.

    python benchmarks/paper_tables.py --table salimans-mnist --seeds 0,1,2
    python benchmarks/paper_tables.py --table aae-mnist --seeds 0,1,2
    python benchmarks/paper_tables.py --table infogan-mnist --seeds 0,1,2
    python benchmarks/paper_tables.py --table salimans-cifar --seeds 0,1,2
    python benchmarks/paper_tables.py --quick         # every table, one seed, short budgets

Tables (the papers' figures are test errors in %, mean ± std over their seeds):
  salimans-mnist  Salimans et al. 2016, Table 1: permutation-invariant MNIST, 20 / 50 / 100 /
                  200 labelled images (feature matching, 10 seeds)
  aae-mnist       Makhzani et al. 2015: semi-supervised MNIST with 100 labels (Table 2) and
                  unsupervised clustering with 16 clusters (Table 3)
  infogan-mnist   Chen et al. 2016: the 10-way categorical code as a classifier of MNIST
                  (about 5 % error), matched to the classes by the Hungarian method on the
                  test set
  salimans-cifar  Salimans et al. 2016, Table 2: CIFAR-10 with 4,000 labels; on a CPU
                  CIFAR-10-small (32x32, 1,000 images per class) with 40 labels per class

Every run reads the data from --data-root (default ../shared/data: mnist/ and
cifar10-small/). The labelled images are drawn per class by the seed, and they are the
only labels a method sees (the realistic protocol of Oliver et al. 2018): the defaults
choose graph_alpha, and the classical baselines their settings, by cross-validation on
them. No validation split is held out (--val-fraction 0), so the unlabelled pool is the
whole training set, as in the papers; with --val-fraction F a labelled split is held out
(it chooses nothing) and the table counts its labels beside each row.
--quick: one seed, 1 epoch of each MNIST run and 2 of CIFAR's, 100 labels only on MNIST,
and LabelSpreading left out (its cross-validated grid takes minutes per row).

Time on 2 CPU cores (benchmarks/README.md): --quick 17.7 min; salimans-mnist with 100
labels, one seed, --epochs 10: 27.6 min (the defaults' two graph rounds 13.4 of them), so
the full table (20 epochs, 4 label counts, 3 seeds) is about 8 hours; infogan-mnist with
--epochs 3, 3 seeds: 38.7 min (10 epochs: about 22 min a run, 2.2 hours for the table).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ssl_benchmark import run_one  # noqa: E402

from ganflow.flows.params import int_list  # noqa: E402
from ganflow.flows.semi_supervised import SemiSupervisedParams  # noqa: E402
from ganflow.models.ssgan.config import SSGANConfig  # noqa: E402
from ganflow.tasks.data.bundle import load_bundle, prepare  # noqa: E402
from ganflow.tasks.evaluate.baselines import (  # noqa: E402
    classical_baselines,
    features,
    logistic_regression,
)
from ganflow.tasks.evaluate.metrics import mean_std  # noqa: E402
from ganflow.tasks.train.trainer import RunConfig  # noqa: E402

TABLES = ("salimans-mnist", "aae-mnist", "infogan-mnist", "salimans-cifar")

# the papers' figures: (mean, std) of the test error in %, std None where none was given
PAPER: dict[str, dict[str, tuple[float, float | None]]] = {
    "salimans-mnist": {"20": (16.77, 4.52), "50": (2.21, 1.36), "100": (0.93, 0.065),
                       "200": (0.90, 0.042)},
    "aae-mnist": {"semi-supervised, 100 labels": (1.90, 0.10),
                  "clustering, 16 clusters": (9.55, None)},
    "infogan-mnist": {"categorical code, 10 values": (5.0, None)},
    "salimans-cifar": {"4,000 labels (paper: 50,000 images)": (18.63, 2.32)},
}  # fmt: skip

# Salimans et al.'s released MNIST code (train_mnist_feature_matching.py): the MLP D and G
# (mlp28), Gaussian noise after every hidden layer (0.5; the last one's before the head),
# feature matching, weight norm initialised from data with only the output layer's scale
# trained, G with batch norm, Adam at 0.003 with beta1 0.5 and no decay, 300 epochs of
# 60,000 images, no graph labels
SALIMANS_MNIST = {"arch": "mlp28", "graph_weight": 0.0, "data_init": True, "head_noise": 0.5,
                  "frozen_scales": True, "virtual_batch_norm": False,
                  "lr_decay_start": 1.0}  # fmt: skip
# Makhzani et al.'s MNIST AAE: the MLP networks on pixels, no neighbour graph
AAE_PAPER = {"frontend": "pixels", "arch": "mlp", "neighbours": 0, "head_init": "none"}
# the paper's InfoGAN: no graph prior on the categorical code
INFOGAN_PAPER = {"partition_weight": 0.0}


class Budget:
    """Epochs of each run: the full tables' (stated in the output) or --quick's."""

    def __init__(self, quick: bool, epochs: int | None = None) -> None:
        self.ssl_mnist = epochs or (1 if quick else 20)  # the paper: 300
        self.aae = epochs or (1 if quick else 20)
        self.infogan = epochs or (1 if quick else 10)
        self.ssl_cifar = epochs or (2 if quick else 15)


def _prepare(data: str, root: Path, lpc: int, seed: int, out: Path, val: float) -> dict[str, Any]:
    size = {"mnist": {}, "folder": {"image_size": 32, "channels": 3}}[data]
    p = SemiSupervisedParams(data=data, labels_per_class=lpc, seeds=[seed], data_root=str(root),
                             val_fraction=val, **size)  # fmt: skip
    return prepare(p.data_spec(seed), out / "data")


def _pm(xs: list[float]) -> dict[str, float]:
    mean, std = mean_std(xs)
    return {"mean": 100 * mean, "std": 100 * std, "n": len(xs)}


def ssl_rows(table: str, root: Path, counts: list[int], seeds: list[int], epochs: int,
             faithful: dict[str, Any] | None, out: Path, val: float, spreading: bool = True
             ) -> list[dict[str, Any]]:  # fmt: skip
    """One row per label count: the K+1 GAN as the paper ran it (where `faithful` is given),
    with ganflow's defaults, the supervised-only baseline (the faithful D, else the default
    one, on the labels alone), LabelSpreading and logistic regression, each over the seeds."""
    data = "mnist" if table == "salimans-mnist" else "folder"
    paper = SSGANConfig().with_overrides(faithful or {})
    arms = {"defaults": (SSGANConfig(), "gan"), "baseline": (paper, "baseline")}
    if faithful is not None:
        arms = {"faithful": (paper, "gan"), **arms}
    rows = []
    for n in counts:
        lpc = n // 10
        runs: dict[str, list[dict[str, Any]]] = {}
        val_labels = 0
        for seed in seeds:
            info = _prepare(data, root, lpc, seed, out / f"n{n}", val)
            run = RunConfig(epochs=epochs, seed=seed, eval_every=10**9)
            base = out / f"n{n}" / f"s{seed}"
            for arm, (cfg, kind) in arms.items():
                r = run_one(info, cfg, run, base / arm, kind)
                runs.setdefault(arm, []).append(r)
                say(f"{table} {n} labels, seed {seed}, {arm}: {100 * r['test_error']:.2f} % "
                    f"({r['wall_s'] / 60:.1f} min, {r['steps']} steps)")  # fmt: skip
            bundle = load_bundle(info["path"])
            val_labels = len(bundle.y_val)
            if spreading:
                for name, r in classical_baselines(bundle, seed).items():
                    if name in ("label_spreading", "logistic_regression"):
                        runs.setdefault(name, []).append(r)
            else:
                r = logistic_regression(bundle, features(bundle, seed))
                runs.setdefault("logistic_regression", []).append(r)
        row: dict[str, Any] = {"row": str(n), "labels": n, "validation_labels": val_labels}
        for arm, rs in runs.items():
            row[arm] = _pm([r["test_error"] for r in rs])
            row[arm]["wall_s"] = round(sum(r.get("wall_s", 0.0) for r in rs) / len(rs), 1)
        rows.append(row)
    return rows


def aae_rows(root: Path, seeds: list[int], epochs: int, out: Path, val: float
             ) -> list[dict[str, Any]]:  # fmt: skip
    from ganflow.flows.cluster import ClusterParams, run_cluster

    common = {"data": "mnist", "data_root": str(root), "epochs": epochs, "val_fraction": val}
    rows = []
    for label, key, extra in (
        ("semi-supervised, 100 labels", "test_error", {"labels_per_class": 10, "clusters": 10}),
        ("clustering, 16 clusters", "cluster_error", {"clusters": 16}),
    ):
        runs: dict[str, list[float]] = {}
        walls: dict[str, list[float]] = {}
        for seed in seeds:
            for arm, model in (("faithful", AAE_PAPER), ("defaults", {})):
                t0 = time.monotonic()
                s = run_cluster(ClusterParams(seeds=[seed], model=dict(model), **common, **extra,
                                              run_dir=str(out / f"{key}-{arm}-{seed}")))  # fmt: skip
                if key == "test_error":
                    err = s["test_error"]["mean"]
                    if arm == "defaults":  # the same supervised-only D beside either arm
                        runs.setdefault("baseline", []).append(s["baseline_test_error"]["mean"])
                else:
                    err = 1.0 - s["cluster_accuracy"]["mean"]
                runs.setdefault(arm, []).append(err)
                walls.setdefault(arm, []).append(time.monotonic() - t0)
                say(f"aae-mnist {label}, seed {seed}, {arm}: {100 * err:.2f} % "
                    f"({walls[arm][-1] / 60:.1f} min)")  # fmt: skip
        rows.append(_row(label, runs, walls))
    return rows


def infogan_rows(root: Path, seeds: list[int], epochs: int, out: Path, val: float
                 ) -> list[dict[str, Any]]:  # fmt: skip
    """The paper's InfoGAN ("faithful": no graph prior) and ganflow's defaults (the graph prior
    on the categorical code), the code's Hungarian-matched test error."""
    from ganflow.flows.infogan import InfoGANParams, run_infogan

    errs: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {}
    for seed in seeds:
        for arm, model in (("faithful", INFOGAN_PAPER), ("defaults", {})):
            t0 = time.monotonic()
            s = run_infogan(InfoGANParams(data="mnist", data_root=str(root), seeds=[seed],
                                          epochs=epochs, val_fraction=val, model=dict(model),
                                          run_dir=str(out / f"infogan-{arm}-{seed}")))  # fmt: skip
            errs.setdefault(arm, []).append(1.0 - s["hungarian_accuracy"]["mean"])
            walls.setdefault(arm, []).append(time.monotonic() - t0)
            say(f"infogan-mnist seed {seed}, {arm}: {100 * errs[arm][-1]:.2f} % "
                f"({walls[arm][-1] / 60:.1f} min)")  # fmt: skip
    return [_row("categorical code, 10 values", errs, walls)]


def _row(label: str, errs: dict[str, list[float]], walls: dict[str, list[float]]
         ) -> dict[str, Any]:  # fmt: skip
    """A table row: each arm's errors over the seeds (mean ± std) and, where timed, its mean
    wall time per run."""
    row: dict[str, Any] = {"row": label}
    for arm, values in errs.items():
        row[arm] = _pm(values)
        if arm in walls:
            row[arm]["wall_s"] = round(sum(walls[arm]) / len(walls[arm]), 1)
    return row


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def run_table(name: str, a: argparse.Namespace, budget: Budget, out: Path) -> dict[str, Any]:
    root = Path(a.data_root)
    t0 = time.monotonic()
    if name == "salimans-mnist":
        counts = a.labels or ([100] if a.quick else [20, 50, 100, 200])
        rows = ssl_rows(name, root / "mnist", counts, a.seeds, budget.ssl_mnist, SALIMANS_MNIST,
                        out / name, a.val_fraction, not a.quick)  # fmt: skip
        budget_text = f"{_epochs(budget.ssl_mnist)} per run (the paper: 300)"
    elif name == "salimans-cifar":
        rows = ssl_rows(name, root / "cifar10-small", [400], a.seeds, budget.ssl_cifar, None,
                        out / name, a.val_fraction, not a.quick)  # fmt: skip
        rows[0]["row"] = "CPU: CIFAR-10-small, 40 labels per class"
        budget_text = f"{_epochs(budget.ssl_cifar)} per run (the paper: 1,200 on 50,000 images)"
    elif name == "aae-mnist":
        rows = aae_rows(root / "mnist", a.seeds, budget.aae, out / name, a.val_fraction)
        budget_text = f"{_epochs(budget.aae)} per run"
    else:
        rows = infogan_rows(root / "mnist", a.seeds, budget.infogan, out / name, a.val_fraction)
        budget_text = f"{_epochs(budget.infogan)} per run"
    paper = PAPER[name]
    for r, (_, fig) in zip(rows, paper.items(), strict=False):
        if name == "salimans-mnist":
            fig = paper[r["row"]]
        r["paper"] = {"mean": fig[0], "std": fig[1]}
    return {"table": name, "seeds": a.seeds, "budget": budget_text, "rows": rows,
            "wall_s": round(time.monotonic() - t0, 1)}  # fmt: skip


COLUMNS = ("paper", "faithful", "defaults", "baseline", "label_spreading", "logistic_regression")
HEADS = {"paper": "paper", "faithful": "as the paper", "defaults": "ganflow defaults",
         "baseline": "supervised only", "label_spreading": "LabelSpreading",
         "logistic_regression": "logistic regr."}  # fmt: skip


def _cell(c: dict[str, Any] | None) -> str:
    if c is None:
        return "-"
    std = c.get("std") if c.get("n", 2) > 1 else None  # one seed has no spread
    text = f"{c['mean']:.2f}" + (f" ± {std:.2f}" if std is not None else "")
    return text + (f" ({c['wall_s'] / 60:.1f} min)" if "wall_s" in c else "")


def render(doc: dict[str, Any]) -> str:
    cols = [c for c in COLUMNS if any(c in r for r in doc["rows"])]
    lines = [f"## {doc['table']}: test error %, mean ± std over seeds {doc['seeds']}; "
             f"{doc['budget']}; {doc['wall_s'] / 60:.1f} min in all",
             "| row | " + " | ".join(HEADS[c] for c in cols) + " |",
             "|---|" + "---|" * len(cols)]  # fmt: skip
    for r in doc["rows"]:
        extra = (
            f" (+{r['validation_labels']:,} validation labels)"
            if r.get("validation_labels")
            else ""
        )
        lines.append(f"| {r['row']}{extra} | " + " | ".join(_cell(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", choices=(*TABLES, "all"), default="all")
    ap.add_argument("--seeds", type=int_list, default=None, help="default: 0,1,2 (--quick: 0)")
    ap.add_argument("--quick", action="store_true", help="one seed, short budgets, every table")
    ap.add_argument(
        "--labels",
        type=int_list,
        default=None,
        help="salimans-mnist: these label counts only (of 20, 50, 100, 200)",
    )
    ap.add_argument("--epochs", type=int, default=None, help="every run's epochs (default: the table's)")  # fmt: skip
    ap.add_argument("--data-root", default="../shared/data", help="holds mnist/ and cifar10-small/")
    ap.add_argument("--val-fraction", type=float, default=0.0,
                    help="a labelled split of the training set held out (it chooses nothing)")  # fmt: skip
    ap.add_argument("--out", default=None, help="run directories (default: a temporary folder)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.seeds is None:
        a.seeds = [0] if a.quick else [0, 1, 2]
    if not a.seeds:
        ap.error("--seeds needs at least one seed")
    if a.labels is not None and (not a.labels or set(a.labels) - {20, 50, 100, 200}):
        ap.error(f"--labels takes some of 20, 50, 100, 200, got {a.labels}")
    if a.epochs is not None and a.epochs < 1:
        ap.error(f"--epochs must be at least 1, got {a.epochs}")
    if not 0.0 <= a.val_fraction < 1.0:
        ap.error(f"--val-fraction must be in [0, 1), got {a.val_fraction}")
    needs = {"salimans-cifar": "cifar10-small"}
    for name in TABLES if a.table == "all" else (a.table,):
        folder = Path(a.data_root) / needs.get(name, "mnist")
        if not folder.is_dir():
            ap.error(
                f"{name} needs {folder}: pass --data-root DIR holding mnist/ and cifar10-small/"
            )
    out = Path(a.out or tempfile.mkdtemp(prefix="paper-tables-"))
    budget = Budget(a.quick, a.epochs)
    docs = []
    for name in TABLES if a.table == "all" else (a.table,):
        docs.append(run_table(name, a, budget, out))
        if not a.json:
            print(render(docs[-1]) + "\n", flush=True)
    if a.json:
        print(json.dumps(docs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
