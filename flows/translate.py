"""Flow `translate`: prepare the two domains -> train pix2pix and its L1-only U-Net (paired),
or CycleGAN (unpaired) -> score each beside the identity mapping on the test images ->
report (input / output / target grids). `ganflow translate apply` runs a trained translator
over a folder.

`run_translate(p, steps)` is the flow's body: the Prefect flow passes the @task adapters,
`--no-prefect`, benchmarks and tests the plain functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from prefect.artifacts import create_markdown_artifact

from ganflow.flows.caching import cached_step
from ganflow.flows.params import param, params_flow
from ganflow.models.config import Config, ConfigError
from ganflow.tasks.data.raw import SourceOptions
from ganflow.tasks.data.translation import (
    BUILT_IN,
    DIRECTIONS,
    TASKS,
    prepare_translation,
    read_translation,
)
from ganflow.tasks.io import claim_run_dir, write_json, write_text
from ganflow.tasks.report.figures import labelled_rows, save_png
from ganflow.tasks.train.devices import select_device
from ganflow.tasks.train.distributed import check_split
from ganflow.tasks.train.trainer import RunConfig
from ganflow.tasks.train.translation import model_config, train

# The source a cached step's key depends on (flows/caching.py), beside the step's own file.
CODE = ("models/pix2pix", "models/cyclegan", "tasks/data", "tasks/train", "tasks/evaluate")

MODELS = ("pix2pix", "cyclegan")
# the networks' sizes on the built-in 28x28 tasks (CPU-sized; the paper's are for 256x256).
# CycleGAN's discriminators see 34x34 patches there, the whole item: with 16x16 patches a
# plain texture passed for B and G hid the item in it for the cycle (benchmarks/README.md)
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "edges2fashion": {"ngf": 64, "ndf": 64, "batch_size": 16},
    # one stride-2 layer and 4 blocks: the paper's generator swaps the items' classes here
    # (benchmarks/README.md)
    "fashion2fashion-m": {
        "ngf": 32,
        "ndf": 32,
        "batch_size": 8,
        "patch_layers": 2,
        "down": 1,
        "blocks": 4,
    },
}
# a folder of photographs trains as the papers do (pix2pix section 6.1 and appendix 6.2,
# CycleGAN section 7.1, their released code): 200 epochs in batches of 1, the learning rate
# constant for the first 100 and then linearly to 0, each image loaded at 286/256 of the side
# and randomly cropped to the side, and flipped
PAPER_EPOCHS = 200
PAPER_JITTER = 286 / 256
FOLDER_DEFAULTS: dict[str, dict[str, Any]] = {
    "pix2pix": {"batch_size": 1, "lr_decay_start": 0.5},
    "cyclegan": {"batch_size": 1, "lr_decay_start": 0.5},
}


def jitter_side(side: int) -> int:
    """The side a folder's training images are loaded at for the random crop: 286 for 256
    (the papers'), 143 -> 144 for 128, 72 for 64 (even, so that a crop can centre)."""
    return 2 * math.ceil(side * PAPER_JITTER / 2)


@dataclass
class TranslateParams(Config):
    model: str = param("pix2pix", "pix2pix (paired) | cyclegan (unpaired)", choices=MODELS)
    data: str = param("edges2fashion", f"task: {' | '.join(TASKS)}")
    data_root: str | None = param(
        None, "folder task: the data set (built-in: the Fashion-MNIST files)"
    )
    image_size: int = param(256, "folder task: the side the networks see (a multiple of 4)")
    load_size: int | None = param(
        None,
        "folder task: load the training images at this side and randomly crop them to "
        "image_size (default: 286/256 of it, the papers' 286 for 256; image_size: no crop)",
    )
    flip: bool | None = param(
        None, "random horizontal flips of the training images (default: on for a folder)"
    )
    direction: str = param(
        "a2b", "a2b: A is the input and B the target; b2a the other way round (facades' "
        "label maps are B: b2a translates them to photos)", choices=DIRECTIONS,
    )  # fmt: skip
    channels: int = param(3, "folder task: 1 = greyscale, 3 = RGB", choices=(1, 3))
    epochs: int | None = param(
        None,
        f"passes over the larger domain's training images (default: the papers' {PAPER_EPOCHS} "
        "for a folder, in batches of 1; 1 for a built-in task)",
    )
    seed: int = param(0, "training seed")
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    max_minutes: float | None = param(None, "wall-time budget per trained model")
    gpus: int = param(1, "processes per training (torchrun: one per GPU; CPU processes with gloo)")
    test_images: int = param(10_000, "at most this many test images are scored")
    settings: dict[str, Any] = param(
        {}, "model setting, e.g. --set lambda_l1=50 --set ngf=32", flag="--set"
    )
    run_dir: str | None = param(None, "run directory (default: a new data/runs/translate-...)")

    def validate(self) -> None:
        if self.data not in TASKS:
            raise ConfigError(f"unknown task {self.data!r}; choose one of: {', '.join(TASKS)}")
        if self.data == "fashion2fashion-m" and self.model == "pix2pix":
            raise ConfigError(
                "fashion2fashion-m is unpaired: pix2pix needs pairs (--model cyclegan)"
            )
        if self.data == "folder" and not self.data_root:
            raise ConfigError("the folder task needs --data-root DIR")
        self.require("at least 1", "epochs", "test_images")
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}"
            )
        self.require("not negative", "seed")
        self.require("positive", "max_minutes")
        if self.load_size is not None and self.load_size < self.image_size:
            raise ConfigError(f"load_size {self.load_size} is below image_size {self.image_size}")
        for kind in self.kinds():
            cfg = model_config(kind, self.model_settings(), self.side())  # checked before any work
            check_split(self.gpus, cfg, what=f"{kind}: ")

    def kinds(self) -> list[str]:
        return ["pix2pix", "l1-unet"] if self.model == "pix2pix" else ["cyclegan"]

    def side(self) -> int:
        return 28 if self.data in BUILT_IN else self.image_size

    def model_settings(self) -> dict[str, Any]:
        defaults = FOLDER_DEFAULTS[self.model] if self.data == "folder" else {}
        return {**defaults, **TASK_DEFAULTS.get(self.data, {}), **self.settings}

    def train_epochs(self) -> int:
        if self.epochs is not None:
            return self.epochs
        return PAPER_EPOCHS if self.data == "folder" else 1

    def stored_side(self) -> int:
        """The side the training images are stored at (the crop's source)."""
        if self.data != "folder":
            return self.side()
        return jitter_side(self.image_size) if self.load_size is None else self.load_size

    def crop(self) -> int | None:
        """The side of the random training crop, None where the images are not cropped."""
        return self.image_size if self.stored_side() > self.side() else None

    def flips(self) -> bool:
        return self.data == "folder" if self.flip is None else self.flip

    def source(self) -> SourceOptions:
        return SourceOptions(
            root=self.data_root, image_size=self.stored_side(), channels=self.channels
        )


