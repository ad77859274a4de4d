"""Flow `export`: a new version of a labelled synthetic data set from a trained run of any
family that makes labelled images, scored into its manifest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact

from ganflow.flows.caching import cached_task
from ganflow.flows.params import params_flow
from ganflow.models.config import Config, ConfigError, param
from ganflow.tasks.export.layout import (
    BALANCES,
    SELECTIONS,
    ExportError,
    ExportOptions,
    check_name,
)
from ganflow.tasks.export.scoring import export_scorer
from ganflow.tasks.export.writer import export_dataset
from ganflow.tasks.train.devices import select_device


@dataclass
class ExportChoice(Config):
    """Which of the generated images an export keeps: the fields `export` and `augment`
    share (a base of their params)."""

    balance: str = param(
        "equal", "equal: per_class of every class | natural: as the labels fall", choices=BALANCES
    )
    select: str = param(
        "drawn",
        "drawn: the images as they come | confident: the most confident of --oversample times "
        "as many | coverage: a farthest-point cover of each class among as many",
        choices=SELECTIONS,
    )
    oversample: int = param(4, "confident / coverage: choose among this many times the images")

    def check_choice(self) -> None:
        opts = ExportOptions(balance=self.balance, select=self.select, oversample=self.oversample)
        try:
            opts.validate()
        except ExportError as e:
            raise ConfigError(str(e)) from e


@dataclass
class ExportParams(ExportChoice):
    checkpoint: str = param(
        "", "a trained run's checkpoint.pt (conditional GAN, K+1 GAN or semi-supervised AAE)"
    )
    name: str = param("", "data set name (letters, digits, '.', '_', '-')")
    per_class: int = param(100, "images per class")
    classes: list[str] | None = param(None, "only these classes (names or indices)")
    min_confidence: float = param(0.0, "keep only samples labelled at least this confidently")
    seed: int = param(0, "sampling seed")
    arrays: bool = param(False, "also write arrays.npz (uint8 images and labels)")
    metrics: bool = param(True, "score the version (CAS, distribution metrics) into its manifest")
    root: str | None = param(
        None, "where data sets are published (default: data/datasets)", flag="--root"
    )
    device: str = param("auto", "device for sampling and scoring: auto | cpu | cuda | cuda:N | mps")
    teacher: str | None = param(
        None,
        "label the images with this run's classifier (a K+1 GAN's checkpoint.pt), keeping "
        "each image's class probabilities",
    )

    def validate(self) -> None:
        self.options().validate()
        if not self.checkpoint:
            raise ConfigError("name the trained run's checkpoint with --checkpoint")
        check_name(self.name)

    def options(self) -> ExportOptions:
        return ExportOptions(
            per_class=self.per_class,
            classes=self.classes,
            balance=self.balance,
            min_confidence=self.min_confidence,
            seed=self.seed,
            arrays=self.arrays,
            select=self.select,
            oversample=self.oversample,
        )


def _score_images(
    x: Any, y: Any, src: Any, checkpoint: str, options: Any, settings: dict[str, Any]
) -> dict[str, Any]:
    settings = {k: v for k, v in settings.items() if k != "teacher"}  # a key, not a setting
    return export_scorer(**settings)(x, y, src)


# An export's scoring (CAS, the distribution metrics) as a cached task: the images it scores
# are a function of the checkpoint, the options (seed included) and the code, so those are
# its key; the images themselves are never hashed.
score_task = cached_task(
    _score_images,
    name="score-export",
    code=("models", "tasks/export", "tasks/evaluate"),
    outputs=("x", "y", "src"),
)


def cached_scorer(checkpoint: str, options: Any, **settings: Any) -> Any:
    """export_scorer(**settings) as a Prefect task cached by checkpoint and options."""

    def score(x: Any, y: Any, src: Any) -> dict[str, Any]:
        return score_task(x, y, src, checkpoint=str(checkpoint), options=options, settings=settings)

    return score


def run_export(
    p: ExportParams, export: Callable[..., dict] = export_dataset, cache: bool = False
) -> dict[str, Any]:
    """The export flow's body: one new version, scored into its manifest unless switched off
    (with cache, the scoring is a cached Prefect task)."""
    p.validate()
    device = str(select_device(p.device))
    scorer = None
    if p.metrics:
        settings = {"device": device, "seed": p.seed}
        scorer = (
            cached_scorer(p.checkpoint, p.options(), **settings, teacher=p.teacher)
            if cache
            else export_scorer(**settings)
        )
    return export(p.checkpoint, p.name, p.options(), p.root, device, scorer, teacher=p.teacher)


@params_flow(ExportParams, name="export", log_prints=True)
def export_flow(p: ExportParams) -> dict[str, Any]:
    """A new version of data set `name` from a trained run (conditional GAN, K+1 GAN or
    semi-supervised AAE), with CAS and the distribution metrics in its manifest."""
    result = run_export(p, task(export_dataset, name="export"), cache=True)
    create_table_artifact(
        [{"class": k, "count": v} for k, v in result["per_class"].items()],
        key="export-counts",
        description=f"{p.name} v{result['version']}: {result['path']}",
    )
    return result
