"""Flow `evaluate`: the domain extractor -> the samples (drawn from a checkpoint of any
family that samples, or read from a folder) -> their metrics -> the real-vs-real floor ->
one report.

`run_evaluation(p, steps)` is the flow's body: the Prefect flow passes the @task adapters,
`--no-prefect`, benchmarks and tests the plain functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from ganflow.flows.caching import cached_step
from ganflow.flows.params import params_flow
from ganflow.tasks.evaluate.protocol import EvalParams, data_name, extractor
from ganflow.tasks.evaluate.samples import draw_samples
from ganflow.tasks.evaluate.scores import score
from ganflow.tasks.io import claim_run_dir, write_json, write_text
from ganflow.tasks.report.evaluation import RESULT_KEYS, markdown_report, pictures

# The source a cached step's key depends on (flows/caching.py), beside the step's own file.
EVAL_CODE = ("models", "tasks/evaluate", "tasks/data")


@dataclass
class EvalSteps:
    extractor: Callable[..., dict] = extractor
    draw_samples: Callable[..., dict] = draw_samples
    score: Callable[..., dict] = score
    on_report: Callable[[str, dict], None] | None = None  # e.g. publish as a Prefect artifact


def run_evaluation(p: EvalParams, steps: EvalSteps | None = None) -> dict[str, Any]:
    """Score the samples (and the floor); write metrics.json and report.md in the run
    directory; return the result: the metric keys, `floor`, `protocol`, paths."""
    steps = steps or EvalSteps()
    p.validate()
    # the reference data set, read from the checkpoint once here rather than in every step
    p = dataclasses.replace(p, data=data_name(p))
    run_dir = claim_run_dir(p.run_dir, "evaluate", config=p.to_dict())
    steps.extractor(p)
    samples = steps.draw_samples(p, run_dir)
    result = steps.score(p, samples["path"], "samples")
    if p.floor:
        result["floor"] = steps.score(p, samples["path"], "floor")
    pics = pictures(run_dir, samples["path"], p)
    result.update(
        run_dir=str(run_dir),
        params=p.to_dict(),
        pictures={k: str(v) for k, v in pics.items()},
        report=str(run_dir / "report.md"),
        metrics=str(run_dir / "metrics.json"),
    )
    write_text(run_dir / "report.md", markdown_report(result, pics, embed=False))
    write_json(run_dir / "metrics.json", result)
    if steps.on_report is not None:
        steps.on_report(run_dir.name, {"result": result, "pictures": pics})
    return result


def publish_report(run_name: str, report: dict[str, Any]) -> None:
    """The report as a markdown artifact (pictures embedded) and the metrics as a table."""
    result = report["result"]
    create_markdown_artifact(
        markdown_report(result, report["pictures"], embed=True),
        key="evaluate-report",
        description=f"evaluation {run_name}",
    )
    floor = result.get("floor") or {}
    rows = [{"metric": k, "samples": result.get(k), "floor": floor.get(k)} for k in RESULT_KEYS]
    create_table_artifact(
        rows, key="evaluate-metrics", description="sample quality vs the real-vs-real floor"
    )


@params_flow(EvalParams, name="evaluate", log_prints=True)
def evaluate(p: EvalParams) -> dict[str, Any]:
    """Score a generator checkpoint or a folder of images against a data set's test set:
    FID/KID/IS/precision/recall/density/coverage/CAS, beside the real-vs-real floor."""
    steps = EvalSteps(
        cached_step(extractor, name="domain-extractor", code=EVAL_CODE),
        cached_step(draw_samples, name="draw-samples", code=EVAL_CODE),
        cached_step(score, name="score", task_run_name="score-{which}", code=EVAL_CODE),
        publish_report,
    )
    return run_evaluation(p, steps)
