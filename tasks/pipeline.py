"""The semi-supervised pipeline as plain Python: prepare -> train GAN -> train baseline ->
evaluate -> report, over several label-split seeds.

`run_semi_supervised` takes its steps as arguments: the Prefect flow passes the @task
adapters, benchmarks and tests pass the plain functions. One code path either way.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.ssgan import SSGANConfig
from tasks.data import DataSpec, prepare
from tasks.evaluate import PER_CLASS_ACCURACY, TEST_ERROR, evaluate_classifier, mean_std
from tasks.report import confusion_png, curves_png, sample_grid, save_png, write_report
from tasks.sources import DATA_DIR, SourceOptions
from tasks.train import RunConfig, load_trained, train, with_overrides

# Epochs (passes over the unlabelled pool) when none are given: sized so that the default
# job finishes in about two minutes on 2 CPU cores.
DEFAULT_EPOCHS = {
    "digits": 100,
    "fashion-mnist": 10,
    "mnist": 10,
    "cifar10": 20,
    "svhn": 10,
    "folder": 50,
}


@dataclass
class SemiSupervisedParams:
    data: str = "digits"
    labels_per_class: int = 5
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int | None = None  # None: DEFAULT_EPOCHS[data]
    data_root: str | None = None
    download: bool = False
    image_size: int = 32  # folder source only
    channels: int = 3  # folder source only
    val_fraction: float = 0.1
    device: str = "auto"
    precision: str = "auto"
    max_minutes: float | None = None  # per model and seed
    model: dict[str, Any] = field(default_factory=dict)  # SSGANConfig overrides
    run_dir: str | None = None  # None: a new data/runs/semi-supervised-<time>-<id>


@dataclass
class Steps:
    prepare: Callable[..., dict] = prepare
    train: Callable[..., dict] = train
    evaluate: Callable[..., dict] = evaluate_classifier
    on_report: Callable[[str, dict], None] | None = None  # e.g. publish as a Prefect artifact


def new_run_dir(flow: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return DATA_DIR / "runs" / f"{flow}-{stamp}-{secrets.token_hex(2)}"


def data_spec(p: SemiSupervisedParams, seed: int) -> DataSpec:
    opts = SourceOptions(
        root=p.data_root, download=p.download, image_size=p.image_size, channels=p.channels
    )
    return DataSpec(p.data, p.labels_per_class, seed, p.val_fraction, opts)


def _summarise(results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    errors = [r[key]["metrics"][TEST_ERROR] for r in results]
    mean, std = mean_std(errors)
    first = results[0][key]
    return {
        "test_error_mean": mean, "test_error_std": std, "test_errors": errors,
        "per_class_accuracy": first["metrics"][PER_CLASS_ACCURACY], "confusion": first["metrics"]["confusion"],
        "checkpoints": [r[key]["train"]["checkpoint"] for r in results],
        "wall_s": [r[key]["train"]["wall_s"] for r in results],
        "images_per_s": [r[key]["train"]["images_per_s"] for r in results],
    }  # fmt: skip


def make_pictures(
    run_dir: Path, results: list[dict[str, Any]], class_names: list[str]
) -> dict[str, Path]:
    first = results[0]
    pics: dict[str, Path] = {}
    gan = load_trained(first["gan"]["train"]["checkpoint"])
    pics["samples"] = save_png(
        sample_grid(gan["generator"], gan["config"].z_dim), run_dir / "samples.png"
    )
    histories = {"gan": gan["history"]}
    for kind in ("gan", "baseline"):
        pics[f"confusion_{kind}"] = confusion_png(
            first[kind]["metrics"]["confusion"],
            class_names,
            run_dir / f"confusion_{kind}.png",
            f"{kind}, seed {first['seed']}",
        )
    histories["baseline"] = load_trained(first["baseline"]["train"]["checkpoint"])["history"]
    pics["curves"] = curves_png(histories, run_dir / "curves.png")
    return pics


def run_semi_supervised(p: SemiSupervisedParams, steps: Steps | None = None) -> dict[str, Any]:
    """Run the pipeline for every seed and return the summary (also in run_dir/metrics.json)."""
    steps = steps or Steps()
    if not p.seeds:
        raise ValueError("at least one seed is needed")
    epochs = p.epochs if p.epochs is not None else DEFAULT_EPOCHS.get(p.data, 50)
    cfg = with_overrides(SSGANConfig(), p.model)
    run_dir = Path(p.run_dir) if p.run_dir else new_run_dir("semi-supervised")
    run_dir.mkdir(parents=True, exist_ok=True)
    kinds = ("gan", "baseline")
    results, fingerprints, info = [], [], {}
    for seed in p.seeds:
        info = steps.prepare(data_spec(p, seed), run_dir / "data")
        fingerprints.append(info["fingerprint"]["id"])
        run = RunConfig(
            epochs=epochs,
            seed=seed,
            device=p.device,
            precision=p.precision,
            max_minutes=p.max_minutes,
        )
        row: dict[str, Any] = {"seed": seed, "data": info}
        for kind in kinds:
            trained = steps.train(info["path"], cfg, run, run_dir / f"seed{seed}" / kind, kind)
            row[kind] = {
                "train": trained,
                "metrics": steps.evaluate(trained["checkpoint"], info["path"]),
            }
        results.append(row)
    summary: dict[str, Any] = {
        "data": p.data, "labels_per_class": p.labels_per_class, "seeds": list(p.seeds), "epochs": epochs,
        "run_dir": str(run_dir), "fingerprints": fingerprints, "class_names": info["class_names"],
        "counts": info["counts"], "config": results[0]["gan"]["train"]["config"], "params": dataclasses.asdict(p),
    }  # fmt: skip
    for kind in kinds:
        summary[kind] = _summarise(results, kind)
    pictures = make_pictures(run_dir, results, info["class_names"])
    summary["pictures"] = {k: str(v) for k, v in pictures.items()}
    summary.update(write_report(run_dir, summary, pictures))
    if steps.on_report is not None:
        steps.on_report(run_dir.name, {"summary": summary, "pictures": pictures})
    return summary
