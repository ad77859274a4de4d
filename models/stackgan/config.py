"""StackGANConfig: the settings of StackGAN (Zhang et al. 2017, arXiv 1612.03242), named as
in the paper and its appendix; sizes for a Stage-I side and a Stage-II side of 2x or 4x."""

from __future__ import annotations

from dataclasses import dataclass

from ganflow.models.config import Config, ConfigError


@dataclass
class StackGANConfig(Config):
    # side of Stage-I's images (a power of 2, at least 16)
    stage1_size: int = 32
    # Stage-II's side: 2x or 4x Stage-I's
    stage2_size: int = 64
    # dimension of the text embedding phi_t the encoder gives
    embed_dim: int = 384
    # N_g, N_z, N_d of the paper (conditioning, noise, compressed text in D)
    cond_dim: int = 128
    z_dim: int = 100
    d_text_dim: int = 128
    # base channels: Stage-I G starts at 8 * ngf at 4x4, D ends at 8 * ndf at 4x4
    ngf: int = 32
    ndf: int = 32
    # residual blocks of Stage-II's generator (the paper: 2 for 64 -> 256)
    res_blocks: int = 2
    # Stage-II draws a correction to the upsampled Stage-I image (zero at the start, so
    # Stage-II begins where Stage-I ends) instead of a whole new image (the paper)
    stage2_residual: bool = False
    # weight of the text-image matching loss on G (AttnGAN's DAMSM sentence loss, Xu et al.
    # 2018): the text encoder's own image encoder, frozen, must find each caption's image
    # among the batch's; 0 = off (the paper)
    match_weight: float = 0.0
    # weight of an L1 term on Stage-II's G between its image, area-averaged down to Stage-I's
    # side, and the Stage-I image it refines: Stage-II adds detail and keeps the outline
    # (the item) Stage-I drew; 0 = off (the paper)
    stage2_anchor: float = 0.0
    # the matching-aware D's mismatched text: each image's nearest other text in the batch
    # (a hard negative) instead of the next image's (the paper)
    hard_negatives: bool = False
    # the discriminators also project the compressed text onto their image features (a
    # projection discriminator, Miyato & Koyama 2018) besides joining it to them (the paper)
    d_projection: bool = False
    # decay of an exponential moving average of the trained stage's generator weights; the
    # average is what the run is evaluated, sampled and exported with, and what Stage-II
    # refines (Karras et al. 2018, BigGAN); 0 = off (the paper)
    g_ema: float = 0.0
    # weight of the conditioning augmentation's KL per dimension (section 3.1, eq. 3 and 5;
    # the released code's coefficient 2 on the mean over dimensions)
    kl_weight: float = 2.0
    # Adam (section 4): lr 2e-4, beta1 0.5
    lr: float = 2e-4
    beta1: float = 0.5
    batch_size: int = 64

    def validate(self) -> None:
        s1, s2 = self.stage1_size, self.stage2_size
        if s1 < 16 or s1 & (s1 - 1):
            raise ConfigError(f"stage1_size must be a power of 2 of at least 16, got {s1}")
        if s2 not in (2 * s1, 4 * s1):
            raise ConfigError(f"stage2_size must be 2x or 4x stage1_size ({s1}), got {s2}")
        self.require("at least 1", "embed_dim", "cond_dim", "z_dim", "d_text_dim", "ngf", "ndf",
                     "batch_size")  # fmt: skip
        self.require("not negative", "res_blocks", "kl_weight", "match_weight", "stage2_anchor")
        self.require("positive", "lr")
        self.require("in [0, 1)", "beta1", "g_ema")
