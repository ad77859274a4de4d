"""Flow `augment`: does synthetic data help a downstream classifier?

augment, per label-split seed:
    prepare (N labels per class)
    -> train, or reuse from the cache, the semi-supervised K+1 GAN: the teacher
    -> (generator cgan) train a projection-conditioned GAN on the labelled images plus the
       unlabelled pool as the teacher labels it (its confident images)
    -> export a new version of the synthetic data set, labelled by the teacher's classifier
       (each image's class probabilities kept; CAS in the manifest)
    -> train the same downstream classifier on: the real labelled images alone; real + the
       unlabelled pool labelled by the teacher (no generator); real + synthetic; synthetic
       alone; and score the teacher itself, all on the real test set
then mean ± std over seeds, a report with the table and a grid of exported samples per class.

Generators: `ssgan` (the K+1 GAN's own generator) or `cgan`. The downstream classifier
learns from the teacher's probabilities (distillation through data) unless --hard-labels.
`run_augment(p, steps)` is the flow's body.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from prefect import task

from ganflow.flows.artifacts import publish_report_and_seeds
from ganflow.flows.caching import cached_step
from ganflow.flows.export import ExportChoice, cached_scorer
from ganflow.flows.gan import make_config
from ganflow.flows.params import DataReading, params_flow
from ganflow.flows.seeds import SeedMap, SeedWorkers, seed_map, serial
from ganflow.flows.semi_supervised import DEFAULT_EPOCHS
from ganflow.flows.tasks import prepare_task
from ganflow.models.classifiers import (
    CLASSIFIERS,
    ClassifierTraining,
    classifier_arch,
    user_classifier,
)
from ganflow.models.config import ConfigError, param
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import DataSpec, load_bundle, prepare
from ganflow.tasks.data.sources import SOURCES, check_source
from ganflow.tasks.data.streams import GANData
from ganflow.tasks.evaluate.cas import CAS_ACCURACY, REAL_ACCURACY, accuracy_of_trained
from ganflow.tasks.evaluate.metrics import mean_std
from ganflow.tasks.export.layout import (
    ExportError,
    ExportOptions,
    check_name,
)
from ganflow.tasks.export.reader import load_dataset
from ganflow.tasks.export.scoring import export_scorer
from ganflow.tasks.export.teacher import Teacher
from ganflow.tasks.export.writer import export_dataset
from ganflow.tasks.io import DATA_DIR, claim_run_dir, file_sha256, write_json, write_text
from ganflow.tasks.progress import say
from ganflow.tasks.report.augment import class_rows_png, markdown_report
from ganflow.tasks.train.devices import select_device
from ganflow.tasks.train.gan import train_gan
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig

GENERATORS = ("ssgan", "cgan")
CGAN_DEFAULTS: dict[str, Any] = {"condition": "projection"}
# the five rows: one downstream classifier on each training set, and the teacher itself
ROWS = (
    "real_only_accuracy",
    "real_plus_pseudo_accuracy",
    "real_plus_synthetic_accuracy",
    "synthetic_only_accuracy",
    "teacher_accuracy",
)
METRICS = (*ROWS, CAS_ACCURACY, "cas_real_accuracy")
# the conditional GAN's epochs over the pseudo-labelled pool (a far larger set than the
# labelled one the K+1 GAN's epochs count)
CGAN_EPOCHS = 5
# synthetic images per class by default: the unlabelled pool's per class, within this range
PER_CLASS_RANGE = (200, 2000)


def default_per_class(info: dict[str, Any]) -> int:
    """As many synthetic images per class as the prepared data's unlabelled pool holds per
    class, within PER_CLASS_RANGE (digits: 200; Fashion-MNIST: 2,000)."""
    counts = info["counts"]
    per = (counts["train"] - counts["labelled"]) // max(len(info["class_names"]), 1)
    return max(PER_CLASS_RANGE[0], min(PER_CLASS_RANGE[1], per))


@dataclass
class AugmentParams(SeedWorkers, DataReading, ExportChoice):
    data: str = param("digits", f"data set: {', '.join(SOURCES)}")
    labels_per_class: int = param(10, "labelled images per class")
    seeds: list[int] = param([0], "label-split seeds, comma-separated (e.g. 0,1,2)")
    generator: str = param(
        "ssgan", "ssgan (K+1 GAN) | cgan (projection-conditioned GAN)", choices=GENERATORS
    )
    epochs: int | None = param(
        None, "generator training epochs (default: the semi-supervised job's)"
    )
    model: dict[str, Any] = param({}, "generator setting, e.g. --set z_dim=64", flag="--set")
    # the defaults measured on Fashion-MNIST at 10 labels per class (benchmarks/README.md):
    # 2,000 per class at any confidence, real images a fifth of the mix, gained 4.0 points
    # where 500 per class at confidence >= 0.9 with real at half gained 3.3
    per_class: int | None = param(
        None,
        "synthetic images exported per class (default: as many as the unlabelled pool holds "
        f"per class, {PER_CLASS_RANGE[0]:,} to {PER_CLASS_RANGE[1]:,})",
    )
    min_confidence: float = param(
        0.0,
        "export the samples the teacher labels at least this confidently (0: all; "
        "their probabilities carry the doubt)",
    )
    pool_confidence: float = param(
        0.9, "cgan: train on the unlabelled images the teacher labels at least this confidently"
    )
    classifier: str = param(
        "auto",
        "downstream classifier: auto (lenet below 32 px, else resnet) | lenet | resnet "
        "| module:function ((image_shape, num_classes) -> nn.Module)",
    )
    hard_labels: bool = param(
        False, "train the downstream classifier on hard labels, not the teacher's probabilities"
    )
    classifier_seconds: float = param(
        60.0,
        "each downstream classifier stops (its best weights kept) after this long, "
        "once its steps are done",
    )
    classifier_steps: int = param(
        200, "at least this many steps for every downstream classifier (stopped early)"
    )
    real_fraction: float = param(0.2, "real + synthetic: the real images repeat to make this share")
    cas_steps: int = param(200, "at least this many steps for the CAS classifiers (stopped early)")
    dataset_name: str | None = param(
        None, "exported data set name (default: <data>-<generator>-augment)", flag="--name"
    )
    datasets_root: str | None = param(
        None, "where data sets are published (default: data/datasets)", flag="--root"
    )
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    max_minutes: float | None = param(None, "generator training budget per seed")
    run_dir: str | None = param(None, "run directory (default: a new data/runs/augment-...)")
    cache_dir: str | None = param(
        None, "trained generators, keyed by config + data + seed (default: data/cache)"
    )
    synthetic: str | None = param(
        None,
        "augment with this exported version (its path, or NAME for its latest) instead of "
        "training and exporting a generator",
    )

    def validate(self) -> None:
        check_source(self.data)
        self.check_workers()
        self.check_reading()
        self.require("positive", "max_minutes", "classifier_seconds")
        if self.generator not in GENERATORS:
            raise ConfigError(f"generator must be one of {GENERATORS}, got {self.generator!r}")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        self.check_choice()
        if not 0.0 <= self.real_fraction < 1.0:
            raise ConfigError(f"real_fraction must be in [0, 1), got {self.real_fraction}")
        for name in ("min_confidence", "pool_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.classifier not in ("auto", *CLASSIFIERS):
            try:
                user_classifier(self.classifier)
            except ValueError as e:
                raise ConfigError(str(e)) from e
        for name in ("labels_per_class", "per_class", "classifier_steps", "cas_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        check_name(self.name)

    @property
    def name(self) -> str:
        return self.dataset_name or f"{self.data}-{self.generator}-augment"


@dataclass
class AugmentSteps:
    """The step functions; the flow swaps in Prefect tasks."""

    prepare: Callable[..., dict] = prepare
    # (params, bundle, fingerprint, seed, teacher checkpoint or None) -> {checkpoint, ...}
    train_generator: Callable[..., dict] = None  # type: ignore[assignment]
    export: Callable[..., dict] = export_dataset
    classify: Callable[..., dict] = None  # type: ignore[assignment]
    on_report: Callable[[str, dict], None] | None = None
    map_seeds: SeedMap = serial  # the per-seed work over the seeds (flows/seeds.py)
    # (checkpoint, options, **export_scorer settings) -> the export's scorer
    scorer: Callable[..., Any] = lambda checkpoint, options, **kw: export_scorer(**kw)  # noqa: E731

    def __post_init__(self) -> None:
        self.train_generator = self.train_generator or train_generator
        self.classify = self.classify or downstream_accuracy


def _cache_dir(p: AugmentParams, fingerprint: str, seed: int, epochs: int, kind: str,
               extra: Any = None) -> Path:  # fmt: skip
    model = p.model if kind == p.generator else {}
    parts = [kind, model, fingerprint, seed, epochs]
    # extra (the pool-trained cgan's data) joins the key; without it the key is the one the
    # caches written before that cgan have
    key = json.dumps(parts if extra is None else [*parts, extra], sort_keys=True)
    root = Path(p.cache_dir) if p.cache_dir else DATA_DIR / "cache" / "generators"
    return root / f"{p.data}-{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def train_generator(
    p_dict: dict[str, Any], bundle_path: str, fingerprint: str, seed: int,
    teacher: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train the teacher (the K+1 GAN; teacher None) or, given the teacher's checkpoint, the
    conditional GAN on the labelled images plus the pool as the teacher labels it; resumed,
    or reused from the cache when it finished before."""
    p = AugmentParams.from_dict(p_dict)
    epochs = p.epochs or DEFAULT_EPOCHS.get(p.data, 50)
    run = RunConfig(epochs=epochs, seed=seed, device=p.device, max_minutes=p.max_minutes)
    if teacher is None:
        out = _cache_dir(p, fingerprint, seed, epochs, "ssgan")
        model = p.model if p.generator == "ssgan" else {}
        return train(bundle_path, SSGANConfig().with_overrides(model), run, out, "gan")
    data = pool_data(bundle_path, teacher, p.pool_confidence, _device(p.device))
    gan_epochs = p.epochs or CGAN_EPOCHS
    run = dataclasses.replace(run, epochs=gan_epochs)
    out = _cache_dir(p, fingerprint, seed, gan_epochs, "cgan", data.fingerprint)
    return train_gan(data, make_config(p.data, {**CGAN_DEFAULTS, **p.model}), run, out)


