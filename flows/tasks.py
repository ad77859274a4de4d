"""Prefect task adapters of the steps several flows share (tasks/ imports no Prefect).

Each is cached (flows/caching.py): a rerun with the same data, config and seed reuses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganflow.flows.caching import cached_step
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import prepare
from ganflow.tasks.evaluate.classification import evaluate_classifier
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig

prepare_task = cached_step(prepare, name="prepare-data", code=("tasks/data",))
evaluate_task = cached_step(
    evaluate_classifier, name="evaluate-classifier", code=("tasks/evaluate", "models/ssgan")
)


def _train_with_progress(
    bundle_path: str | Path,
    cfg: SSGANConfig,
    run: RunConfig,
    out_dir: str | Path,
    kind: str = "gan",
) -> dict[str, Any]:
    """The K+1 GAN's `train` with a Prefect progress artifact that follows the steps."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    artifact_id = create_progress_artifact(
        progress=0.0, description=f"{kind} training, seed {run.seed}"
    )

    def hook(step: int, total: int, logs: dict) -> None:
        update_progress_artifact(artifact_id, progress=100.0 * step / total)

    return train(bundle_path, cfg, run, out_dir, kind, progress=hook)


train_task = cached_step(
    _train_with_progress,
    name="train",
    task_run_name="train-{kind}",
    code=("models/ssgan", "tasks/train", "tasks/data"),
)
