"""Flows `train-gan` (one configuration over seeds) and `gan-grid` (every combination of a
grid of settings, and a comparison table): load the data -> for each seed, train -> score;
then a summary (mean ± std over seeds) and a report.

`run_gan(p, steps)` and `run_grid(p, steps)` are the flows' bodies: the Prefect flows pass
the @task adapters, `--no-prefect`, benchmarks and tests the plain functions.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from ganflow.flows.artifacts import publish_report_and_seeds
from ganflow.flows.caching import cached_step
from ganflow.flows.params import DataReading, param, params_flow
from ganflow.flows.seeds import SeedMap, SeedWorkers, seed_map, serial
from ganflow.models.config import Config, ConfigError, parse_setting
from ganflow.models.gan.config import GANConfig
from ganflow.models.registry import FAMILIES as FAMILIES_BY_NAME
from ganflow.tasks.data import toy
from ganflow.tasks.data.sources import SOURCES, check_source
from ganflow.tasks.data.streams import load_data
from ganflow.tasks.evaluate.metrics import mean_std
from ganflow.tasks.io import claim_run_dir, write_json, write_text
from ganflow.tasks.report.gan import SCORE_KEYS, comparison_table, markdown_report
from ganflow.tasks.train.distributed import check_split
from ganflow.tasks.train.gan import IMAGE_FAMILIES, score_gan, train_gan
from ganflow.tasks.train.trainer import RunConfig

# The source a cached step's key depends on (flows/caching.py), beside the step's own file.
GAN_CODE = (
    "models/gan",
    "models/infogan",
    "models/lapgan",
    "models/progan",
    "tasks/train",
    "tasks/data",
)
# the families train-gan trains on a data set's images (or, the GAN family, on toy points)
FAMILIES = ("gan", *(family for family, _, _ in IMAGE_FAMILIES.values()))

# The 2-D recipe (benchmarks/README.md, "Mode-collapse benchmark": why these values)
TOY_DEFAULTS: dict[str, Any] = {
    "arch": "mlp",
    "z_dim": 16,
    "width": 128,
    "depth": 3,
    "g_batchnorm": False,
    "batch_size": 128,
    "lr_g": 1e-3,
    "lr_d": 1e-3,
    "lr_decay": True,
}
TOY_STEPS = 6000
IMAGE_EPOCHS = 5


def make_config(data: str, overrides: dict[str, Any], family: str = "gan") -> Config:
    """The family's config for a data set: for the GAN family the toy recipe for ring/grid
    and DCGAN defaults for images; then the user's overrides (unknown keys and bad values
    named in the error)."""
    if family not in FAMILIES:
        raise ConfigError(f"family must be one of {FAMILIES}, got {family!r}")
    if family != "gan":
        if data in toy.TOY_DATA:
            raise ConfigError(f"family {family} draws images: give an image data set, not {data}")
        return FAMILIES_BY_NAME[family].config().with_overrides(overrides)
    base = GANConfig(**TOY_DEFAULTS) if data in toy.TOY_DATA else GANConfig()
    return base.with_overrides(overrides)


@dataclass
class GANParams(SeedWorkers, DataReading):
    data: str = param(
        "ring",
        f"ring | grid (2-D mixtures) | {' | '.join(SOURCES)}",
    )
    family: str = param(
        "gan",
        "gan (any loss and trick) | infogan (latent codes; `ganflow infogan` scores them) | "
        "lapgan (Laplacian pyramid) | progan (progressive growing) | sgan (stacked GAN: "
        "an encoder's features inverted level by level, class-conditional; needs labels)",
    )
    model: dict[str, Any] = param(
        {},
        "any field of the family's config, e.g. --set width=128 --set penalty_weight=5",
        flag="--set",
    )
    seeds: list[int] = param([0], "seeds, comma-separated (e.g. 0,1,2)")
    steps: int | None = param(
        None, "engine steps (D updates); default 6000 for ring/grid, else by epochs"
    )
    epochs: int | None = param(None, "image data: passes over the training set (default 5)")
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    max_minutes: float | None = param(None, "wall-time budget per seed")
    gpus: int = param(1, "processes per training (torchrun: one per GPU; CPU processes with gloo)")
    compile: bool = param(
        False, "torch.compile the networks (a GPU gains; the first steps compile)"
    )
    num_samples: int = param(10_000, "image data: samples scored (FID etc.)")
    run_dir: str | None = param(None, "run directory (default: a new data/runs/gan-...)")

    def validate(self) -> None:
        check_source(self.data, toy.TOY_DATA)
        self.check_workers()
        self.check_reading()
        self.require("positive", "max_minutes")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        for name in ("steps", "epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.num_samples < 10:
            raise ConfigError(f"num_samples must be at least 10, got {self.num_samples}")
        cfg = make_config(self.data, self.model, self.family)  # the settings, checked now
        if self.gpus > 1 and self.family != "gan":
            raise ConfigError(f"--gpus is for the GAN family; train {self.family} in one process")
        if getattr(cfg, "partition_weight", 0):
            raise ConfigError(
                "partition_weight (InfoGAN's graph prior) is for `ganflow infogan`, which keeps "
                "the neighbour graph beside its data; train-gan --family infogan trains the "
                "paper's InfoGAN"
            )
        if self.gpus > 1 and (
            cfg.loss in ("wgan-gp", "dragan") or cfg.r1 > 0 or cfg.unrolled_steps
        ):
            raise ConfigError(
                "--gpus splits D's forward over processes, and a gradient penalty on D's inputs "
                "(wgan-gp, dragan, r1) or unrolled D steps would see only a part of it: train "
                "those in one process"
            )
        check_split(self.gpus, cfg)


@dataclass
class GridParams(GANParams):
    grid: dict[str, Any] = param(
        {}, "one axis of the grid, e.g. --grid loss=nonsaturating,hinge", flag="--grid"
    )

    def validate(self) -> None:
        super().validate()
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"grid axis {key!r} needs a list of values, got {values!r}")
        for over in combinations(self.grid):
            make_config(self.data, {**self.model, **over}, self.family)  # fails before training


@dataclass
class GANSteps:
    """The step functions; the flows swap in Prefect tasks."""

    train: Callable[..., dict[str, Any]] = train_gan
    score: Callable[..., dict[str, Any]] = score_gan
    on_report: Callable[[str, dict[str, Any]], None] | None = None
    map_seeds: SeedMap = serial  # the per-seed work over the seeds (flows/seeds.py)


def parse_grid(items: list[tuple[str, Any]] | list[str]) -> dict[str, list[Any]]:
    """['loss=nonsaturating,hinge', ...] (or parsed (key, 'v1,v2') pairs) -> {key: [values]},
    each value read as JSON where it parses. An axis given twice takes the values of both
    (`--grid k=3 --grid k=5` is `--grid k=3,5`), each once, in the order given."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if isinstance(item, str) and "=" not in item:
            raise ConfigError(f"a grid axis is key=v1,v2,..., got {item!r}")
        key, values = parse_setting(item) if isinstance(item, str) else item
        axis = grid.setdefault(key, [])
        for v in str(values).split(","):
            value = parse_setting(f"v={v}")[1]
            if value not in axis:
                axis.append(value)
    return grid


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


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
    GANParams.validate(p)
    cfg = make_config(p.data, p.model, p.family)
    run_dir = claim_run_dir(run_dir or p.run_dir, "train-gan", f"gan-{p.data}", p.to_dict())
    data = load_data(p.data, p.source_options())
    n_steps = p.steps if p.steps is not None else (TOY_STEPS if data.images is None else None)

    def one_seed(seed: int) -> dict[str, Any]:
        run = RunConfig(
            epochs=p.epochs or IMAGE_EPOCHS,
            seed=seed,
            device=p.device,
            max_minutes=p.max_minutes,
            gpus=p.gpus,
            compile=p.compile,
        )
        out_dir = run_dir / f"seed{seed}"
        t = steps.train(data, cfg, run, out_dir, n_steps)
        s = steps.score(
            t["checkpoint"],
            out_dir,
            seed=seed,
            num_samples=p.num_samples,
            device=p.device,
            source=p.source_options(),
        )
        row = {
            "seed": seed,
            **{k: s.get(k) for k in SCORE_KEYS if s.get(k) is not None},
            "steps": t["steps"],
            "wall_s": t["wall_s"],
            "heatmaps": t.get("heatmaps"),
            "samples_png": s.get("samples_png"),
        }
        return {"row": row, "trained": t}

    done = steps.map_seeds(one_seed, list(p.seeds))
    rows, trained = [d["row"] for d in done], [d["trained"] for d in done]
    summary = {
        "data": p.data,
        "family": p.family,
        "config": cfg.to_dict(),
        "seeds": list(p.seeds),
        "steps": trained[0]["total_steps"],
        "scores": summarise(rows),
        "per_seed": rows,
        "run_dir": str(run_dir),
        "checkpoints": [t["checkpoint"] for t in trained],
        "wall_s": [t["wall_s"] for t in trained],
    }
    if p.data in toy.TOY_DATA:
        summary["max_modes"] = len(toy.centres(p.data)[0])
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "summary.json", summary)
    summary["report"] = str(run_dir / "report.md")
    write_text(summary["report"], markdown_report(summary, embed=False))
    if steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