def unlabelled(b: Any) -> torch.Tensor:
    """A (N,) mask of a data bundle's training images outside its labelled subset."""
    pool = torch.ones(len(b.x_train), dtype=torch.bool)
    pool[b.labelled] = False
    return pool


def pool_data(bundle_path: str, teacher: str, min_confidence: float, device: str) -> GANData:
    """The labelled images with their labels and the unlabelled pool's images the teacher
    labels at least min_confidence confidently, with its labels: what the conditional GAN
    learns from."""
    b = load_bundle(bundle_path)
    t = Teacher(teacher, device)
    pool = unlabelled(b)
    y_pool, conf, _ = t.label(b.x_train[pool])
    keep = conf >= min_confidence
    x = torch.cat([b.x_train[b.labelled], b.x_train[pool][keep]])
    y = torch.cat([b.y_train[b.labelled], y_pool[keep]])
    # each pseudo-labelled image counts as much as the teacher is sure of it; a labelled one 1
    weights = torch.cat([torch.ones(len(b.labelled)), conf[keep].float()])
    fp = {**b.fingerprint, "labels": "pseudo", "teacher": file_sha256(teacher),
          "pool_confidence": min_confidence, "pool_kept": int(keep.sum()),
          "weights": "teacher confidence"}  # fmt: skip
    say(f"the teacher labels {int(keep.sum())} of {int(pool.sum())} unlabelled images at "
        f"confidence >= {min_confidence}: the conditional GAN trains on them, each drawn as "
        f"often as the teacher is sure of it, and on the {len(b.labelled)} labelled ones")  # fmt: skip
    return GANData(b.fingerprint.get("source", "bundle"), tuple(b.image_shape), len(x), fp,
                   list(b.class_names), x, y, weights)  # fmt: skip


