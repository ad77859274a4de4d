"""Flow `truncation`: BigGAN's truncation trick on a trained GAN (best a class-conditional
one with BigGAN's tricks, `train-gan --arch biggan`): FID, precision and recall at each
threshold beside the untruncated sampler, the trade-off plot, and one report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from ganflow.flows.params import param, params_flow
from ganflow.models.config import Config, ConfigError
from ganflow.tasks.evaluate import metrics as M
from ganflow.tasks.evaluate.truncation import curve_png, truncation_curve
from ganflow.tasks.io import claim_run_dir, write_run_summary
from ganflow.tasks.report.figures import png_data_uri
from ganflow.tasks.train.devices import select_device

COLUMNS = (M.FID, M.PRECISION, M.RECALL, M.DENSITY, M.COVERAGE)


@dataclass
class TruncationParams(Config):
    checkpoint: str = param("", "a trained GAN's checkpoint.pt (train-gan)")
    thresholds: list[float] = param(
        [0.25, 0.5, 0.75, 1.0, 1.5, 2.0], "truncation thresholds, comma-separated"
    )
    num_samples: int = param(2000, "samples scored at each threshold")
    seed: int = param(0, "sampling noise (the same z seed at every threshold)")
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    run_dir: str | None = param(None, "run directory (default: a new data/runs/truncation-...)")

    def validate(self) -> None:
        if not self.checkpoint:
            raise ConfigError("give the GAN's checkpoint (--checkpoint)")
        if not self.thresholds or min(self.thresholds) <= 0:
            raise ConfigError(f"thresholds must be positive, got {self.thresholds}")
        if self.num_samples < 10:
            raise ConfigError(f"num_samples must be at least 10, got {self.num_samples}")
        self.require("not negative", "seed")


def markdown(summary: dict[str, Any], embed: bool) -> str:
    head = "| truncation | " + " | ".join(COLUMNS) + " |"
    lines = [
        f"# Truncation trick: {summary['checkpoint']}",
        "",
        head,
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for r in summary["rows"]:
        lines.append(f"| {r['truncation']} | " + " | ".join(f"{r[k]:.3f}" for k in COLUMNS) + " |")
    src = png_data_uri(Path(summary["plot"])) if embed else Path(summary["plot"]).name
    return "\n".join([*lines, "", f"![truncation curve]({src})", ""])


def run_truncation(p: TruncationParams, steps: Any = None) -> dict[str, Any]:
    """The flow's body: the curve, its plot, metrics.json and report.md in the run directory."""
    p.validate()
    if not Path(p.checkpoint).is_file():
        raise ConfigError(f"checkpoint {p.checkpoint} does not exist")
    run_dir = claim_run_dir(p.run_dir, "truncation", config=p.to_dict())
    res = truncation_curve(
        p.checkpoint, sorted(p.thresholds), p.num_samples, p.seed, str(select_device(p.device))
    )
    ckpt = Path(p.checkpoint).resolve()
    title = f"{ckpt.parent.parent.name}/{ckpt.parent.name}, step {res['protocol']['step']}"
    plot = curve_png(res["rows"], run_dir / "truncation.png", title)
    summary = {
        "checkpoint": p.checkpoint,
        "rows": res["rows"],
        "protocol": res["protocol"],
        "plot": str(plot),
        "run_dir": str(run_dir),
    }
    write_run_summary(run_dir, summary, lambda s: markdown(s, embed=False))
    if steps is not None:
        steps(run_dir.name, summary)
    return summary


def table(summary: dict[str, Any]) -> str:
    lines = [f"{'truncation':>10} " + " ".join(f"{k:>10}" for k in COLUMNS)]
    for r in summary["rows"]:
        lines.append(f"{r['truncation']!s:>10} " + " ".join(f"{r[k]:>10.3f}" for k in COLUMNS))
    return "\n".join([*lines, f"plot: {summary['plot']}", f"report: {summary['report']}"])


def publish(run_name: str, summary: dict[str, Any]) -> None:
    create_markdown_artifact(
        markdown(summary, embed=True),
        key="truncation-report",
        description=f"truncation curve {run_name}",
    )
    create_table_artifact(summary["rows"], key="truncation-curve")


@params_flow(TruncationParams, name="truncation", log_prints=True)
def truncation_flow(p: TruncationParams) -> dict[str, Any]:
    """BigGAN's truncation trick: the fidelity / variety trade-off of a trained GAN."""
    return run_truncation(p, publish)
