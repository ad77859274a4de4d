"""Flow `cluster`: prepare -> train adversarial autoencoder -> score -> assignments -> report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.cluster import score, train_aae
from tasks.cluster_pipeline import ClusterParams, ClusterSteps, markdown_report, run_cluster
from tasks.data import prepare_task

train_aae_task = task(train_aae, name="train-aae")
score_task = task(score, name="score-clusters")


def publish_report(run_name: str, summary: dict[str, Any]) -> None:
    create_markdown_artifact(markdown_report(summary, embed=True), key="cluster-report",
                             description=f"adversarial autoencoder run {run_name}")  # fmt: skip
    rows = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in summary["per_seed"]]
    create_table_artifact(rows, key="cluster-metrics", description="per-seed clustering metrics")
    if summary["assignments"] and Path(summary["assignments"]).is_file():
        create_markdown_artifact(f"Cluster assignments (image id, cluster, confidence): `{summary['assignments']}`",
                                 key="cluster-assignments")  # fmt: skip


@flow(name="cluster", log_prints=True)
def cluster(
    data: str = "digits", clusters: int = 16, labels_per_class: int | None = None, seeds: list[int] | None = None,
    epochs: int | None = None, data_root: str | None = None, image_size: int = 32, channels: int = 3,
    val_fraction: float = 0.1, device: str = "auto", max_minutes: float | None = None,
    model: dict[str, Any] | None = None, run_dir: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Unsupervised clustering with an adversarial autoencoder (Makhzani et al. 2015, section
    6), or with labels_per_class its semi-supervised mode (section 5) beside the baseline."""
    p = ClusterParams(data=data, clusters=clusters, labels_per_class=labels_per_class, seeds=list(seeds or [0]),
                      epochs=epochs, data_root=data_root, image_size=image_size, channels=channels,
                      val_fraction=val_fraction, device=device, max_minutes=max_minutes, model=dict(model or {}),
                      run_dir=run_dir)  # fmt: skip
    steps = ClusterSteps(
        prepare=prepare_task, train=train_aae_task, score=score_task, on_report=publish_report
    )
    return run_cluster(p, steps)