def run_grid(p: GridParams, steps: GANSteps | None = None) -> dict[str, Any]:
    """Every combination of the grid's values (on top of p.model), each over p.seeds; returns
    {'rows': one per configuration with mean ± std scores, 'table': markdown, ...}."""
    p.validate()
    run_dir = claim_run_dir(p.run_dir, "gan-grid", f"gan-grid-{p.data}", p.to_dict())
    rows = []
    for over in combinations(p.grid):
        name = ",".join(f"{k}={v}" for k, v in over.items()) or "base"
        point = dataclasses.replace(p, model={**p.model, **over})
        summ = run_gan(
            point,
            dataclasses.replace(steps or GANSteps(), on_report=None),
            run_dir / name.replace("/", "_"),
        )
        rows.append(
            {
                "config": name,
                **{k: v["mean"] for k, v in summ["scores"].items()},
                **{f"{k}_std": v["std"] for k, v in summ["scores"].items()},
                "wall_s": round(sum(summ["wall_s"]), 1),
                "report": summ["report"],
            }
        )
    summary = {
        "data": p.data,
        "grid": p.grid,
        "seeds": list(p.seeds),
        "rows": rows,
        "run_dir": str(run_dir),
        "table": comparison_table(rows),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "grid.json", summary)
    write_text(
        run_dir / "grid.md",
        f"# GAN grid on {p.data}, seeds {list(p.seeds)}\n\n{summary['table']}\n",
    )
    if steps is not None and steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


