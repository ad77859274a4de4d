"""Flow `cluster`: for each seed, prepare the data -> train an adversarial autoencoder ->
score its clusters [-> train and evaluate the supervised-only baseline, semi-supervised
mode]; then the assignments, the pictures and one report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from ganflow.flows.caching import cached_step
from ganflow.flows.params import BundleSource, param, params_flow
from ganflow.flows.seeds import SeedMap, SeedWorkers, seed_map, serial
from ganflow.flows.tasks import evaluate_task, prepare_task, train_task
from ganflow.models.aae.config import AAEConfig
from ganflow.models.config import ConfigError
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import DataSpec, prepare
from ganflow.tasks.data.sources import SOURCES, check_source
from ganflow.tasks.evaluate.classification import TEST_ERROR, evaluate_classifier
from ganflow.tasks.evaluate.clustering import (
    CLUSTER_ACCURACY,
    HUNGARIAN_ACCURACY,
    NMI,
    per_seed_scores,
    score_clusters,
)
from ganflow.tasks.evaluate.metrics import mean_std
from ganflow.tasks.io import claim_run_dir, write_run_summary
from ganflow.tasks.report.clusters import markdown_report, outputs
from ganflow.tasks.train.aae import train_aae
from ganflow.tasks.train.distributed import check_split
from ganflow.tasks.train.ssgan import train as train_ssgan
from ganflow.tasks.train.trainer import RunConfig

DEFAULT_EPOCHS = {"digits": 50, "fashion-mnist": 20, "mnist": 20, "folder": 50}
# per-data AAEConfig defaults under the user's --set (benchmarks/README.md: why)
DEFAULT_MODEL: dict[str, dict[str, Any]] = {
    "digits": {"hidden": 512},
    "fashion-mnist": {"lr_disc": 1e-5},
}


@dataclass
class ClusterParams(SeedWorkers, BundleSource):
    data: str = param("digits", f"data set: {', '.join(SOURCES)}")
    clusters: int = param(
        16, "size of the categorical code K (semi-supervised: the number of classes)"
    )
    labels_per_class: int | None = param(None, "semi-supervised mode: labelled images per class")
    seeds: list[int] = param([0], "seeds, comma-separated (e.g. 0,1,2)")
    epochs: int | None = param(None, "passes over the training images (default: per data set)")
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    max_minutes: float | None = param(None, "wall-time budget per seed")
    gpus: int = param(1, "processes per training (torchrun: one per GPU; CPU processes with gloo)")
    model: dict[str, Any] = param(
        {}, "AAE setting, e.g. --set z_dim=2 --set prior=mixture", flag="--set"
    )
    run_dir: str | None = param(None, "run directory (default: a new data/runs/cluster-...)")

    def validate(self) -> None:
        check_source(self.data)
        self.check_workers()
        self.require("positive", "max_minutes")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        if self.labels_per_class is not None and self.labels_per_class < 1:
            raise ConfigError(f"labels_per_class must be at least 1, got {self.labels_per_class}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if not self.semi and self.clusters < 2:
            raise ConfigError(f"clusters must be at least 2 to cluster, got {self.clusters}")
        self.check_bundle_source()
        cfg = self.aae_config()  # the model settings, checked now
        check_split(self.gpus, cfg, ("batch_size", "labelled_batch_size"))

    @property
    def semi(self) -> bool:
        return self.labels_per_class is not None

    def aae_config(self, num_classes: int | None = None) -> AAEConfig:
        """The data set's defaults under the user's settings; clusters = classes when semi."""
        cfg = AAEConfig(clusters=self.clusters).with_overrides(
            {**DEFAULT_MODEL.get(self.data, {}), **self.model}
        )
        if self.semi and num_classes is not None:
            cfg = cfg.with_overrides({"clusters": num_classes})
        return cfg

    def run_config(self, seed: int) -> RunConfig:
        epochs = self.epochs if self.epochs is not None else DEFAULT_EPOCHS.get(self.data, 50)
        return RunConfig(epochs=epochs, seed=seed, device=self.device, max_minutes=self.max_minutes,
                         gpus=self.gpus)  # fmt: skip

    def data_spec(self, seed: int) -> DataSpec:
        return self.bundle_spec(self.data, self.labels_per_class or 1, seed)


@dataclass
class ClusterSteps:
    prepare: Callable[..., dict] = prepare
    train: Callable[..., dict] = train_aae
    score: Callable[..., dict] = score_clusters
    train_baseline: Callable[..., dict] = train_ssgan
    evaluate: Callable[..., dict] = evaluate_classifier
    on_report: Callable[[str, dict], None] | None = None
    map_seeds: SeedMap = serial  # the per-seed work over the seeds (flows/seeds.py)


def _pm(values: list[float]) -> dict[str, Any]:
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "values": values}


def run_cluster(p: ClusterParams, steps: ClusterSteps | None = None) -> dict[str, Any]:
    """The flow's body over every seed; returns the summary (also in run_dir/metrics.json)."""
    steps = steps or ClusterSteps()
    p.validate()
    run_dir = claim_run_dir(p.run_dir, "cluster", config=p.to_dict())

    def one_seed(seed: int) -> dict[str, Any]:
        info = steps.prepare(p.data_spec(seed), run_dir / "data")
        run, out = p.run_config(seed), run_dir / f"seed{seed}"
        trained = steps.train(
            info["path"], p.aae_config(info["num_classes"]), run, out / "aae", p.semi
        )
        row = {
            "seed": seed,
            "train": trained,
            "metrics": steps.score(trained["checkpoint"], info["path"]),
        }
        if p.semi:  # the supervised-only baseline on the same labels, for the same epochs
            base = steps.train_baseline(
                info["path"], SSGANConfig(), run, out / "baseline", "baseline"
            )
            row["baseline"] = steps.evaluate(base["checkpoint"], info["path"])
        return {**row, "data": info}

    rows = steps.map_seeds(one_seed, list(p.seeds))
    info = rows[-1]["data"]
    summary: dict[str, Any] = {
        "data": p.data,
        "clusters": rows[0]["metrics"]["protocol"]["clusters"],
        "seeds": list(p.seeds),
        "epochs": p.run_config(0).epochs,
        "mode": "semi-supervised" if p.semi else "clustering",
        "labels_per_class": p.labels_per_class,
        "run_dir": str(run_dir),
        "config": rows[0]["train"]["config"],
        "params": p.to_dict(),
        "wall_s": [r["train"]["wall_s"] for r in rows],
        "checkpoints": [r["train"]["checkpoint"] for r in rows],
    }
    for key in (CLUSTER_ACCURACY, NMI, HUNGARIAN_ACCURACY):
        vals = [r["metrics"].get(key) for r in rows]
        summary[key] = _pm(vals) if all(v is not None for v in vals) else None
    if p.semi:
        summary["test_error"] = _pm([r["metrics"]["test_error"] for r in rows])
        summary["baseline_test_error"] = _pm([r["baseline"][TEST_ERROR] for r in rows])
    assignments, pictures = outputs(run_dir, rows[0]["train"]["checkpoint"], info["path"])
    summary["assignments"], summary["pictures"] = (
        assignments,
        {k: str(v) for k, v in pictures.items()},
    )
    summary["per_seed"] = per_seed_scores(rows)
    write_run_summary(run_dir, summary, lambda s: markdown_report(s, embed=False))
    if steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


def publish_report(run_name: str, summary: dict[str, Any]) -> None:
    create_markdown_artifact(
        markdown_report(summary, embed=True),
        key="cluster-report",
        description=f"adversarial autoencoder run {run_name}",
    )
    rows = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in summary["per_seed"]]
    create_table_artifact(rows, key="cluster-metrics", description="per-seed clustering metrics")
    if summary["assignments"] and Path(summary["assignments"]).is_file():
        create_markdown_artifact(
            f"Cluster assignments (image id, cluster, confidence): `{summary['assignments']}`",
            key="cluster-assignments",
        )


@params_flow(ClusterParams, name="cluster", log_prints=True)
def cluster(p: ClusterParams) -> dict[str, Any]:
    """Unsupervised clustering with an adversarial autoencoder (Makhzani et al. 2015, section
    6), or with labels_per_class its semi-supervised mode (section 5) beside the baseline."""
    steps = ClusterSteps(
        prepare_task,
        cached_step(train_aae, name="train-aae", code=("models/aae", "tasks/train", "tasks/data")),
        cached_step(score_clusters, name="score-clusters", code=("models/aae", "tasks/evaluate")),
        train_task,
        evaluate_task,
        publish_report,
        seed_map(p),
    )
    return run_cluster(p, steps)