def train_kind(
    data_path: str, kind: str, settings: dict[str, Any], run: RunConfig, out_dir: str,
    crop: int | None, flip: bool,
) -> dict[str, Any]:  # fmt: skip
    """One model of the flow on the prepared data file (under torchrun with run.gpus > 1)."""
    if run.gpus > 1:
        from ganflow.tasks.train.distributed import launch

        payload = {"data_path": data_path, "kind": kind, "settings": settings,
                   "run": run.to_dict(), "out_dir": out_dir, "crop": crop, "flip": flip}  # fmt: skip
        return launch("translation", payload, run.gpus, out_dir)
    data = read_translation(data_path)
    cfg = model_config(kind, settings, crop or data.image_size)
    return train(data, kind, cfg, run, out_dir, select_device(run.device), None, crop, flip)


def score_kinds(
    data_path: str, checkpoints: dict[str, str], device: str, max_test: int
) -> dict[str, Any]:
    from ganflow.tasks.evaluate.translation import score_translation

    return score_translation(
        read_translation(data_path), checkpoints, str(select_device(device)), max_test
    )


@dataclass
class TranslateSteps:
    prepare: Callable[..., dict] = prepare_translation
    train: Callable[..., dict] = train_kind
    score: Callable[..., dict] = score_kinds
    on_report: Callable[[str, dict], None] | None = None


# the names the picture's rows carry
ROW_NAMES = {"input": "input", "target": "target", "pix2pix": "pix2pix", "l1-unet": "L1-only U-Net",
             "cyclegan": "translation", "cycle": "reconstruction",
             "reverse": "target -> input's domain"}  # fmt: skip


def row_order(examples: dict[str, torch.Tensor]) -> list[str]:
    """The picture's rows top to bottom: the input, each model's output, the target."""
    return ["input", *(k for k in examples if k not in ("input", "target")), "target"]


def pictures(examples: dict[str, torch.Tensor], path: Path) -> Path:
    """One row of 8 per entry of row_order, each named on its left."""
    rows = [(ROW_NAMES.get(k, k), examples[k]) for k in row_order(examples)]
    return save_png(labelled_rows(rows), path)


