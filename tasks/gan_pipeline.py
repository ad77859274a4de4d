"""The unconditional-GAN pipeline as plain steps, shared by the Prefect flows (`train-gan`,
`gan-grid`), their `--no-prefect` twins and the benchmarks:

    load_data -> train_gan (per seed) -> score_gan -> summary (mean ± std over seeds) -> report

A grid run repeats that for the cartesian product of config values and writes one
comparison table.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.gan import GANConfig
from tasks import toy
from tasks.evaluate import mean_std
from tasks.gan_train import load_data, score_gan, train_gan
from tasks.metrics import FID
from tasks.report import png_data_uri
from tasks.sources import (
    DATA_DIR,
    SourceOptions,
)
from tasks.train import RunConfig

# The 2-D recipe: a layer deeper than the papers' 2 x 128 nets, small batches and a learning
# rate that decays to 0, which is what tightens the samples onto the modes (README, "Mode-collapse
# benchmark"). Width 128 costs half of 256 per step; the plain GAN's ring collapse shows at 256
# (2 of 3 seeds), not at 128 (README).
TOY_DEFAULTS: dict[str, Any] = {"arch": "mlp", "z_dim": 16, "width": 128, "depth": 3, "g_batchnorm": False,
                                "batch_size": 128, "lr_g": 1e-3, "lr_d": 1e-3, "lr_decay": True}  # fmt: skip
TOY_STEPS = 6000
IMAGE_EPOCHS = 5
SCORE_KEYS = (toy.MODES, toy.HQ, FID, "kid_mean", "precision", "recall", "density", "coverage")


def make_config(data: str, overrides: dict[str, Any]) -> GANConfig:
    """GANConfig for a data set: the toy recipe for ring/grid, DCGAN defaults for images,
    then the user's overrides (unknown keys named in the error)."""
    base = dict(TOY_DEFAULTS) if data in toy.TOY_DATA else {}
    known = {f.name for f in dataclasses.fields(GANConfig)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"unknown GAN setting(s) {bad}; known: {', '.join(sorted(known))}")
    cfg = GANConfig(**{**base, **overrides})
    cfg.validate()
    return cfg


@dataclass
class GANParams:
    data: str = "ring"  # ring | grid (2-D mixtures) or an image data set name
    model: dict[str, Any] = field(default_factory=dict)  # GANConfig overrides
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int | None = None  # engine steps (D updates); None: 6,000 for toy data, else by epochs
    epochs: int | None = None  # image data: passes over the training set (default 5)
    device: str = "auto"
    max_minutes: float | None = None
    num_samples: int = 10_000  # image data: samples scored against the test set
    data_root: str | None = None
    run_dir: str | None = None


@dataclass
class GANSteps:
    """The step functions; the flow swaps in Prefect tasks."""

    train: Callable[..., dict[str, Any]] = train_gan
    score: Callable[..., dict[str, Any]] = score_gan
    on_report: Callable[[str, dict[str, Any]], None] | None = None


def _new_run_dir(prefix: str) -> Path:
    return DATA_DIR / "runs" / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """mean ± std over seeds of every score key present."""
    out: dict[str, Any] = {}
    for key in SCORE_KEYS:
        vals = [r[key] for r in rows if r.get(key) is not None]
        if vals:
            m, s = mean_std([float(v) for v in vals])
            out[key] = {"mean": m, "std": s}
    return out


def run_gan(
    p: GANParams, steps: GANSteps | None = None, run_dir: Path | None = None
) -> dict[str, Any]:
    """Train and score one configuration over p.seeds; writes summary.json and report.md."""
    steps = steps or GANSteps()
    cfg = make_config(p.data, p.model)
    run_dir = Path(run_dir or p.run_dir or _new_run_dir(f"gan-{p.data}"))
    data = load_data(p.data, SourceOptions(root=p.data_root))
    n_steps = p.steps if p.steps is not None else (TOY_STEPS if data.images is None else None)
    rows, trained = [], []
    for seed in p.seeds:
        run = RunConfig(
            epochs=p.epochs or IMAGE_EPOCHS, seed=seed, device=p.device, max_minutes=p.max_minutes
        )
        out_dir = run_dir / f"seed{seed}"
        t = steps.train(data, cfg, run, out_dir, n_steps)
        s = steps.score(
            t["checkpoint"], out_dir, seed=seed, num_samples=p.num_samples, device=p.device
        )
        trained.append(t)
        rows.append({"seed": seed, **{k: s.get(k) for k in SCORE_KEYS if s.get(k) is not None},
                     "steps": t["steps"], "wall_s": t["wall_s"], "heatmaps": t.get("heatmaps"),
                     "samples_png": s.get("samples_png")})  # fmt: skip
    summary = {"data": p.data, "config": cfg.to_dict(), "seeds": list(p.seeds), "steps": trained[0]["total_steps"],
               "scores": summarise(rows), "per_seed": rows, "run_dir": str(run_dir),
               "checkpoints": [t["checkpoint"] for t in trained], "wall_s": [t["wall_s"] for t in trained]}  # fmt: skip
    if p.data in toy.TOY_DATA:
        summary["max_modes"] = len(toy.centres(p.data)[0])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    summary["report"] = str(run_dir / "report.md")
    Path(summary["report"]).write_text(markdown_report(summary, embed=False))
    if steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


