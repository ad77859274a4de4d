"""Pictures and the report of an InfoGAN run: a sample grid, the paper's latent traversals
(Chen et al. 2016, figure 2: rows a categorical value, columns one continuous code varied),
and the categorical code's clusters of real test images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.models.infogan.sampling import traversal
from ganflow.tasks.data.bundle import load_bundle
from ganflow.tasks.evaluate.clustering import encode
from ganflow.tasks.report.clusters import fmt_mean_std as pm
from ganflow.tasks.report.figures import image_grid, png_data_uri, sample_grid, save_png
from ganflow.tasks.train.checkpoint import load_run


def pictures(checkpoint: str | Path, bundle_path: str | Path, out_dir: Path) -> dict[str, str]:
    """samples.png; traversal-c<j>.png per continuous code; clusters.png (one row per value
    of the categorical code: the test images Q is surest of). Returns name -> path."""
    run = load_run(checkpoint, "cpu", family="infogan")
    cfg, out = run.config, {}
    out["samples"] = save_png(sample_grid(run, 100), out_dir / "samples.png")
    columns = 10
    for j in range(cfg.continuous):
        x = (traversal(run.modules["G"], cfg, j, columns) + 1.0) / 2.0
        out[f"traversal_c{j + 1}"] = save_png(
            image_grid(x, nrow=columns), out_dir / f"traversal-c{j + 1}.png"
        )
    if cfg.categorical:
        b = load_bundle(bundle_path)
        enc = encode(run.family.encoder(run), b.x_test, "cpu")
        rows = []
        for c in range(cfg.categorical):
            idx = np.flatnonzero(enc["cluster"] == c)
            idx = idx[np.argsort(-enc["confidence"][idx])][:columns]
            blank = torch.full_like(b.x_test[0], 255)
            rows += [b.x_test[i] for i in idx] + [blank] * (columns - len(idx))
        out["clusters"] = save_png(
            image_grid(torch.stack(rows), nrow=columns), out_dir / "clusters.png"
        )
    return {k: str(v) for k, v in out.items()}


def markdown_report(summary: dict[str, Any], embed: bool) -> str:
    """The run's page: the code's clustering scores, then the pictures (embedded as data URIs
    for the Prefect artifact, linked by file name in report.md)."""
    lines = [
        f"# InfoGAN on {summary['data']}",
        "",
        f"{summary['categorical']}-way categorical code, {summary['continuous']} continuous "
        f"codes; seeds {summary['seeds']}, {summary['epochs']} epochs.",
        "",
        "| categorical code as clusters (test split) | mean ± std |",
        "|---|---|",
        f"| cluster accuracy % (majority mapping) | {pm(summary['cluster_accuracy'])} |",
        f"| Hungarian accuracy % | {pm(summary['hungarian_accuracy'])} |",
        f"| NMI | {pm(summary['nmi'], pct=False)} |",
        "",
    ]
    titles = {
        "samples": "Samples",
        "clusters": "Test images by categorical code (one row per value, surest first)",
    }
    for name, path in summary["pictures"].items():
        title = titles.get(name, f"Rows: categorical value; columns: {name[10:]} from -2 to 2")
        src = png_data_uri(Path(path)) if embed else Path(path).name
        lines += [f"## {title}", "", f"![{name}]({src})", ""]
    return "\n".join(lines)
