"""Flow `text_to_image`: prepare the captions -> the text encoder (cached per data set) ->
StackGAN Stage-I -> Stage-II (Stage-I frozen) -> score both stages beside the real images
-> export a captioned synthetic set (with --export) -> report (captions with Stage-I,
Stage-II and real images). `ganflow text2image generate` draws a grid for a prompt.

`run_text2image(p, steps)` is the flow's body: the Prefect flow passes the @task adapters,
`--no-prefect`, benchmarks and tests the plain functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from prefect import task
from prefect.artifacts import create_markdown_artifact

from ganflow.flows.caching import cached_step
from ganflow.flows.params import params_flow
from ganflow.models.config import Config, ConfigError, param
from ganflow.models.stackgan.config import StackGANConfig
from ganflow.tasks.data.captions import CAPTION_SOURCES, prepare_captions, read_split
from ganflow.tasks.io import claim_run_dir, write_json, write_text
from ganflow.tasks.report.figures import image_grid, save_png
from ganflow.tasks.train.devices import select_device
from ganflow.tasks.train.distributed import check_split
from ganflow.tasks.train.text_encoder import KINDS, EncoderRecipe, cached_encoder
from ganflow.tasks.train.trainer import RunConfig

# The source a cached step's key depends on (flows/caching.py), beside the step's own file.
CODE = ("models/stackgan", "models/text", "tasks/data", "tasks/train", "tasks/evaluate")

# the networks' sizes on the built-in 64x64 set (CPU-sized; the paper's are for 256x256),
# and the settings past the paper that measured better there (benchmarks/README.md)
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "fashion-captions": {
        "ngf": 16,
        "ndf": 16,
        "batch_size": 32,
        "stage2_residual": True,
        "match_weight": 2.0,
        "d_projection": True,
        "stage2_anchor": 10.0,
        "g_ema": 0.999,
    },
}
STAGE_KEYS = ("consistency", "fid", "kid_mean", "is_mean", "r_precision")


@dataclass
class Text2ImageParams(Config):
    data: str = param("fashion-captions", "fashion-captions (built in) | cub (a StackGAN/CUB "
                      "folder) | table (a CSV or JSONL of image, caption)", choices=CAPTION_SOURCES)  # fmt: skip
    data_root: str | None = param(
        None,
        "cub: the folder; table: the CSV/JSONL file; fashion-captions: the Fashion-MNIST files",
    )
    image_size: int = param(64, "Stage-II's side (Stage-I draws at half of it)")
    train_images: int | None = param(20_000, "at most this many training images")
    test_images: int = param(2_000, "at most this many test captions are scored")
    text_encoder: str = param("words", "words (a GRU trained on the captions) | minilm "
                              "(pretrained, frozen; the [minilm] extra)", choices=KINDS)  # fmt: skip
    epochs: int = param(10, "passes over the training images, per stage")
    max_minutes: float | None = param(None, "wall-time budget per stage")
    gpus: int = param(1, "processes per training (torchrun: one per GPU; CPU processes with gloo)")
    stage2_minutes: float | None = param(None, "Stage-II's own budget (default: --max-minutes)")
    seed: int = param(0, "training seed")
    device: str = param("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    settings: dict[str, Any] = param(
        {}, "model setting, e.g. --set ngf=32 --set kl_weight=1", flag="--set"
    )
    export: str | None = param(None, "also export a captioned synthetic set under this name")
    export_images: int = param(1_000, "images in the export (drawn for the test captions in turn)")
    run_dir: str | None = param(None, "run directory (default: a new data/runs/text2image-...)")

    def validate(self) -> None:
        if self.data != "fashion-captions" and not self.data_root:
            raise ConfigError(f"the {self.data} source needs --data-root")
        self.require("at least 1", "epochs", "test_images", "export_images", "train_images")
        self.require("not negative", "seed")
        self.require("positive", "max_minutes", "stage2_minutes")
        s = self.image_size
        if "stage1_size" not in self.settings and (s < 32 or s & (s - 1)):
            raise ConfigError(
                f"--image-size must be a power of 2 of at least 32 (Stage-I draws at half of "
                f"it), got {s}"
            )
        check_split(self.gpus, self.model_config())
        EncoderRecipe(kind=self.text_encoder).validate()

    def model_config(self) -> StackGANConfig:
        s = self.image_size
        sizes = {"stage1_size": s // 2, "stage2_size": s}
        return StackGANConfig().with_overrides(
            {**sizes, **DATA_DEFAULTS.get(self.data, {}), **self.settings}
        )


def encoder_step(data_path: str, kind: str, device: str) -> dict[str, Any]:
    """The data set's text encoder (trained once, cached): {'path', 'info'}."""
    enc = cached_encoder(read_split(data_path), EncoderRecipe(kind=kind), select_device(device))
    return {"path": enc.info["cache"], "info": {k: v for k, v in enc.info.items() if k != "cache"}}


