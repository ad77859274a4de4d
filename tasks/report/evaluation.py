"""The sample-quality evaluation's report: each metric beside the real-vs-real floor, the
protocol, sample and real grids, as markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ganflow.tasks.evaluate import metrics as M
from ganflow.tasks.evaluate.cas import CAS_ACCURACY, REAL_ACCURACY
from ganflow.tasks.evaluate.protocol import EvalParams, load_reference
from ganflow.tasks.report.figures import image_grid, png_data_uri, save_png

RESULT_KEYS = (*M.SAMPLE_METRICS, CAS_ACCURACY, REAL_ACCURACY)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


LABELS = {
    M.FID: "FID ↓",
    M.KID_MEAN: "KID ↓ (mean)",
    M.KID_STD: "KID (std)",
    M.IS_MEAN: "IS ↑ (mean)",
    M.IS_STD: "IS (std)",
    M.PRECISION: "precision ↑",
    M.RECALL: "recall ↑",
    M.DENSITY: "density ↑",
    M.COVERAGE: "coverage ↑",
    CAS_ACCURACY: "CAS accuracy ↑",
    REAL_ACCURACY: "real-data accuracy (same count)",
}


def markdown_report(result: dict[str, Any], pictures: dict[str, Path], embed: bool = True) -> str:
    floor = result.get("floor") or {}
    prot = result["protocol"]
    ext = prot["extractor"]
    if "test_accuracy" in ext:
        features = (
            f"Features: **{ext['name']}** domain classifier (test accuracy "
            f"{100 * ext['test_accuracy']:.2f} %, {ext['features']}-d, trained on "
            f"{ext['trained_on']} images)."
        )
    else:  # a data set without classes: a network trained elsewhere (Inception)
        why = f"; {ext['why']}" if ext.get("why") else ""
        features = f"Features: **{ext['name']}** ({ext['features']}-d{why})."
    lines = [
        f"# Sample quality: {prot['samples']['source']} vs {prot['data']} test set",
        "",
        f"{features} Samples: {prot['fake_count']}; real test images: {prot['real']['count']}.",
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


def pictures(run_dir: Path, samples_path: str, p: EvalParams) -> dict[str, Path]:
    x = torch.load(samples_path, map_location="cpu", weights_only=True)["x"][:100]
    raw = load_reference(p)
    return {
        "samples": save_png(image_grid(x), run_dir / "samples.png"),
        "real": save_png(image_grid(torch.from_numpy(raw.test_x[:100])), run_dir / "real.png"),
    }
