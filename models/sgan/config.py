"""SGANConfig: Stacked Generative Adversarial Networks (Huang, Li, Poursaeed, Hopcroft and
Belongie, CVPR 2017), two levels: x <-E0- h1 <-E1- y bottom-up, y -G1-> h1 -G0-> x top-down.
Weights and rates as the authors' MNIST code (train_independent.py, train_joint.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ganflow.models.config import Config, ConfigError


@dataclass
class SGANConfig(Config):
    # runs saved before ganflow's additions below trained with the paper's recipe
    ADDED: ClassVar[dict[str, Any]] = {
        "minibatch_discrimination": False,
        "class_d1": False,
        "class_weight": 0.0,
    }

    # width of h1, the encoder's feature layer between the image and the class (paper: 256)
    feature_dim: int = 256
    # dimensions of the noise of each level, z_i ~ U(0, 1) (paper: 50 and 50)
    z1_dim: int = 50
    z0_dim: int = 50
    # G0's image stages: channels at the image side, doubling to the smallest map (DCGAN's)
    width: int = 64
    # hidden units of G1's and D1's MLPs (paper: 512 and 256)
    g1_hidden: int = 512
    d1_hidden: int = 256
    # ganflow's additions (False, False and class_weight 0: the paper's recipe). At a CPU
    # budget the entropy loss alone leaves G1 about one feature vector per class and G0 one
    # image per vector, which a per-sample discriminator cannot see (MNIST, 1,500 steps: FID
    # 233, recall 0):
    #   minibatch_discrimination: Salimans et al.'s minibatch features in D0's real/fake head
    #     and the batch's standard deviation (Karras et al.) as one more feature of D1's;
    #   class_d1: D1 judges (h1, y) pairs, a projection of the class onto its features
    #     (Miyato and Koyama 2018), so each class's features must match that class's
    minibatch_discrimination: bool = True
    class_d1: bool = True
    # weight of a class loss on the image, CE(E(G0(.)), y): E reads the class back from G0's
    # image, as cond1 reads it from G1's features (ganflow's; 0: the paper's losses only)
    class_weight: float = 1.0
    # lambda of each loss term of L_G_i = adv + cond + ent (paper section 3.4: 1, 1, 10);
    # D_i's Q head learns z_i with the same entropy weight
    adv_weight: float = 1.0
    cond_weight: float = 1.0
    ent_weight: float = 10.0
    # generators' and discriminators' (with their Q heads') learning rates, Adam with beta1 0.5:
    # DCGAN's 2e-4, which moves further in a CPU budget (the authors' code: 1e-4 for 200 epochs)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    lr_e: float = 1e-3  # the encoder's, while it is trained as a classifier
    beta1: float = 0.5
    batch_size: int = 100
    # steps of the encoder's training as a classifier of the labelled images, before the
    # GANs (the paper pre-trains it; ganflow trains it in the same run); frozen afterwards
    encoder_steps: int = 1000
    # share of the GAN steps (after the encoder's) trained jointly, G0(G1(y, z1), z0) end to
    # end; the rest train each level independently, G0 on the encoder's real h1 (section 3.3)
    joint_share: float = 0.5

    def validate(self) -> None:
        self.require("at least 1", "feature_dim", "z1_dim", "z0_dim", "width", "g1_hidden",
                     "d1_hidden", "batch_size")  # fmt: skip
        self.require(
            "not negative", "adv_weight", "cond_weight", "ent_weight", "class_weight",
            "encoder_steps",
        )  # fmt: skip
        self.require("positive", "lr_g", "lr_d", "lr_e")
        self.require("in [0, 1]", "joint_share")
        if not 0.0 <= self.beta1 < 1.0:
            raise ConfigError(f"beta1 must be in [0, 1), got {self.beta1}")
