"""CycleGANConfig: the settings of CycleGAN (Zhu et al. 2017, arXiv 1703.10593), named as in
the paper; the sizes that follow from the image side are resolved by `resolve`."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ganflow.models.config import Config, ConfigError
from ganflow.models.patchgan import resolve_patch
from ganflow.models.pix2pix.config import check_image_size

UPSAMPLE = ("deconv", "resize")


@dataclass
class CycleGANConfig(Config):
    # generator base channels (the paper's 64)
    ngf: int = 64
    # discriminator base channels
    ndf: int = 64
    # stride-2 layers of the generators (the paper: 2). Fewer keep the generators' view
    # local, so a translation can recolour an item but hardly redraw it as another item
    down: int = 2
    # the generators' upsampling: "deconv", the paper's stride-1/2 transposed convs, or
    # "resize", nearest-neighbour 2x then a 3x3 conv (Odena et al. 2016, "Deconvolution and
    # checkerboard artifacts"): no uneven overlap, so no checkerboard on photographs
    upsample: str = "deconv"
    # residual blocks of the generators; None: 6 below 256x256, 9 from 256 (section 7.2)
    blocks: int | None = None
    # stride-2 layers of the PatchGAN; None: the patch nearest 70/256 of the side
    patch_layers: int | None = None
    # patch side the discriminators score (resolved from patch_layers; stated, not set)
    patch: int | None = None
    # lambda of the cycle-consistency loss (section 4, eq. 3)
    lambda_cycle: float = 10.0
    # weight of the identity loss, as a share of lambda_cycle (section 5.2: 0.5 lambda)
    lambda_identity: float = 0.5
    # std of Gaussian noise on each translated image before it is translated back for the
    # cycle term: CycleGAN can hide the source in a faint signal and draw anything visible
    # (Chu et al. 2017); noise makes the content survive in what the eye sees. 0 = off
    cycle_noise: float = 0.0
    # replay pool of earlier fakes per discriminator (section 4, Shrivastava et al.)
    pool_size: int = 50
    # Adam: lr 2e-4, beta1 0.5; constant for the first share of the run, then linear to 0
    lr: float = 2e-4
    beta1: float = 0.5
    lr_decay_start: float = 0.5
    batch_size: int = 1

    def validate(self) -> None:
        self.require("at least 1", "ngf", "ndf", "blocks", "patch_layers", "batch_size")
        self.require("positive", "lr")
        self.require(
            "not negative", "down", "lambda_cycle", "lambda_identity", "pool_size", "cycle_noise"
        )
        self.require("in [0, 1)", "beta1")
        self.require("in [0, 1]", "lr_decay_start")
        if self.upsample not in UPSAMPLE:
            raise ConfigError(f"upsample must be one of {UPSAMPLE}, got {self.upsample!r}")


def resolve(cfg: CycleGANConfig, image_size: int) -> CycleGANConfig:
    """The config with the sizes that follow from the image side filled in (and checked)."""
    check_image_size(image_size)
    if image_size % 2**cfg.down:
        raise ConfigError(
            f"down={cfg.down} halves the side {cfg.down} times: {image_size} is not divisible "
            f"by {2**cfg.down}"
        )
    blocks = cfg.blocks if cfg.blocks is not None else (9 if image_size >= 256 else 6)
    layers, patch = resolve_patch(cfg.patch_layers, image_size)
    return replace(cfg, blocks=blocks, patch_layers=layers, patch=patch)
