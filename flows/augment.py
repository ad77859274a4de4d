"""Flows `export` (a new version of a synthetic data set from a trained run) and `augment`
(generator -> export -> real-only vs real + synthetic classifier -> report)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.artifacts import publish_report_and_seeds
from tasks.augment import (
    AugmentParams,
    AugmentSteps,
    downstream_accuracy,
    markdown_report,
    run_augment,
    train_generator,
)
from tasks.data import prepare_task
from tasks.export import ExportOptions, export_dataset
from tasks.export_metrics import export_scorer

export_task = task(export_dataset, name="export")
train_generator_task = task(train_generator, name="train-generator")
classify_task = task(downstream_accuracy, name="downstream-classifier")


def publish_augment(run_name: str, summary: dict[str, Any]) -> None:
    publish_report_and_seeds(markdown_report(summary, embed=True), "augment-report", f"augmentation run {run_name}",
                             summary["per_seed"], "augment-per-seed", "per-seed accuracies")  # fmt: skip


@flow(name="augment", log_prints=True)
def augment_flow(
    data: str = "digits", labels_per_class: int = 10, seeds: list[int] | None = None, generator: str = "ssgan",
    epochs: int | None = None, model: dict[str, Any] | None = None, per_class: int = 500,
    min_confidence: float = 0.9, balance: str = "equal", classifier_steps: int = 1500, cas_steps: int = 1500, real_fraction: float = 0.5,
    dataset_name: str | None = None, datasets_root: str | None = None, data_root: str | None = None,
    device: str = "auto", max_minutes: float | None = None, run_dir: str | None = None, cache_dir: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train (or reuse) a generator, export a new version of its synthetic data set, and
    measure whether it helps a classifier beside the real labelled images alone."""
    p = AugmentParams(
        data=data, labels_per_class=labels_per_class, seeds=list(seeds or [0]), generator=generator, epochs=epochs,
        model=dict(model or {}), per_class=per_class, min_confidence=min_confidence, balance=balance,
        classifier_steps=classifier_steps,
        cas_steps=cas_steps, real_fraction=real_fraction, dataset_name=dataset_name, datasets_root=datasets_root,
        data_root=data_root, device=device, max_minutes=max_minutes, run_dir=run_dir, cache_dir=cache_dir,
    )  # fmt: skip
    steps = AugmentSteps(prepare=prepare_task, train_generator=train_generator_task, export=export_task,
                         classify=classify_task, on_report=publish_augment)  # fmt: skip
    return run_augment(p, steps)


@flow(name="export", log_prints=True)
def export_flow(
    checkpoint: str, name: str, per_class: int = 100, classes: list[str] | None = None, balance: str = "equal",
    min_confidence: float = 0.0, seed: int = 0, arrays: bool = False, metrics: bool = True,
    root: str | None = None, device: str = "cpu",
) -> dict[str, Any]:  # fmt: skip
    """A new version of data set `name` from a trained run (conditional GAN, K+1 GAN or
    semi-supervised AAE), with CAS and the distribution metrics in its manifest."""
    opts = ExportOptions(per_class=per_class, classes=classes, balance=balance, min_confidence=min_confidence,
                         seed=seed, arrays=arrays)  # fmt: skip
    scorer = export_scorer(device, seed) if metrics else None
    result = export_task(checkpoint, name, opts, root, device, scorer)
    create_table_artifact([{"class": k, "count": v} for k, v in result["per_class"].items()], key="export-counts",
                          description=f"{name} v{result['version']}: {result['path']}")  # fmt: skip
    return result
