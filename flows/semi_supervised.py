"""Flow `semi-supervised`: prepare -> train K+1 GAN -> train baseline -> evaluate -> report."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.data import prepare_task
from tasks.evaluate import evaluate_task
from tasks.pipeline import SemiSupervisedParams, Steps, run_semi_supervised
from tasks.report import markdown_report
from tasks.train import train_task


def publish_report(run_name: str, report: dict[str, Any]) -> None:
    """The report as a markdown artifact (pictures embedded) and the per-seed errors as a table."""
    summary = report["summary"]
    create_markdown_artifact(markdown_report(summary, report["pictures"], embed=True), key="semi-supervised-report",
                             description=f"semi-supervised run {run_name}")  # fmt: skip
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


@flow(name="semi-supervised", log_prints=True)
def semi_supervised(
    data: str = "digits", labels_per_class: int = 5, seeds: list[int] | None = None, epochs: int | None = None,
    data_root: str | None = None, download: bool = False, image_size: int = 32, channels: int = 3,
    val_fraction: float = 0.1, device: str = "auto", precision: str = "auto", max_minutes: float | None = None,
    model: dict[str, Any] | None = None, run_dir: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train a K+1-class semi-supervised GAN and its supervised-only baseline on the same
    labelled subset for each seed; report test error mean ± std over the label splits."""
    params = SemiSupervisedParams(
        data=data, labels_per_class=labels_per_class, seeds=list(seeds) if seeds else [0], epochs=epochs,
        data_root=data_root, download=download, image_size=image_size, channels=channels,
        val_fraction=val_fraction, device=device, precision=precision, max_minutes=max_minutes,
        model=dict(model or {}), run_dir=run_dir,
    )  # fmt: skip
    steps = Steps(
        prepare=prepare_task, train=train_task, evaluate=evaluate_task, on_report=publish_report
    )
    return run_semi_supervised(params, steps)
