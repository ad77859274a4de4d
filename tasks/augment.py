"""The augmentation pipeline: does synthetic data help a downstream classifier?

Per label-split seed:
    prepare (N labels per class) -> train, or reuse from the cache, a generator
    -> export a new version of the synthetic data set (with CAS in its manifest)
    -> train the same classifier on real-only (the labelled images) and on real + synthetic
    -> accuracy of both on the real test set
then mean ± std over seeds, a report with the table and a grid of exported samples per class.

Generators: `ssgan` (the K+1 GAN: it learns from the unlabelled pool too; labels are its
classifier's confident predictions) or `cgan` (a projection-conditioned GAN trained on the
labelled images alone).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.classifiers import recipe_for
from tasks.cas import CAS_ACCURACY, REAL_ACCURACY, accuracy_of_trained
from tasks.data import DataSpec, load_bundle, prepare
from tasks.datasets import load_dataset
from tasks.evaluate import mean_std
from tasks.export import ExportOptions, check_name, export_dataset
from tasks.export_metrics import export_scorer
from tasks.pipeline import DEFAULT_EPOCHS, new_run_dir
from tasks.report import image_grid, png_data_uri, save_png
from tasks.sources import DATA_DIR, SourceOptions
from tasks.train import RunConfig, select_device

GENERATORS = ("ssgan", "cgan")
CGAN_DEFAULTS: dict[str, Any] = {"condition": "projection"}


@dataclass
class AugmentParams:
    data: str = "digits"
    labels_per_class: int = 10
    seeds: list[int] = field(default_factory=lambda: [0])
    generator: str = "ssgan"  # ssgan | cgan
    epochs: int | None = None  # generator training (None: the semi-supervised job's default)
    model: dict[str, Any] = field(default_factory=dict)  # generator config overrides
    per_class: int = 500  # synthetic images exported per class
    min_confidence: float = 0.9  # ssgan: keep samples its classifier labels this confidently
    balance: str = "equal"  # equal: per_class of every class | natural: as the labels fall
    classifier_steps: int = 1500  # at least this many steps for every downstream classifier
    real_fraction: float = 0.5  # real + synthetic: the real images repeat to make this share
    cas_steps: int = 1500  # at least this many steps for the CAS classifiers
    dataset_name: str | None = None  # None: <data>-<generator>-augment
    datasets_root: str | None = None  # None: data/datasets
    data_root: str | None = None
    device: str = "auto"
    max_minutes: float | None = None  # generator training budget per seed
    run_dir: str | None = None
    cache_dir: str | None = None  # trained generators, keyed by config + data + seed

    def validate(self) -> None:
        if self.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {GENERATORS}, got {self.generator!r}")
        if not self.seeds:
            raise ValueError("at least one seed is needed")
        check_name(self.name)

    @property
    def name(self) -> str:
        return self.dataset_name or f"{self.data}-{self.generator}-augment"


@dataclass
class AugmentSteps:
    """The step functions; the flow swaps in Prefect tasks."""

    prepare: Callable[..., dict] = prepare
    train_generator: Callable[..., dict] = None  # type: ignore[assignment]
    export: Callable[..., dict] = export_dataset
    classify: Callable[..., dict] = None  # type: ignore[assignment]
    on_report: Callable[[str, dict], None] | None = None

    def __post_init__(self) -> None:
        self.train_generator = self.train_generator or train_generator
        self.classify = self.classify or downstream_accuracy


def _cache_dir(p: AugmentParams, fingerprint: str, seed: int, epochs: int) -> Path:
    key = json.dumps([p.generator, p.model, fingerprint, seed, epochs], sort_keys=True)
    root = Path(p.cache_dir) if p.cache_dir else DATA_DIR / "cache" / "generators"
    return root / f"{p.data}-{p.generator}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def train_generator(p_dict: dict[str, Any], bundle_path: str, fingerprint: str, seed: int) -> dict[str, Any]:  # fmt: skip
    """Train the generator of the run (or resume it, or reuse a finished one from the cache)."""
    p = AugmentParams(**p_dict)
    epochs = p.epochs or DEFAULT_EPOCHS.get(p.data, 50)
    out = _cache_dir(p, fingerprint, seed, epochs)
    run = RunConfig(epochs=epochs, seed=seed, device=p.device, max_minutes=p.max_minutes)
    if p.generator == "ssgan":
        from models.ssgan import SSGANConfig
        from tasks.train import train, with_overrides

        return train(bundle_path, with_overrides(SSGANConfig(), p.model), run, out, "gan")
    from tasks.gan_pipeline import make_config
    from tasks.gan_train import load_data, train_gan

    cfg = make_config(p.data, {**CGAN_DEFAULTS, **p.model})
    data = load_data(
        p.data, SourceOptions(root=p.data_root), labels_per_class=p.labels_per_class, seed=seed
    )
    return train_gan(data, cfg, run, out)


def downstream_accuracy(x: torch.Tensor, y: torch.Tensor, bundle_path: str, num_classes: int,
                        min_steps: int, seed: int, device: str) -> dict[str, Any]:  # fmt: skip
    """Accuracy on the real test set of the domain classifier (CAS's recipe) trained on (x, y)."""
    b = load_bundle(bundle_path)
    recipe = recipe_for(len(x), 5, min_steps, seed=seed)
    acc = accuracy_of_trained(x, y, b.x_test, b.y_test, num_classes, recipe, _device(device))
    return {"accuracy": acc, "train_count": len(x), "recipe": dataclasses.asdict(recipe)}


def mix(x_real: torch.Tensor, y_real: torch.Tensor, x_syn: torch.Tensor, y_syn: torch.Tensor,
        real_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Real and synthetic images in one training set, the (few) real ones repeated so that
    they make about `real_fraction` of it: 100 real images are not drowned by 5,000 fakes."""
    if not 0.0 <= real_fraction < 1.0:
        raise ValueError(f"real_fraction must be in [0, 1), got {real_fraction}")
    repeat = max(1, round(real_fraction / (1 - real_fraction) * len(x_syn) / max(len(x_real), 1)))
    return torch.cat([x_real.repeat(repeat, 1, 1, 1), x_syn]), torch.cat(
        [y_real.repeat(repeat), y_syn]
    )


def class_rows_png(path: str | Path, class_names: list[str], out: Path, per_row: int = 10) -> Path:
    """A grid of an exported version's images: one row of `per_row` per class."""
    ds = load_dataset(path)
    picked: dict[int, list[int]] = {c: [] for c in range(len(class_names))}
    for i, (_, label, _) in enumerate(ds.rows):
        if len(picked[label]) < per_row:
            picked[label].append(i)
    rows = []
    for c in range(len(class_names)):
        imgs = [ds[i][0] for i in picked[c]]
        blank = torch.full(tuple(ds.manifest["image_shape"]), 255, dtype=torch.uint8)
        rows += imgs + [blank] * (per_row - len(imgs))
    return save_png(image_grid(torch.stack(rows), nrow=per_row), out)


def run_augment(p: AugmentParams, steps: AugmentSteps | None = None) -> dict[str, Any]:
    """Run the pipeline for every seed; returns the summary (also run_dir/summary.json)."""
    p.validate()
    steps = steps or AugmentSteps()
    run_dir = Path(p.run_dir) if p.run_dir else new_run_dir("augment")
    run_dir.mkdir(parents=True, exist_ok=True)
    source = SourceOptions(root=p.data_root)
    rows = []
    for seed in p.seeds:
        info = steps.prepare(
            DataSpec(p.data, p.labels_per_class, seed, source=source), run_dir / "data"
        )
        trained = steps.train_generator(
            dataclasses.asdict(p), info["path"], info["fingerprint"]["id"], seed
        )
        opts = ExportOptions(per_class=p.per_class, seed=seed, balance=p.balance,
                             min_confidence=p.min_confidence if p.generator == "ssgan" else 0.0)  # fmt: skip
        scorer = export_scorer(
            _device(p.device), seed, p.cas_steps, distribution=False, source=source
        )
        exported = steps.export(
            trained["checkpoint"], p.name, opts, p.datasets_root, _device(p.device), scorer
        )
        b = load_bundle(info["path"])
        x_lab, y_lab = b.x_train[b.labelled], b.y_train[b.labelled]
        x_syn, y_syn = load_dataset(exported["path"]).tensors()
        k = b.num_classes
        args = (info["path"], k, p.classifier_steps, seed, p.device)
        real = steps.classify(x_lab, y_lab, *args)
        x_mix, y_mix = mix(x_lab, y_lab, x_syn, y_syn, p.real_fraction)
        both = steps.classify(x_mix, y_mix, *args)
        rows.append({"seed": seed, "real_only_accuracy": real["accuracy"],
                     "real_plus_synthetic_accuracy": both["accuracy"],
                     CAS_ACCURACY: exported["metrics"][CAS_ACCURACY],
                     "cas_real_accuracy": exported["metrics"][REAL_ACCURACY],
                     "export_path": exported["path"], "export_version": exported["version"],
                     "synthetic_count": exported["count"], "generator_checkpoint": trained["checkpoint"],
                     "generator_wall_s": trained.get("wall_s"), "labelled": len(y_lab)})  # fmt: skip
    summary = _summarise(p, rows, run_dir, info["class_names"])
    pic = class_rows_png(
        rows[0]["export_path"], info["class_names"], run_dir / "exported_samples.png"
    )
    summary["samples_png"] = str(pic)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    (run_dir / "report.md").write_text(markdown_report(summary, embed=False))
    summary["report"] = str(run_dir / "report.md")
    if steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


def _device(device: str) -> str:
    return str(select_device(device))


METRICS = ("real_only_accuracy", "real_plus_synthetic_accuracy", CAS_ACCURACY, "cas_real_accuracy")


def _summarise(p: AugmentParams, rows: list[dict], run_dir: Path, class_names: list[str]) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"data": p.data, "generator": p.generator, "labels_per_class": p.labels_per_class,
                           "seeds": list(p.seeds), "per_class": p.per_class, "dataset_name": p.name,
                           "class_names": class_names, "run_dir": str(run_dir), "per_seed": rows,
                           "export_path": rows[-1]["export_path"], "export_paths": [r["export_path"] for r in rows],
                           "params": dataclasses.asdict(p)}  # fmt: skip
    for m in METRICS:
        mean, std = mean_std([r[m] for r in rows])
        out[f"{m}_mean"], out[f"{m}_std"] = mean, std
    out["cas_accuracy"] = out[f"{CAS_ACCURACY}_mean"]
    out["gain_mean"] = out["real_plus_synthetic_accuracy_mean"] - out["real_only_accuracy_mean"]
    return out


def markdown_report(s: dict[str, Any], embed: bool = True) -> str:
    def pm(m: str) -> str:
        return f"{100 * s[f'{m}_mean']:.2f} ± {100 * s[f'{m}_std']:.2f} %"

    lines = [f"# Augmentation: {s['data']}, {s['labels_per_class']} labels per class, {s['generator']} generator",
             "", f"Seeds {s['seeds']}; {s['per_class']} synthetic images per class; accuracy on the real test set.",
             "", "| training data | accuracy (mean ± std) |", "|---|---|",
             f"| real only ({s['labels_per_class']} per class) | {pm('real_only_accuracy')} |",
             f"| real + synthetic | {pm('real_plus_synthetic_accuracy')} |",
             f"| synthetic only (CAS) | {pm(CAS_ACCURACY)} |",
             f"| as many real images (CAS's baseline) | {pm('cas_real_accuracy')} |",
             "", f"Gain from the synthetic data: {100 * s['gain_mean']:+.2f} points.",
             "", "Exported versions: " + ", ".join(f"`{e}`" for e in s["export_paths"]), ""]  # fmt: skip
    pic = Path(s.get("samples_png", ""))
    if pic.is_file():
        lines += ["## Exported samples, one row per class (first seed)", "",
                  f"![exported samples]({png_data_uri(pic) if embed else pic.name})", ""]  # fmt: skip
    return "\n".join(lines)
