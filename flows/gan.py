"""Flows `train-gan` (one configuration over seeds) and `gan-grid` (a grid of configurations
and a comparison table artifact): load data -> train -> score -> report."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.artifacts import publish_report_and_seeds
from tasks.gan_pipeline import GANParams, GANSteps, markdown_report, run_gan, run_grid
from tasks.gan_train import score_gan, train_gan

train_gan_task = task(train_gan, name="train-gan")
score_gan_task = task(score_gan, name="score-gan")


def publish_run(run_name: str, summary: dict[str, Any]) -> None:
    publish_report_and_seeds(markdown_report(summary, embed=True), "gan-report", f"GAN run {run_name}",
                             summary["per_seed"], "gan-metrics", "per-seed GAN scores")  # fmt: skip


def publish_grid(run_name: str, summary: dict[str, Any]) -> None:
    rows = [{k: v for k, v in r.items() if k != "report"} for r in summary["rows"]]
    create_table_artifact(
        rows, key="gan-grid", description=f"GAN configurations on {summary['data']} ({run_name})"
    )
    create_markdown_artifact(
        f"# GAN grid on {summary['data']}\n\n{summary['table']}\n", key="gan-grid-report"
    )


def _params(
    data: str, model: dict[str, Any] | None, seeds: list[int] | None, **kw: Any
) -> GANParams:
    return GANParams(data=data, model=dict(model or {}), seeds=list(seeds or [0]), **kw)


@flow(name="train-gan", log_prints=True)
def train_gan_flow(
    data: str = "ring", model: dict[str, Any] | None = None, seeds: list[int] | None = None, steps: int | None = None,
    epochs: int | None = None, device: str = "auto", max_minutes: float | None = None, num_samples: int = 10_000,
    data_root: str | None = None, run_dir: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train an unconditional GAN (any loss of the zoo, any trick switched on in `model`) and
    score it: modes and high-quality fraction on toy data, FID & co. on images."""
    p = _params(data, model, seeds, steps=steps, epochs=epochs, device=device, max_minutes=max_minutes,
                num_samples=num_samples, data_root=data_root, run_dir=run_dir)  # fmt: skip
    return run_gan(p, GANSteps(train=train_gan_task, score=score_gan_task, on_report=publish_run))


@flow(name="gan-grid", log_prints=True)
def gan_grid_flow(
    data: str = "ring", grid: dict[str, list[Any]] | None = None, model: dict[str, Any] | None = None,
    seeds: list[int] | None = None, steps: int | None = None, epochs: int | None = None, device: str = "auto",
    num_samples: int = 10_000, data_root: str | None = None, run_dir: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run every combination of `grid` ({setting: [values]}) and publish a comparison table."""
    p = _params(data, model, seeds, steps=steps, epochs=epochs, device=device, num_samples=num_samples,
                data_root=data_root, run_dir=run_dir)  # fmt: skip
    steps_ = GANSteps(train=train_gan_task, score=score_gan_task, on_report=publish_grid)
    return run_grid(p, dict(grid or {}), steps_)
