"""The `evaluate` pipeline as plain Python: extractor -> samples -> score samples -> score the
real-vs-real floor -> report. Like the semi-supervised pipeline it takes its steps as
arguments, so the Prefect flow passes task adapters and tests pass the plain functions.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tasks import metrics as M
from tasks.cas import CAS_ACCURACY, REAL_ACCURACY
from tasks.pipeline import new_run_dir
from tasks.quality import (
    EvalParams,
    data_name,
    draw_samples,
    extractor,
    load_reference,
    params_dict,
    score,
    write_json,
)
from tasks.report import image_grid, png_data_uri, save_png

RESULT_KEYS = (*M.SAMPLE_METRICS, CAS_ACCURACY, REAL_ACCURACY)


@dataclass
class EvalSteps:
    extractor: Callable[..., dict] = extractor
    draw_samples: Callable[..., dict] = draw_samples
    score: Callable[..., dict] = score
    on_report: Callable[[str, dict], None] | None = None  # e.g. publish as a Prefect artifact


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


LABELS = {
    M.FID: "FID ↓", M.KID_MEAN: "KID ↓ (mean)", M.KID_STD: "KID (std)", M.IS_MEAN: "IS ↑ (mean)",
    M.IS_STD: "IS (std)", M.PRECISION: "precision ↑", M.RECALL: "recall ↑", M.DENSITY: "density ↑",
    M.COVERAGE: "coverage ↑", CAS_ACCURACY: "CAS accuracy ↑", REAL_ACCURACY: "real-data accuracy (same count)",
}  # fmt: skip


def markdown_report(result: dict[str, Any], pictures: dict[str, Path], embed: bool = True) -> str:
    floor = result.get("floor") or {}
    prot = result["protocol"]
    ext = prot["extractor"]
    lines = [
        f"# Sample quality: {prot['samples']['source']} vs {prot['data']} test set",
        "",
        f"Features: **{ext['name']}** domain classifier (test accuracy {100 * ext['test_accuracy']:.2f} %, "
        f"{ext['features']}-d, trained on {ext['trained_on']} images). "
        f"Samples: {prot['fake_count']}; real test images: {prot['real']['count']}.",
        "",
        "| metric | samples | real vs real (floor) |",
        "|---|---|---|",
    ]
    lines += [
        f"| {LABELS[k]} | {_fmt(result.get(k))} | {_fmt(floor.get(k))} |" for k in RESULT_KEYS
    ]
    inc = prot["inception"]
    if "inception" in result:
        lines += [
            "",
            f"Inception features ({inc['how']}):",
            "",
            "| metric | samples | floor |",
            "|---|---|---|",
        ]
        fi = floor.get("inception", {})
        lines += [
            f"| {LABELS[k]} | {_fmt(result['inception'].get(k))} | {_fmt(fi.get(k))} |"
            for k in M.SAMPLE_METRICS
        ]
    else:
        lines += [
            "",
            f"Inception metrics: not computed ({inc['how']}); the numbers above use domain features.",
        ]
    lines += ["", f"CAS labels: {prot['samples'].get('labels')}.", ""]
    for key, alt in (("samples", "samples"), ("real", "real test images")):
        if key in pictures:
            src = png_data_uri(pictures[key]) if embed else pictures[key].name
            lines += [f"## {alt.capitalize()}", "", f"![{alt}]({src})", ""]
    lines += ["## Protocol", "", "```json", json.dumps(prot, indent=1, default=str), "```"]
    return "\n".join(lines)


def _pictures(run_dir: Path, samples_path: str, p: EvalParams) -> dict[str, Path]:
    x = torch.load(samples_path, map_location="cpu", weights_only=True)["x"][:100]
    raw = load_reference(p)
    return {
        "samples": save_png(image_grid(x), run_dir / "samples.png"),
        "real": save_png(image_grid(torch.from_numpy(raw.test_x[:100])), run_dir / "real.png"),
    }


def run_evaluation(p: EvalParams, steps: EvalSteps | None = None) -> dict[str, Any]:
    """Score the samples (and the floor); write metrics.json and report.md in the run
    directory; return the result: the metric keys, `floor`, `protocol`, paths."""
    steps = steps or EvalSteps()
    # the reference data set, read from the checkpoint once here rather than in every step
    p = dataclasses.replace(p, data=data_name(p))
    run_dir = Path(p.run_dir) if p.run_dir else new_run_dir("evaluate")
    run_dir.mkdir(parents=True, exist_ok=True)
    steps.extractor(p)
    samples = steps.draw_samples(p, run_dir)
    result = steps.score(p, samples["path"], "samples")
    if p.floor:
        result["floor"] = steps.score(p, samples["path"], "floor")
    pictures = _pictures(run_dir, samples["path"], p)
    result.update(
        run_dir=str(run_dir),
        params=params_dict(p),
        pictures={k: str(v) for k, v in pictures.items()},
    )
    result.update(report=str(run_dir / "report.md"), metrics=str(run_dir / "metrics.json"))
    (run_dir / "report.md").write_text(markdown_report(result, pictures, embed=False))
    write_json(run_dir / "metrics.json", result)
    if steps.on_report is not None:
        steps.on_report(run_dir.name, {"result": result, "pictures": pictures})
    return result
