"""Training StackGAN's two stages on a captioned set with the shared trainer: Stage-I on
(image at the Stage-I side, caption embedding), then Stage-II with Stage-I's generator
loaded from its checkpoint and frozen (section 3.2). Each image is paired with one of its
captions, drawn per step; batch t is a pure function of (seed, t), so a run killed at any
moment resumes and ends where an unbroken run ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ganflow.models.config import ConfigError
from ganflow.models.engine import Batch, IndexStream, steps_for
from ganflow.models.image_batches import to_unit
from ganflow.models.stackgan import objective
from ganflow.models.stackgan.config import StackGANConfig
from ganflow.models.stackgan.nets import build_models
from ganflow.models.stackgan.sampling import generator_weights
from ganflow.tasks.data.captions import CaptionSplit, pick_captions
from ganflow.tasks.io import file_sha256
from ganflow.tasks.train.checkpoint import load_checkpoint
from ganflow.tasks.train.text_encoder import TextEncoder
from ganflow.tasks.train.trainer import ProgressHook, RunConfig, Setup, run_training

STAGES = (1, 2)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, S, S) -> uint8 (N, C, size, size): area averaging down, bilinear up."""
    if x.shape[-1] == size:
        return x
    mode = "area" if size < x.shape[-1] else "bilinear"
    y = F.interpolate(x.float(), size=(size, size), mode=mode)
    return y.round().clamp(0, 255).to(torch.uint8)


def caption_table(split: CaptionSplit, enc: TextEncoder) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings (sum of captions, E) of every training caption, in image order; offsets
    (N + 1,) of each image's first caption)."""
    flat, offsets = split.train.flat()
    return enc.encode(flat), offsets


def batches(
    images: dict[int, torch.Tensor], phi: torch.Tensor, offsets: torch.Tensor,
    cfg: StackGANConfig, seed: int,
) -> Any:  # fmt: skip
    """step -> {'x1', 'x2' (real images in [-1, 1] at each stage's side), 'phi' (N, E) of one
    caption per image, 'z' (N, z_dim)}."""
    stream = IndexStream(len(offsets) - 1, cfg.batch_size, seed * 7 + 5)
    device = images[1].device

    def batch(step: int) -> Batch:
        g = torch.Generator().manual_seed((seed * 1_000_003 + step) * 13 + 3)
        i = stream(step)
        pick = pick_captions(offsets, i, g)
        z = torch.randn(len(i), cfg.z_dim, generator=g)
        dev = i.to(device)
        return {"x1": to_unit(images[1][dev]), "x2": to_unit(images[2][dev]),
                "phi": phi[pick].to(device), "z": z.to(device)}  # fmt: skip

    return batch


def stage_record(cfg: StackGANConfig, run: RunConfig, split: CaptionSplit, stage: int,
                 total: int, stage1: str | None) -> dict[str, Any]:  # fmt: skip
    side = cfg.stage1_size if stage == 1 else cfg.stage2_size
    return {"family": "stackgan", "kind": f"stackgan-stage{stage}", "stage": stage,
            "model": cfg.to_dict(), "seed": run.seed, "total_steps": total,
            "data": split.fingerprint["id"], "data_name": split.train.name,
            "image_shape": [3, side, side],
            "stage1_sha256": file_sha256(stage1) if stage1 else None}  # fmt: skip


def setup(
    split: CaptionSplit, enc: TextEncoder, cfg: StackGANConfig, run: RunConfig, stage: int,
    device: torch.device, stage1_checkpoint: str | None = None,
) -> Setup:  # fmt: skip
    """Stage `stage`'s networks, phases and run record; stage 2 loads G1 from the Stage-I
    checkpoint (its hash is in the record: another Stage-I cannot be resumed over), its
    average's weights where Stage-I kept one (g_ema)."""
    cfg.validate()
    if stage not in STAGES:
        raise ConfigError(f"stage must be 1 or 2, got {stage}")
    if stage == 2 and not stage1_checkpoint:
        raise ConfigError("Stage-II needs the Stage-I checkpoint it refines")
    if enc.dim != cfg.embed_dim:
        raise ConfigError(
            f"the text encoder gives {enc.dim} dimensions, the config expects {cfg.embed_dim}"
        )
    data = torch.from_numpy(split.train.images)
    if data.shape[-1] != cfg.stage2_size:
        data = resize(data, cfg.stage2_size)
    images = {1: resize(data, cfg.stage1_size).to(device), 2: data.to(device)}
    phi, offsets = caption_table(split, enc)
    models = {k: m.to(device) for k, m in build_models(cfg, run.seed).items()}
    if stage == 2:
        state = load_checkpoint(stage1_checkpoint, map_location=device, family="stackgan")["state"]  # type: ignore[arg-type]
        models["G1"].load_state_dict(generator_weights(state, 1))
    total = steps_for(run.epochs, len(data), cfg.batch_size)
    matcher = enc.image_matcher() if cfg.match_weight > 0 else None
    training = objective.build_training(
        models,
        cfg,
        batches(images, phi, offsets, cfg, run.seed + 100 * stage),
        total,
        stage,
        matcher,
        enc.recipe.temperature,
    )
    torch.manual_seed(run.seed + 100 * stage)  # conditioning noise: checkpointed from here
    record = stage_record(cfg, run, split, stage, total, stage1_checkpoint)
    extra = {"text_encoder": enc.state(), "fingerprint": split.fingerprint,
             "class_names": split.train.vocab.get("class", []),
             "caption_vocab": split.train.vocab}  # fmt: skip
    return Setup(f"stackgan-stage{stage}", models, training, total, record, extra,
                 batch_size=cfg.batch_size, hint="Try a lower learning rate (--set lr=...).")  # fmt: skip


def train_stage(
    split: CaptionSplit, enc: TextEncoder, cfg: StackGANConfig, run: RunConfig, stage: int,
    out_dir: str | Path, device: torch.device, stage1_checkpoint: str | None = None,
    progress: ProgressHook | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train (or resume, or reuse a finished) stage in out_dir."""
    s = setup(split, enc, cfg, run, stage, device, stage1_checkpoint)
    from ganflow.tasks.train.distributed import distribute, rank_world

    if rank_world()[1] > 1:  # inside a torchrun process (train_rank)
        s.training.grad_sync = distribute(s.models, {})
    _, result = run_training(s, run, out_dir, device, progress)
    return {**result, "stage": stage, "config": s.record["model"]}


def train_stage_file(p: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """train_stage from files: {data_path, encoder_path, stage, model, run, out_dir, stage1}."""
    from ganflow.tasks.data.captions import read_split

    enc = TextEncoder.from_state(
        torch.load(p["encoder_path"], map_location="cpu", weights_only=True), device
    )
    run = RunConfig.from_dict(p["run"]) if isinstance(p["run"], dict) else p["run"]
    cfg = StackGANConfig.from_dict(p["model"])
    return train_stage(read_split(p["data_path"]), enc, cfg, run, p["stage"], p["out_dir"],
                       device, p["stage1"])  # fmt: skip


def train_rank(payload: dict[str, Any]) -> dict[str, Any]:
    """One rank of a stage's training spread over processes (tasks/train/distributed.py)."""
    from ganflow.tasks.train.distributed import rank_device

    return train_stage_file(payload, rank_device(payload["run"]["device"]))
