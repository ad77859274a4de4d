"""Flow `semi-supervised`: for each label-split seed, prepare the data -> train the K+1 GAN
-> evaluate it -> train the supervised-only baseline -> evaluate it; then one report.

`run_semi_supervised(p, steps)` is the flow's body: the Prefect flow passes the @task
adapters, `--no-prefect`, benchmarks and tests the plain functions. One order either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from ganflow.flows.params import BundleSource, param, params_flow
from ganflow.flows.seeds import SeedMap, SeedWorkers, seed_map, serial
from ganflow.flows.tasks import evaluate_task, prepare_task, train_task
from ganflow.models.config import ConfigError
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import DataSpec, prepare
from ganflow.tasks.data.sources import SOURCES, check_source
from ganflow.tasks.evaluate.classification import (
    PER_CLASS_ACCURACY,
    TEST_ERROR,
    evaluate_classifier,
)
from ganflow.tasks.evaluate.metrics import mean_std
from ganflow.tasks.io import claim_run_dir
from ganflow.tasks.report.semi_supervised import make_pictures, markdown_report, write_report
from ganflow.tasks.train.devices import PRECISIONS
from ganflow.tasks.train.distributed import check_split
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig

# Epochs (passes over the unlabelled pool) when none are given: sized so that the default
# job finishes in about two minutes on 2 CPU cores.
DEFAULT_EPOCHS = {
    "digits": 100,
    "fashion-mnist": 10,
    "mnist": 10,
    "cifar10": 20,
    "svhn": 10,
    "folder": 50,
}
KINDS = ("gan", "baseline")


@dataclass
class SemiSupervisedParams(SeedWorkers, BundleSource):
    data: str = param("digits", f"data set: {', '.join(SOURCES)}")
    labels_per_class: int = param(5, "labelled images per class")
    seeds: list[int] = param([0], "label-split seeds, comma-separated (e.g. 0,1,2)")
    epochs: int | None = param(None, "passes over the unlabelled data (default: per data set)")
    download: bool = param(False, "allow a torchvision download (needs internet)")
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    precision: str = param("auto", "auto (bf16 on CUDA) | fp32 | bf16", choices=PRECISIONS)
    max_minutes: float | None = param(None, "wall-time budget per model and seed")
    gpus: int = param(1, "processes per training (torchrun: one per GPU; CPU processes with gloo)")
    compile: bool = param(
        False, "torch.compile the networks (a GPU gains; the first steps compile)"
    )
    model: dict[str, Any] = param(
        {}, "model setting, e.g. --set minibatch_discrimination=true", flag="--set"
    )
    run_dir: str | None = param(
        None, "run directory (default: a new data/runs/semi-supervised-...)"
    )

    def validate(self) -> None:
        check_source(self.data)
        self.check_workers()
        self.require("positive", "max_minutes")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        if self.labels_per_class < 1:
            raise ConfigError(f"labels_per_class must be at least 1, got {self.labels_per_class}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        self.check_bundle_source()
        cfg = SSGANConfig().with_overrides(self.model)  # the model settings, checked now
        check_split(self.gpus, cfg, ("batch_size", "labelled_batch_size"))

    def run_config(self, seed: int) -> RunConfig:
        epochs = self.epochs if self.epochs is not None else DEFAULT_EPOCHS.get(self.data, 50)
        return RunConfig(
            epochs=epochs,
            seed=seed,
            device=self.device,
            precision=self.precision,
            max_minutes=self.max_minutes,
            gpus=self.gpus,
            compile=self.compile,
        )

    def data_spec(self, seed: int) -> DataSpec:
        opts = self.source_options(self.download)
        return DataSpec(self.data, self.labels_per_class, seed, self.val_fraction, opts)


@dataclass
class Steps:
    prepare: Callable[..., dict] = prepare
    train: Callable[..., dict] = train
    evaluate: Callable[..., dict] = evaluate_classifier
    on_report: Callable[[str, dict], None] | None = None  # e.g. publish as a Prefect artifact
    map_seeds: SeedMap = serial  # the per-seed work over the seeds (flows/seeds.py)


def _summarise(results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    errors = [r[key]["metrics"][TEST_ERROR] for r in results]
    mean, std = mean_std(errors)
    first = results[0][key]
    return {
        "test_error_mean": mean,
        "test_error_std": std,
        "test_errors": errors,
        "per_class_accuracy": first["metrics"][PER_CLASS_ACCURACY],
        "confusion": first["metrics"]["confusion"],
        "checkpoints": [r[key]["train"]["checkpoint"] for r in results],
        "wall_s": [r[key]["train"]["wall_s"] for r in results],
        "images_per_s": [r[key]["train"]["images_per_s"] for r in results],
    }


def run_semi_supervised(p: SemiSupervisedParams, steps: Steps | None = None) -> dict[str, Any]:
    """The flow's body for every seed; returns the summary (also in run_dir/metrics.json)."""
    steps = steps or Steps()
    p.validate()
    cfg = SSGANConfig().with_overrides(p.model)
    run_dir = claim_run_dir(p.run_dir, "semi-supervised", config=p.to_dict())

    def one_seed(seed: int) -> dict[str, Any]:
        info = steps.prepare(p.data_spec(seed), run_dir / "data")
        row: dict[str, Any] = {"seed": seed, "data": info}
        for kind in KINDS:
            trained = steps.train(
                info["path"], cfg, p.run_config(seed), run_dir / f"seed{seed}" / kind, kind
            )
            row[kind] = {
                "train": trained,
                "metrics": steps.evaluate(trained["checkpoint"], info["path"]),
            }
        return row

    results = steps.map_seeds(one_seed, list(p.seeds))
    info = results[-1]["data"]
    summary: dict[str, Any] = {
        "data": p.data,
        "labels_per_class": p.labels_per_class,
        "seeds": list(p.seeds),
        "epochs": p.run_config(0).epochs,
        "run_dir": str(run_dir),
        "fingerprints": [r["data"]["fingerprint"]["id"] for r in results],
        "class_names": info["class_names"],
        "counts": info["counts"],
        "config": results[0]["gan"]["train"]["config"],
        # per seed: how far the K+1 GAN's labels spread (chosen on each split's validation)
        "graph_alpha": [r["gan"]["train"]["config"].get("graph_alpha") for r in results],
        "params": p.to_dict(),
        **{kind: _summarise(results, kind) for kind in KINDS},
    }
    pictures = make_pictures(run_dir, results, info["class_names"])
    summary["pictures"] = {k: str(v) for k, v in pictures.items()}
    summary.update(write_report(run_dir, summary, pictures))
    if steps.on_report is not None:
        steps.on_report(run_dir.name, {"summary": summary, "pictures": pictures})
    return summary


def publish_report(run_name: str, report: dict[str, Any]) -> None:
    """The report as a markdown artifact (pictures embedded) and the per-seed errors as a table."""
    summary = report["summary"]
    create_markdown_artifact(
        markdown_report(summary, report["pictures"], embed=True),
        key="semi-supervised-report",
        description=f"semi-supervised run {run_name}",
    )
    rows = [
        {"seed": s, "gan_test_error": g, "baseline_test_error": b}
        for s, g, b in zip(
            summary["seeds"],
            summary["gan"]["test_errors"],
            summary["baseline"]["test_errors"],
            strict=True,
        )
    ]
    create_table_artifact(
        rows, key="semi-supervised-errors", description="test error per label-split seed"
    )


@params_flow(SemiSupervisedParams, name="semi-supervised", log_prints=True)
def semi_supervised(p: SemiSupervisedParams) -> dict[str, Any]:
    """Train a K+1-class semi-supervised GAN and its supervised-only baseline on the same
    labelled subset for each seed; report test error mean ± std over the label splits."""
    steps = Steps(prepare_task, train_task, evaluate_task, publish_report, seed_map(p))
    return run_semi_supervised(p, steps)
