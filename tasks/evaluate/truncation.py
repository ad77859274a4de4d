"""The truncation trick's trade-off (Brock et al. 2019, section 3.1, figure 2): one trained
generator sampled from z truncated at several thresholds, each sample set scored against the
real test set in the domain classifier's features (FID, precision, recall, density,
coverage), the untruncated sampler beside them, and the curve drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganflow.tasks.data.sources import DataError
from ganflow.tasks.evaluate import metrics as M
from ganflow.tasks.evaluate.extractors import reference_extractor
from ganflow.tasks.evaluate.protocol import EvalParams, data_name, load_reference
from ganflow.tasks.evaluate.samples import sample_run
from ganflow.tasks.io import DATA_DIR
from ganflow.tasks.progress import Progress
from ganflow.tasks.report.figures import figure_png
from ganflow.tasks.train.checkpoint import load_run

UNTRUNCATED = "none"


def truncation_curve(
    checkpoint: str | Path,
    thresholds: list[float],
    num_samples: int = 2000,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """{'rows': one per threshold (and 'none'), each with fid, precision, recall, density,
    coverage; 'protocol'}. The same z seed at every threshold."""
    p = EvalParams(checkpoint=str(checkpoint), cas=False, inception="off", seed=seed)
    run = load_run(checkpoint, device)
    if not run.family.truncates:
        raise DataError(f"{checkpoint} is {run.family.title}: its sampler has no truncation")
    why = run.family.cannot_sample(run)
    if why is not None:
        raise DataError(f"{checkpoint} cannot be scored: it is {why}")
    raw, name = load_reference(p), data_name(p)
    ext, _ = reference_extractor(raw, name, device)
    real = ext.features(torch.from_numpy(raw.test_x), keep=True)
    rows = []
    bar = Progress("truncation curve", len(thresholds) + 1, "set")
    for t in [*thresholds, None]:
        run.truncation = t
        fake = ext.features(sample_run(run, num_samples, torch.Generator().manual_seed(seed))[0])
        row = {
            "truncation": UNTRUNCATED if t is None else t,
            M.FID: M.fid_from_features(real, fake),
        }
        row.update(M.manifold_metrics(real, fake, 3, 5, cache_dir=DATA_DIR / "cache" / "radii"))
        rows.append(row)
        bar.update(1)
    bar.close()
    protocol = {
        "data": name,
        "extractor": ext.info,
        "samples_per_threshold": num_samples,
        "real": {"split": "test", "count": len(real)},
        "seed": seed,
        "step": run.step,
        "z": "N(0, I), values beyond the threshold drawn again",
    }
    return {"rows": rows, "protocol": protocol}


def curve_png(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """FID (left) and precision / recall (right) against the threshold; the untruncated
    sampler's values as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cut = [r for r in rows if r["truncation"] != UNTRUNCATED]
    free = next((r for r in rows if r["truncation"] == UNTRUNCATED), None)
    t = [r["truncation"] for r in cut]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(t, [r[M.FID] for r in cut], "o-", color="C3")
    a.set(xlabel="truncation threshold", ylabel="FID (domain features)", title="fidelity")
    for key, colour in ((M.PRECISION, "C0"), (M.RECALL, "C2")):
        b.plot(t, [r[key] for r in cut], "o-", color=colour, label=key)
        if free is not None:
            b.axhline(free[key], color=colour, ls="--", lw=0.8)
    if free is not None:
        a.axhline(free[M.FID], color="C3", ls="--", lw=0.8, label="untruncated")
        a.legend()
    b.set(xlabel="truncation threshold", ylim=(0, 1), title="precision / recall")
    b.legend()
    fig.suptitle(title)
    return figure_png(fig, path)
