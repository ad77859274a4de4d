"""The GAN run's report (scores over seeds, samples or heat maps, the config's
differences from the defaults) and the grid's comparison table, as markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganflow.models.gan.config import GANConfig
from ganflow.models.registry import FAMILIES
from ganflow.tasks.data import toy
from ganflow.tasks.evaluate.metrics import CLASS_CONSISTENCY, FID
from ganflow.tasks.report.figures import png_data_uri

SCORE_KEYS = (toy.MODES, toy.HQ, FID, "kid_mean", "is_mean", "precision", "recall", "density",
              "coverage", CLASS_CONSISTENCY)  # fmt: skip


def fmt_score(s: dict[str, float] | None, key: str) -> str:
    """'m ± s' of a score summary: HQ in %, the rest to 3 significant figures; '-' for None."""
    if s is None:
        return "-"
    if key == toy.HQ:
        return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f} %"
    return f"{s['mean']:.3g} ± {s['std']:.2g}"


def title(summary: dict[str, Any]) -> str:
    """'GAN: <loss and tricks>' for the GAN family, else the family's title."""
    family = summary.get("family", "gan")
    if family == "gan":
        return f"GAN: {GANConfig.from_dict(summary['config']).summary()}"
    return FAMILIES[family].title.removeprefix("a ").removeprefix("an ")


def markdown_report(summary: dict[str, Any], embed: bool = True) -> str:
    sc = summary["scores"]
    lines = [
        f"# {title(summary)} on {summary['data']}",
        "",
        f"Seeds {summary['seeds']}, {summary['steps']} steps each.",
        "",
        "| metric | mean ± std over seeds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {fmt_score(v, k)} |" for k, v in sc.items()]
    first = summary["per_seed"][0]
    pic = first.get("heatmaps") or first.get("samples_png")
    if pic and Path(pic).is_file():
        src = png_data_uri(Path(pic)) if embed else Path(pic).name
        lines += [
            "",
            f"![{'samples over training' if first.get('heatmaps') else 'samples'}]({src})",
        ]
    cls = FAMILIES[summary.get("family", "gan")].config
    changed = {k: v for k, v in summary["config"].items() if getattr(cls(), k) != v}
    lines += ["", f"Config (differences from {cls.__name__} defaults): `{json.dumps(changed)}`"]
    return "\n".join(lines) + "\n"


def comparison_table(rows: list[dict[str, Any]]) -> str:
    keys = [k for k in SCORE_KEYS if any(k in r for r in rows)]
    lines = ["| config | " + " | ".join(keys) + " | wall s |", "|---" * (len(keys) + 2) + "|"]
    for r in rows:
        cells = [
            fmt_score({"mean": r[k], "std": r.get(f"{k}_std", 0.0)}, k) if k in r else "-"
            for k in keys
        ]
        lines.append(f"| {r['config']} | " + " | ".join(cells) + f" | {r['wall_s']} |")
    return "\n".join(lines)
