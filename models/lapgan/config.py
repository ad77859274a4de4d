"""LAPGANConfig: the pyramid and its generator / discriminator pairs (Denton et al. 2015,
section 4: a small MLP pair at the coarsest level, convolutional pairs above it)."""

from __future__ import annotations

from dataclasses import dataclass

from ganflow.models.config import Config, ConfigError


@dataclass
class LAPGANConfig(Config):
    # pyramid levels: 3 takes 28 -> 14 -> 7 and 32 -> 16 -> 8 (the paper's CIFAR-10 pyramid)
    levels: int = 3
    # noise of the coarsest generator (an MLP on the flattened coarse image)
    z_dim: int = 64
    # hidden units of the coarsest pair; channels of the convolutional pairs
    hidden: int = 256
    channels: int = 32
    lr: float = 2e-4  # Adam, both players of every level
    beta1: float = 0.5
    batch_size: int = 64

    def validate(self) -> None:
        self.require("at least 1", "z_dim", "hidden", "channels", "batch_size")
        self.require("positive", "lr")
        self.require("in [0, 1)", "beta1")
        if self.levels < 2:
            raise ConfigError(f"levels must be at least 2 (one is a plain GAN), got {self.levels}")