def fmt_score(s: dict[str, float] | None, key: str) -> str:
    """'m ± s' of a score summary: HQ in %, the rest to 3 significant figures; '-' for None."""
    if s is None:
        return "-"
    if key == toy.HQ:
        return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f} %"
    return f"{s['mean']:.3g} ± {s['std']:.2g}"


def markdown_report(summary: dict[str, Any], embed: bool = True) -> str:
    sc = summary["scores"]
    lines = [f"# GAN on {summary['data']}: {GANConfig.from_dict(summary['config']).summary()}", "",
             f"Seeds {summary['seeds']}, {summary['steps']} steps each.", "",
             "| metric | mean ± std over seeds |", "|---|---|"]  # fmt: skip
    lines += [f"| {k} | {fmt_score(v, k)} |" for k, v in sc.items()]
    first = summary["per_seed"][0]
    pic = first.get("heatmaps") or first.get("samples_png")
    if pic and Path(pic).is_file():
        src = png_data_uri(Path(pic)) if embed else Path(pic).name
        lines += [
            "",
            f"![{'samples over training' if first.get('heatmaps') else 'samples'}]({src})",
        ]
    changed = {k: v for k, v in summary["config"].items() if getattr(GANConfig(), k) != v}
    lines += ["", "Config (differences from GANConfig defaults): `" + json.dumps(changed) + "`"]
    return "\n".join(lines) + "\n"


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """['loss=nonsaturating,hinge', 'spectral_norm=false,true'] -> {key: [values]} (JSON values)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"a grid axis is key=v1,v2,..., got {item!r}")
        key, values = item.split("=", 1)
        parsed = []
        for v in values.split(","):
            try:
                parsed.append(json.loads(v))
            except json.JSONDecodeError:
                parsed.append(v)
        grid[key.strip()] = parsed
    return grid


def run_grid(
    p: GANParams, grid: dict[str, list[Any]], steps: GANSteps | None = None
) -> dict[str, Any]:
    """Every combination of the grid's values (on top of p.model), each over p.seeds; returns
    {'rows': one per configuration with mean ± std scores, 'table': markdown, ...}."""
    run_dir = Path(p.run_dir or _new_run_dir(f"gan-grid-{p.data}"))
    keys = list(grid)
    for combo in itertools.product(*grid.values()):
        make_config(
            p.data, {**p.model, **dict(zip(keys, combo, strict=True))}
        )  # fail before any training
    rows = []
    for combo in itertools.product(*grid.values()):
        over = dict(zip(keys, combo, strict=True))
        name = ",".join(f"{k}={v}" for k, v in over.items()) or "base"
        sub = dataclasses.replace(p, model={**p.model, **over})
        summ = run_gan(
            sub,
            dataclasses.replace(steps or GANSteps(), on_report=None),
            run_dir / name.replace("/", "_"),
        )
        rows.append({"config": name, **{k: v["mean"] for k, v in summ["scores"].items()},
                     **{f"{k}_std": v["std"] for k, v in summ["scores"].items()},
                     "wall_s": round(sum(summ["wall_s"]), 1), "report": summ["report"]})  # fmt: skip
    summary = {"data": p.data, "grid": grid, "seeds": list(p.seeds), "rows": rows, "run_dir": str(run_dir),
               "table": comparison_table(rows)}  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "grid.json").write_text(json.dumps(summary, indent=2))
    (run_dir / "grid.md").write_text(
        f"# GAN grid on {p.data}, seeds {list(p.seeds)}\n\n{summary['table']}\n"
    )
    if steps is not None and steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


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
