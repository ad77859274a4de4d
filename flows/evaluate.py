"""Flow `evaluate`: domain extractor -> samples -> metrics -> real-vs-real floor -> report."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.evaluation import RESULT_KEYS, EvalSteps, markdown_report, run_evaluation
from tasks.quality import EvalParams, draw_samples, extractor, score

extractor_task = task(extractor, name="domain-extractor")
draw_samples_task = task(draw_samples, name="draw-samples")
score_task = task(score, name="score", task_run_name="score-{which}")


def publish_report(run_name: str, report: dict[str, Any]) -> None:
    """The report as a markdown artifact (pictures embedded) and the metrics as a table."""
    result = report["result"]
    create_markdown_artifact(markdown_report(result, report["pictures"], embed=True), key="evaluate-report",
                             description=f"evaluation {run_name}")  # fmt: skip
    floor = result.get("floor") or {}
    rows = [{"metric": k, "samples": result.get(k), "floor": floor.get(k)} for k in RESULT_KEYS]
    create_table_artifact(
        rows, key="evaluate-metrics", description="sample quality vs the real-vs-real floor"
    )


@flow(name="evaluate", log_prints=True)
def evaluate(
    checkpoint: str | None = None, samples: str | None = None, data: str | None = None,
    data_root: str | None = None, download: bool = False, image_size: int = 32, channels: int = 3,
    num_samples: int | None = None, seed: int = 0, labels: str = "run", floor: bool = True, cas: bool = True, cas_steps: int = 1500, extractor_steps: int = 3000,
    inception: str = "auto", inception_weights: str | None = None, device: str = "auto", run_dir: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Score a generator checkpoint or a folder of images against a data set's test set:
    FID/KID/IS/precision/recall/density/coverage/CAS, beside the real-vs-real floor."""
    p = EvalParams(
        checkpoint=checkpoint, samples=samples, data=data, data_root=data_root, download=download,
        image_size=image_size, channels=channels, num_samples=num_samples, seed=seed, labels=labels, floor=floor,
        cas=cas, cas_steps=cas_steps, extractor_steps=extractor_steps, inception=inception, inception_weights=inception_weights, device=device, run_dir=run_dir,
    )  # fmt: skip
    steps = EvalSteps(extractor=extractor_task, draw_samples=draw_samples_task, score=score_task,
                      on_report=publish_report)  # fmt: skip
    return run_evaluation(p, steps)