def train_step(
    data_path: str, encoder_path: str, stage: int, model: dict[str, Any], run: RunConfig,
    out_dir: str, stage1: str | None,
) -> dict[str, Any]:  # fmt: skip
    from ganflow.tasks.train.distributed import launch
    from ganflow.tasks.train.text2image import train_stage_file

    payload = {"data_path": data_path, "encoder_path": encoder_path, "stage": stage,
               "model": model, "run": run.to_dict(), "out_dir": out_dir, "stage1": stage1}  # fmt: skip
    if run.gpus > 1:
        return launch("text2image", payload, run.gpus, out_dir)
    return train_stage_file(payload, select_device(run.device))


def score_step(
    data_path: str, checkpoint: str, device: str, max_test: int, seed: int
) -> dict[str, Any]:
    from ganflow.tasks.evaluate.text2image import attribute_reader, score_stages
    from ganflow.tasks.export.captioned import open_text2image

    dev = str(select_device(device))
    split = read_split(data_path)
    run, enc = open_text2image(checkpoint, dev)
    return score_stages(split, run.modules, enc, attribute_reader(split, dev), run.config.z_dim,
                        max_test, seed)  # fmt: skip


def export_step(
    checkpoint: str, data_path: str, name: str, n: int, device: str, seed: int
) -> dict[str, Any]:
    from ganflow.tasks.evaluate.text2image import test_captions
    from ganflow.tasks.export.captioned import CaptionedSource
    from ganflow.tasks.export.writer import export_dataset

    test = read_split(data_path).test
    caps = test_captions(test)
    captions = [caps[i % len(caps)] for i in range(n)]
    cls = test.attributes.get("class")
    labels = [int(cls[i % len(caps)]) for i in range(n)] if cls is not None else None
    src = CaptionedSource(checkpoint, captions, labels, str(select_device(device)), seed)
    return export_dataset(checkpoint, name, source=src)


@dataclass
class Text2ImageSteps:
    prepare: Callable[..., dict] = prepare_captions
    encoder: Callable[..., dict] = encoder_step
    train: Callable[..., dict] = train_step
    score: Callable[..., dict] = score_step
    export: Callable[..., dict] = export_step
    on_report: Callable[[str, dict], None] | None = None


def pictures(examples: dict[str, Any], path: Path) -> Path:
    """Rows of 8 images for 8 test captions: Stage-I (upsampled), Stage-II, real."""
    rows = [examples[k] for k in ("stage1", "stage2", "real") if examples.get(k) is not None]
    return save_png(image_grid(torch.cat(rows), nrow=len(rows[0])), path)


