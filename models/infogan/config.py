"""InfoGANConfig: the codes, the information term's weight and the networks (Chen et al.
2016, appendix C for the MNIST settings)."""

from __future__ import annotations

from dataclasses import dataclass

from ganflow.models.config import Config, ConfigError

ARCHS = ("auto", "mlp", "conv")


@dataclass
class InfoGANConfig(Config):
    # mlp (images flattened: small ones such as 8x8 digits) | conv (the paper's MNIST
    # networks, sides divisible by 4) | auto: conv from 16 pixels a side, mlp below
    arch: str = "auto"
    # dimension of the incompressible noise z ~ N(0, I) (paper: 62 on MNIST)
    z_dim: int = 62
    # K of the categorical code c_1 ~ Cat(K, 1/K) (paper: 10 on MNIST); 0: none
    categorical: int = 10
    # number of continuous codes c_j ~ U(-1, 1) (paper: 2 on MNIST)
    continuous: int = 2
    # lambda of the information term for the categorical code (paper: 1 for discrete codes)
    info_weight: float = 1.0
    # lambda of the continuous codes' term: smaller, so that its differential-entropy scale
    # does not dominate (paper, section 6: "a smaller lambda for continuous codes")
    continuous_weight: float = 0.1
    # weight of ganflow's graph prior on the categorical code: a cross-entropy that makes
    # Q's code on each real image follow the spectral partition of the training images'
    # nearest-neighbour graph (among scattering features), as the AAE's cluster head learns
    # it; G then draws each value's part of the data. 0: the paper's InfoGAN
    partition_weight: float = 0.0
    # mlp: hidden units of G and D; conv: channels of the first D layer (G mirrors it)
    width: int = 64
    # fully connected layer of the conv networks (paper: 1024)
    fc: int = 1024
    # Adam learning rates (paper: 2e-4 for D, 1e-3 for G) and beta1
    lr_d: float = 2e-4
    lr_g: float = 1e-3
    beta1: float = 0.5
    batch_size: int = 64

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        self.require("at least 1", "z_dim", "width", "fc", "batch_size")
        self.require(
            "not negative", "continuous", "info_weight", "continuous_weight", "partition_weight"
        )
        self.require("positive", "lr_d", "lr_g")
        self.require("in [0, 1)", "beta1")
        if self.categorical == 1 or self.categorical < 0:
            raise ConfigError(
                f"categorical must be 0 (none) or at least 2 values, got {self.categorical}"
            )
        if self.partition_weight and not self.categorical:
            raise ConfigError("partition_weight needs a categorical code (categorical >= 2)")
        if not self.categorical and not self.continuous:
            raise ConfigError("an InfoGAN needs a code: set categorical >= 2 or continuous >= 1")

    @property
    def code_dim(self) -> int:
        """Width of c as G reads it: the one-hot categorical code, then the continuous ones."""
        return self.categorical + self.continuous

    def network(self, side: int) -> str:
        """The arch for images of this side: `auto` resolved."""
        if self.arch != "auto":
            return self.arch
        return "conv" if side >= 16 and side % 4 == 0 else "mlp"
