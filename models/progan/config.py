"""ProGANConfig: the growth schedule, the networks' width and the loss (Karras et al. 2018,
appendix A: WGAN-GP with a drift term, Adam lr 1e-3, beta1 0, beta2 0.99)."""

from __future__ import annotations

from dataclasses import dataclass

from ganflow.models import losses
from ganflow.models.config import Config, ConfigError


@dataclass
class ProGANConfig(Config):
    z_dim: int = 128  # noise dimension (pixel-normalised at G's input)
    channels: int = 32  # feature maps at every resolution (the paper: 512 down to 16)
    # the adversarial loss of the zoo (the paper: wgan-gp with n_critic 1)
    loss: str = "wgan-gp"
    penalty_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp)
    drift: float = 1e-3  # epsilon_drift * E D(x)^2 keeps a WGAN critic near 0 (appendix A.1)
    # the share of each growth stage spent fading the new layers in (alpha 0 -> 1); the rest
    # of the stage trains at alpha 1 (the paper: 800k images each)
    fade: float = 0.5
    group: int = 4  # minibatch standard deviation over groups of this many samples
    lr: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99
    batch_size: int = 64

    def validate(self) -> None:
        self.require("at least 1", "z_dim", "channels", "group", "batch_size")
        self.require("positive", "lr")
        self.require("not negative", "penalty_weight", "drift")
        self.require("in [0, 1)", "beta1", "beta2")
        self.require("in [0, 1]", "fade")
        if self.loss not in losses.LOSSES:
            raise ConfigError(f"loss must be one of {sorted(losses.LOSSES)}, got {self.loss!r}")