def run_text2image(p: Text2ImageParams, steps: Text2ImageSteps | None = None) -> dict[str, Any]:
    """The flow's body; returns the summary (also in run_dir/metrics.json)."""
    steps = steps or Text2ImageSteps()
    p.validate()
    run_dir = claim_run_dir(p.run_dir, "text2image", f"text2image-{p.data}", p.to_dict())
    info = steps.prepare(p.data, p.data_root, p.image_size, p.train_images, p.test_images)
    enc = steps.encoder(info["path"], p.text_encoder, p.device)
    run = RunConfig(epochs=p.epochs, seed=p.seed, device=p.device, max_minutes=p.max_minutes,
                    gpus=p.gpus)  # fmt: skip
    model = p.model_config().to_dict()
    s1 = steps.train(info["path"], enc["path"], 1, model, run, str(run_dir / "stage1"), None)
    if p.stage2_minutes is not None:
        run = RunConfig(epochs=p.epochs, seed=p.seed, device=p.device,
                        max_minutes=p.stage2_minutes, gpus=p.gpus)  # fmt: skip
    s2 = steps.train(
        info["path"], enc["path"], 2, model, run, str(run_dir / "stage2"), s1["checkpoint"]
    )
    scores = steps.score(info["path"], s2["checkpoint"], p.device, p.test_images, p.seed)
    summary: dict[str, Any] = {"data": p.data}
    for key, trained in (("stage1", s1), ("stage2", s2)):
        summary[key] = {
            **scores[key],
            **{k: trained[k] for k in ("checkpoint", "steps", "wall_s", "images_per_s")},
        }
    summary.update({
        "real": scores["real"], "run_dir": str(run_dir), "checkpoint": s2["checkpoint"],
        "config": model, "device": s2["device"], "text_encoder": enc["info"],
        "protocol": scores["protocol"], "fingerprint": info["fingerprint"], "params": p.to_dict(),
        "captions": scores["examples"]["captions"],
    })  # fmt: skip
    summary["export"] = (
        steps.export(s2["checkpoint"], info["path"], p.export, p.export_images, p.device, p.seed)
        if p.export else None
    )  # fmt: skip
    summary["pictures"] = str(pictures(scores["examples"], run_dir / "samples.png"))
    write_json(run_dir / "metrics.json", summary)
    summary["report"] = str(write_text(run_dir / "report.md", markdown_report(summary)))
    if steps.on_report is not None:
        steps.on_report(run_dir.name, summary)
    return summary


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        return " ".join(f"{k} {x:.3f}" for k, x in v.items())
    return f"{v:.4g}"


def rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("stage1", summary["stage1"]), ("stage2", summary["stage2"]), ("real", summary["real"])]


def table(summary: dict[str, Any]) -> str:
    lines = [f"{summary['data']}: StackGAN, Stage-I {summary['stage1']['steps']} steps, "
             f"Stage-II {summary['stage2']['steps']} steps"]  # fmt: skip
    for name, s in rows(summary):
        lines.append(f"{name:<7} " + "  ".join(f"{k} {_fmt(s.get(k))}" for k in STAGE_KEYS))
    if summary.get("export"):
        lines.append(f"export: {summary['export']['path']} ({summary['export']['count']} images)")
    lines.append(f"report: {summary['report']}")
    return "\n".join(lines)


def markdown_report(summary: dict[str, Any]) -> str:
    out = [f"# StackGAN on {summary['data']}", "",
           "| | " + " | ".join(STAGE_KEYS) + " |", "|---" * (len(STAGE_KEYS) + 1) + "|"]  # fmt: skip
    for name, s in rows(summary):
        out.append(f"| {name} | " + " | ".join(_fmt(s.get(k)) for k in STAGE_KEYS) + " |")
    out += ["", "Rows of the picture, top to bottom: Stage-I (upsampled), Stage-II, real; "
            "columns, left to right, for the captions:", "",
            *[f"{i + 1}. {c}" for i, c in enumerate(summary["captions"])], "",
            "![samples](samples.png)", "",
            f"Features: {summary['protocol']['features']}; test captions: "
            f"{summary['protocol']['test_captions']}; text encoder: {summary['text_encoder'].get('kind')}."]  # fmt: skip
    return "\n".join(out) + "\n"


def publish(run_name: str, summary: dict[str, Any]) -> None:
    from ganflow.tasks.report.figures import png_data_uri

    text = markdown_report(summary).replace("samples.png", png_data_uri(Path(summary["pictures"])))
    create_markdown_artifact(
        text, key="text2image-report", description=f"text2image run {run_name}"
    )


@params_flow(Text2ImageParams, name="text_to_image", log_prints=True)
def text_to_image(p: Text2ImageParams) -> dict[str, Any]:
    """Train StackGAN's two stages on a captioned set and score both beside the real images."""
    return run_text2image(
        p,
        Text2ImageSteps(
            cached_step(prepare_captions, name="prepare-captions", code=CODE),
            cached_step(encoder_step, name="text-encoder", code=CODE),
            cached_step(train_step, name="train", task_run_name="train-stage{stage}", code=CODE),
            cached_step(score_step, name="score-text2image", code=CODE),
            task(export_step, name="export-captioned"),
            publish,
        ),
    )