def downstream_accuracy(
    x: torch.Tensor,
    y: torch.Tensor,
    bundle_path: str,
    num_classes: int,
    min_steps: int,
    seed: int,
    device: str,
    arch: str = "auto",
    max_seconds: float = 60.0,
    what: str = "downstream classifier",
) -> dict[str, Any]:
    """Accuracy on the real test set of the downstream classifier (`arch`; auto: the domain
    classifier, CAS's recipe) trained on (x, y): labels, or class probabilities (N, K)."""
    b = load_bundle(bundle_path)
    recipe = ClassifierTraining(min_steps=min_steps, seed=seed, max_seconds=max_seconds)
    arch = None if arch == "auto" else arch
    acc = accuracy_of_trained(x, y, b.x_test, b.y_test, num_classes, recipe, _device(device),
                              what=what, arch=arch)  # fmt: skip
    return {"accuracy": acc, "train_count": len(x), "recipe": dataclasses.asdict(recipe),
            "classifier": arch or classifier_arch(tuple(x.shape[1:]))}  # fmt: skip


def mix(
    x_real: torch.Tensor,
    y_real: torch.Tensor,
    x_syn: torch.Tensor,
    y_syn: torch.Tensor,
    real_fraction: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and synthetic images in one training set, the (few) real ones repeated so that
    they make about `real_fraction` of it: 100 real images are not drowned by 5,000 fakes.
    Where the synthetic labels are class probabilities (N, K), the real labels join them
    as one-hot rows."""
    if not 0.0 <= real_fraction < 1.0:
        raise ConfigError(f"real_fraction must be in [0, 1), got {real_fraction}")
    repeat = max(1, round(real_fraction / (1 - real_fraction) * len(x_syn) / max(len(x_real), 1)))
    if y_syn.dim() == 2:
        y_real = torch.nn.functional.one_hot(y_real, y_syn.shape[1]).to(y_syn.dtype)
        reps = (repeat, 1)
    else:
        reps = (repeat,)
    return torch.cat([x_real.repeat(repeat, 1, 1, 1), x_syn]), torch.cat(
        [y_real.repeat(*reps), y_syn]
    )


def run_augment(p: AugmentParams, steps: AugmentSteps | None = None) -> dict[str, Any]:
    """Run the pipeline for every seed; returns the summary (also run_dir/summary.json)."""
    p.validate()
    steps = steps or AugmentSteps()
    run_dir = claim_run_dir(p.run_dir, "augment", config=p.to_dict())
    source = p.source_options()

    def one_seed(seed: int) -> dict[str, Any]:
        info = steps.prepare(
            DataSpec(p.data, p.labels_per_class, seed, source=source), run_dir / "data"
        )
        fingerprint = info["fingerprint"]["id"]
        per_class = p.per_class or default_per_class(info)
        teacher = steps.train_generator(p.to_dict(), info["path"], fingerprint, seed, None)
        if p.synthetic:
            trained, exported = (
                {"checkpoint": None},
                existing_version(p.synthetic, info["class_names"], p.datasets_root),
            )
        else:
            trained = teacher
            if p.generator == "cgan":
                trained = steps.train_generator(
                    p.to_dict(), info["path"], fingerprint, seed, teacher["checkpoint"]
                )
            opts = ExportOptions(
                per_class=per_class, seed=seed, balance=p.balance,
                min_confidence=p.min_confidence, select=p.select, oversample=p.oversample,
            )  # fmt: skip
            scorer = steps.scorer(
                trained["checkpoint"], opts, device=_device(p.device), seed=seed,
                cas_min_steps=p.cas_steps, distribution=False, source=source,
            )  # fmt: skip
            exported = steps.export(
                trained["checkpoint"], p.name, opts, p.datasets_root, _device(p.device), scorer,
                teacher=teacher["checkpoint"],
            )  # fmt: skip
        b = load_bundle(info["path"])
        x_lab, y_lab = b.x_train[b.labelled], b.y_train[b.labelled]
        synthetic = load_dataset(exported["path"])
        x_syn, y_syn = synthetic.tensors()
        probs = synthetic.probabilities()
        soft = probs is not None and not p.hard_labels
        if soft:
            y_syn = probs
        t = Teacher(teacher["checkpoint"], _device(p.device))
        pool = unlabelled(b)
        y_pool, _, p_pool = t.label(b.x_train[pool])
        k = b.num_classes
        args = (info["path"], k, p.classifier_steps, seed, p.device, p.classifier,
                p.classifier_seconds)  # fmt: skip
        runs = {
            "real_only_accuracy": (x_lab, y_lab, "real only"),
            "real_plus_pseudo_accuracy": (
                *mix(x_lab, y_lab, b.x_train[pool], p_pool if soft else y_pool, p.real_fraction),
                "real + pseudo-labelled real",
            ),
            "real_plus_synthetic_accuracy": (
                *mix(x_lab, y_lab, x_syn, y_syn, p.real_fraction), "real + synthetic",
            ),
            "synthetic_only_accuracy": (x_syn, y_syn, "synthetic only"),
        }  # fmt: skip
        row: dict[str, Any] = {"seed": seed}
        trained_rows = {}
        for key, (x, y, what) in runs.items():
            trained_rows[key] = steps.classify(x, y, *args, what=f"downstream classifier, {what}")
            row[key] = trained_rows[key]["accuracy"]
        row["teacher_accuracy"] = float((t(b.x_test).argmax(1) == b.y_test).double().mean())
        return {
            "class_names": info["class_names"],
            "row": {
                **row,
                CAS_ACCURACY: exported["metrics"][CAS_ACCURACY],
                "cas_real_accuracy": exported["metrics"][REAL_ACCURACY],
                "export_path": exported["path"],
                "export_version": exported["version"],
                "synthetic_count": exported["count"],
                "per_class": per_class,
                "soft_labels": soft,
                "pseudo_count": int(pool.sum()),
                "generator_checkpoint": trained["checkpoint"],
                "teacher_checkpoint": teacher["checkpoint"],
                "generator_wall_s": trained.get("wall_s"),
                "labelled": len(y_lab),
                "downstream": trained_rows["real_only_accuracy"]["recipe"]
                | {"classifier": trained_rows["real_only_accuracy"]["classifier"]},
            },
        }

    done = steps.map_seeds(one_seed, list(p.seeds))
    rows, info = [d["row"] for d in done], {"class_names": done[-1]["class_names"]}
    summary = _summarise(p, rows, run_dir, info["class_names"])
    pic = class_rows_png(
        rows[0]["export_path"], info["class_names"], run_dir / "exported_samples.png"
    )
    summary["samples_png"] = str(pic)
    write_json(run_dir / "summary.json", summary)
    write_text(run_dir / "report.md", markdown_report(summary, embed=False))
    summary["report"] = str(run_dir / "report.md")
    if steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


def existing_version(
    name_or_path: str, class_names: list[str], root: str | None = None
) -> dict[str, Any]:
    """An exported version to augment with, as export's result would describe it; its classes
    must be the data set's. CAS figures come from its manifest (None when it has none)."""
    from ganflow.tasks.export.reader import read_manifest

    ds = load_dataset(name_or_path, root=root)
    m = read_manifest(ds.path)
    if list(m.get("class_names", [])) != list(class_names):
        raise ExportError(
            f"data set version {ds.path} has classes {m.get('class_names')}; the data set's are "
            f"{class_names}"
        )
    metrics = m.get("metrics") or {}
    return {
        "path": str(ds.path),
        "version": int(ds.path.name[1:]) if ds.path.name[1:].isdigit() else ds.path.name,
        "count": len(ds),
        "metrics": {
            CAS_ACCURACY: metrics.get(CAS_ACCURACY),
            REAL_ACCURACY: metrics.get(REAL_ACCURACY),
        },
    }


def _device(device: str) -> str:
    return str(select_device(device))


def _summarise(
    p: AugmentParams, rows: list[dict], run_dir: Path, class_names: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "data": p.data,
        "generator": p.generator,
        "labels_per_class": p.labels_per_class,
        "seeds": list(p.seeds),
        "per_class": p.per_class or rows[0]["per_class"],
        "dataset_name": p.name,
        "class_names": class_names,
        "run_dir": str(run_dir),
        "per_seed": rows,
        "export_path": rows[-1]["export_path"],
        "export_paths": [r["export_path"] for r in rows],
        "params": p.to_dict(),
    }
    for m in METRICS:
        vals = [r[m] for r in rows]
        mean, std = mean_std(vals) if None not in vals else (None, None)
        out[f"{m}_mean"], out[f"{m}_std"] = mean, std
    out["cas_accuracy"] = out[f"{CAS_ACCURACY}_mean"]
    out["gain_mean"] = out["real_plus_synthetic_accuracy_mean"] - out["real_only_accuracy_mean"]
    out["gap_to_pseudo_mean"] = (
        out["real_plus_pseudo_accuracy_mean"] - out["real_plus_synthetic_accuracy_mean"]
    )
    out["downstream"] = rows[0]["downstream"]
    out["soft_labels"] = all(r["soft_labels"] for r in rows)
    return out


def publish_augment(run_name: str, summary: dict[str, Any]) -> None:
    publish_report_and_seeds(
        markdown_report(summary, embed=True),
        "augment-report",
        f"augmentation run {run_name}",
        summary["per_seed"],
        "augment-per-seed",
        "per-seed accuracies",
    )


@params_flow(AugmentParams, name="augment", log_prints=True)
def augment_flow(p: AugmentParams) -> dict[str, Any]:
    """Train (or reuse) a generator, export a new version of its synthetic data set, and
    measure whether it helps a classifier beside the real labelled images alone."""
    steps = AugmentSteps(
        prepare_task,
        cached_step(
            train_generator, name="train-generator", code=("models", "tasks/train", "tasks/data")
        ),
        task(export_dataset, name="export"),
        task(downstream_accuracy, name="downstream-classifier"),
        publish_augment,
        seed_map(p),
        cached_scorer,
    )
    return run_augment(p, steps)
