"""Pix2PixConfig: the settings of pix2pix (Isola et al. 2017, arXiv 1611.07004), named as in
the paper; the sizes that follow from the image side are resolved by `resolve`."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ganflow.models.config import Config, ConfigError
from ganflow.models.patchgan import resolve_patch

NORMS = ("batch", "instance")


def unet_depth(image_size: int) -> int:
    """Stride-2 levels of the U-Net: halve the side while it stays even, at most 8 (the
    paper's 256 -> 1); 28 -> 2 (7x7 bottleneck), 32 -> 5, 64 -> 6."""
    depth, side = 0, image_size
    while side % 2 == 0 and side > 1 and depth < 8:
        side //= 2
        depth += 1
    return depth


def check_image_size(image_size: int) -> None:
    if image_size < 8 or image_size % 4:
        raise ConfigError(
            f"image side must be a multiple of 4 and at least 8 (28, 32, 64, 256, ...), got {image_size}"
        )


@dataclass
class Pix2PixConfig(Config):
    # generator base channels (the paper's 64); level i has ngf * min(2^i, 8)
    ngf: int = 64
    # discriminator base channels
    ndf: int = 64
    # stride-2 levels of the U-Net; None: from the image side (unet_depth)
    depth: int | None = None
    # stride-2 layers of the PatchGAN; None: the patch nearest 70/256 of the side
    patch_layers: int | None = None
    # patch side the discriminator scores (resolved from patch_layers; stated, not set)
    patch: int | None = None
    # lambda of the L1 term (section 3.1, eq. 4)
    lambda_l1: float = 100.0
    # weight of the cGAN term; 0: the L1-only U-Net of the paper's ablation (no D trained)
    gan_weight: float = 1.0
    # dropout in the decoder layers nearest the bottleneck: G's noise source (section 3.1)
    dropout: float = 0.5
    norm: str = "batch"
    # Adam (section 3.3): lr 2e-4, beta1 0.5
    lr: float = 2e-4
    beta1: float = 0.5
    batch_size: int = 16
    # the learning rates decay linearly to 0 over the second part of the run, from this share
    lr_decay_start: float = 1.0

    def validate(self) -> None:
        if self.norm not in NORMS:
            raise ConfigError(f"norm must be one of {NORMS}, got {self.norm!r}")
        self.require("at least 1", "ngf", "ndf", "depth", "patch_layers", "batch_size")
        self.require("positive", "lr")
        self.require("not negative", "lambda_l1", "gan_weight")
        self.require("in [0, 1)", "dropout", "beta1")
        self.require("in [0, 1]", "lr_decay_start")
        if self.lambda_l1 == 0 and self.gan_weight == 0:
            raise ConfigError("lambda_l1 and gan_weight cannot both be 0: nothing would be learned")


def resolve(cfg: Pix2PixConfig, image_size: int) -> Pix2PixConfig:
    """The config with the sizes that follow from the image side filled in (and checked)."""
    check_image_size(image_size)
    depth = cfg.depth if cfg.depth is not None else unet_depth(image_size)
    if image_size % 2**depth:
        raise ConfigError(
            f"a U-Net of depth {depth} needs a side divisible by {2**depth}, got {image_size}"
        )
    layers, patch = resolve_patch(cfg.patch_layers, image_size)
    return replace(cfg, depth=depth, patch_layers=layers, patch=patch)