def publish_run(run_name: str, summary: dict[str, Any]) -> None:
    publish_report_and_seeds(
        markdown_report(summary, embed=True),
        "gan-report",
        f"GAN run {run_name}",
        summary["per_seed"],
        "gan-metrics",
        "per-seed GAN scores",
    )


def publish_grid(run_name: str, summary: dict[str, Any]) -> None:
    rows = [{k: v for k, v in r.items() if k != "report"} for r in summary["rows"]]
    create_table_artifact(
        rows, key="gan-grid", description=f"GAN configurations on {summary['data']} ({run_name})"
    )
    create_markdown_artifact(
        f"# GAN grid on {summary['data']}\n\n{summary['table']}\n", key="gan-grid-report"
    )


def _task_steps(on_report: Callable[[str, dict[str, Any]], None], p: GANParams) -> GANSteps:
    return GANSteps(
        cached_step(train_gan, name="train-gan", code=GAN_CODE),
        cached_step(score_gan, name="score-gan", code=(*GAN_CODE, "tasks/evaluate")),
        on_report,
        seed_map(p),
    )


@params_flow(GANParams, name="train-gan", log_prints=True)
def train_gan_flow(p: GANParams) -> dict[str, Any]:
    """Train a GAN (any loss of the zoo, any trick switched on in `model`, conditional or
    not) and score it: modes and high-quality fraction on toy data, FID & co. on images."""
    return run_gan(p, _task_steps(publish_run, p))


@params_flow(GridParams, name="gan-grid", log_prints=True)
def gan_grid_flow(p: GridParams) -> dict[str, Any]:
    """Run every combination of `grid` ({setting: [values]}) and publish a comparison table."""
    return run_grid(p, _task_steps(publish_grid, p))
