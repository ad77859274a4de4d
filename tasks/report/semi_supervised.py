"""The semi-supervised run's report: the error table, per-class accuracy, samples,
confusion matrices and curves, as markdown (report.md and the Prefect artifact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganflow.tasks.io import write_json, write_text
from ganflow.tasks.report.figures import (
    confusion_png,
    curves_png,
    png_data_uri,
    sample_grid,
    save_png,
)
from ganflow.tasks.train.checkpoint import load_run


def _pm(mean: float, std: float) -> str:
    return f"{100 * mean:.2f} ± {100 * std:.2f} %"


def markdown_report(summary: dict[str, Any], pictures: dict[str, Path], embed: bool = True) -> str:
    """The run's report page. Pictures are embedded as data URIs (embed=True, for the Prefect
    artifact) or linked by file name (for report.md beside them)."""

    def img(key: str, alt: str) -> str:
        if key not in pictures:
            return ""
        src = png_data_uri(pictures[key]) if embed else pictures[key].name
        return f"![{alt}]({src})\n"

    g, b = summary["gan"], summary["baseline"]
    lines = [
        f"# Semi-supervised classification: {summary['data']}, {summary['labels_per_class']} labels per class",
        "",
        "| model | test error (mean ± std over seeds) | per seed |",
        "|---|---|---|",
        f"| K+1 GAN | {_pm(g['test_error_mean'], g['test_error_std'])} | {', '.join(f'{100 * e:.2f}' for e in g['test_errors'])} |",
        f"| supervised baseline | {_pm(b['test_error_mean'], b['test_error_std'])} | {', '.join(f'{100 * e:.2f}' for e in b['test_errors'])} |",
        "",
        f"Seeds: {summary['seeds']}; data fingerprints: {', '.join(summary['fingerprints'])}; run directory: `{summary['run_dir']}`.",
        "",
        "## Per-class accuracy (first seed)",
        "",
        "| class | GAN | baseline |",
        "|---|---|---|",
    ]
    for name, ga, ba in zip(
        summary["class_names"], g["per_class_accuracy"], b["per_class_accuracy"], strict=True
    ):
        lines.append(
            f"| {name} | {'-' if ga is None else f'{100 * ga:.1f} %'} | {'-' if ba is None else f'{100 * ba:.1f} %'} |"
        )
    lines += ["", "## Generated samples (first seed)", "", img("samples", "generated samples")]
    lines += [
        "## Confusion matrices (first seed)",
        "",
        img("confusion_gan", "GAN confusion"),
        img("confusion_baseline", "baseline confusion"),
    ]
    lines += ["## Training curves", "", img("curves", "training curves")]
    return "\n".join(lines)


def write_report(
    run_dir: Path, summary: dict[str, Any], pictures: dict[str, Path]
) -> dict[str, str]:
    """report.md (pictures linked) and metrics.json in run_dir; returns their paths."""
    write_text(run_dir / "report.md", markdown_report(summary, pictures, embed=False))
    write_json(run_dir / "metrics.json", summary)
    return {"report": str(run_dir / "report.md"), "metrics": str(run_dir / "metrics.json")}


def make_pictures(
    run_dir: Path, results: list[dict[str, Any]], class_names: list[str]
) -> dict[str, Path]:
    """Samples of the first seed's GAN, both confusion matrices, and the training curves."""
    first = results[0]
    gan = load_run(first["gan"]["train"]["checkpoint"])
    pics = {"samples": save_png(sample_grid(gan), run_dir / "samples.png")}
    for kind in ("gan", "baseline"):
        pics[f"confusion_{kind}"] = confusion_png(
            first[kind]["metrics"]["confusion"],
            class_names,
            run_dir / f"confusion_{kind}.png",
            f"{kind}, seed {first['seed']}",
        )
    histories = {
        "gan": gan.history,
        "baseline": load_run(first["baseline"]["train"]["checkpoint"]).history,
    }
    pics["curves"] = curves_png(histories, run_dir / "curves.png")
    return pics