def run_translate(p: TranslateParams, steps: TranslateSteps | None = None) -> dict[str, Any]:
    """The flow's body; returns the summary (also in run_dir/metrics.json)."""
    steps = steps or TranslateSteps()
    p.validate()
    run_dir = claim_run_dir(p.run_dir, "translate", f"translate-{p.model}-{p.data}", p.to_dict())
    crop = p.crop()
    info = steps.prepare(p.data, p.model == "pix2pix", p.source(), None, p.direction, crop)
    run = RunConfig(epochs=p.train_epochs(), seed=p.seed, device=p.device, max_minutes=p.max_minutes,
                    gpus=p.gpus)  # fmt: skip
    trained = {
        kind: steps.train(
            info["path"], kind, p.model_settings(), run, str(run_dir / kind), crop, p.flips()
        )
        for kind in p.kinds()
    }
    scores = steps.score(
        info["path"], {k: t["checkpoint"] for k, t in trained.items()}, p.device, p.test_images
    )
    main = trained[p.kinds()[0]]
    summary: dict[str, Any] = {
        "model": p.model,
        "task": p.data,
        **scores["model"],
        "baselines": scores["baselines"],
        **({"reverse": scores["reverse"]} if "reverse" in scores else {}),
        "run_dir": str(run_dir),
        "checkpoints": {k: t["checkpoint"] for k, t in trained.items()},
        "config": main["config"],
        "steps": main["steps"],
        "wall_s": {k: t["wall_s"] for k, t in trained.items()},
        "images_per_s": {k: t["images_per_s"] for k, t in trained.items()},
        "device": main["device"],
        "protocol": scores["protocol"],
        "data": info["fingerprint"],
        "params": p.to_dict(),
    }
    summary["pictures"] = str(pictures(scores["examples"], run_dir / "translations.png"))
    write_json(run_dir / "metrics.json", summary)
    report = markdown_report(summary, row_order(scores["examples"]))
    summary["report"] = str(write_text(run_dir / "report.md", report))
    if steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


def score_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = [(summary["model"], summary)]
    rows += [(name, s) for name, s in summary["baselines"].items()]
    return rows


def score_keys(summary: dict[str, Any]) -> list[str]:
    from ganflow.tasks.evaluate import translation as t

    if summary["model"] == "pix2pix":
        return [t.L1, t.PSNR, t.SSIM, t.FID, t.KID]
    keys = [t.TARGET_RATE, t.SSIM_INPUT, t.FID, t.KID, t.CYCLE_L1]
    if summary.get(t.CONTENT) is not None:  # both domains have classes (the built-in tasks)
        keys += [t.CONTENT, t.CONTENT_REAL_B, t.CONTENT_SOURCE]
    return keys


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"


def table(summary: dict[str, Any]) -> str:
    keys = score_keys(summary)
    lines = [f"{summary['task']}: {summary['model']}, {summary['steps']} steps",
             f"{'model':<10}" + "".join(f"{k:>26}" for k in keys)]  # fmt: skip
    for name, s in score_rows(summary):
        lines.append(f"{name:<10}" + "".join(f"{_fmt(s.get(k)):>26}" for k in keys))
    lines.append(f"report: {summary['report']}")
    return "\n".join(lines)


def markdown_report(summary: dict[str, Any], rows: list[str]) -> str:
    keys = score_keys(summary)
    out = [f"# {summary['model']} on {summary['task']}", "",
           "| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]  # fmt: skip
    for name, s in score_rows(summary):
        out.append(f"| {name} | " + " | ".join(_fmt(s.get(k)) for k in keys) + " |")
    out += ["", f"Rows of the picture, top to bottom: {', '.join(rows)}.", "",
            "![translations](translations.png)", "",
            f"Features: {summary['protocol'].get('features')}; test images: {summary['protocol']['test_images']}; "
            f"training: {summary['steps']} steps, {summary['wall_s']} s."]  # fmt: skip
    return "\n".join(out) + "\n"


def publish(run_name: str, summary: dict[str, Any]) -> None:
    from ganflow.tasks.report.figures import png_data_uri

    text = markdown_report(summary, []).replace(
        "translations.png", png_data_uri(Path(summary["pictures"]))
    )
    create_markdown_artifact(text, key="translate-report", description=f"translate run {run_name}")


@params_flow(TranslateParams, name="translate", log_prints=True)
def translate_flow(p: TranslateParams) -> dict[str, Any]:
    """Train an image-to-image translator (pix2pix or CycleGAN) and score it beside the
    identity mapping (and, for pix2pix, the L1-only U-Net)."""
    return run_translate(
        p,
        TranslateSteps(
            cached_step(prepare_translation, name="prepare-translation", code=CODE),
            cached_step(train_kind, name="train", task_run_name="train-{kind}", code=CODE),
            cached_step(score_kinds, name="score-translation", code=CODE),
            publish,
        ),
    )
