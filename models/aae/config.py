"""The adversarial autoencoder's settings (Makhzani et al. 2015, arXiv 1511.05644); the
phases they switch on are described in objective.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ganflow.models.config import Config, ConfigError

PRIORS = ("gaussian", "mixture")
HEAD_INITS = ("none", "spectral")
FRONTENDS = ("auto", "pixels", "scattering")


@dataclass
class AAEConfig(Config):
    clusters: int = 16  # K, size of the categorical head y (0: no y, z is the whole code)
    z_dim: int = 2  # d, size of the style code z (2 for the scatter plot of section 7)
    prior: str = "gaussian"  # prior of z: gaussian | mixture (10 Gaussians on a circle, Fig. 4)
    prior_std: float = (
        1.0  # std of the Gaussian prior (and of each mixture component's radius unit)
    )
    label_conditioned: bool = (
        False  # mixture prior: labelled codes are matched to their class's component
    )
    hidden: int = 1000  # width of the two hidden layers of every network (the paper's MNIST nets)
    lr_recon: float = 1e-3  # Adam, reconstruction (and supervised) phase
    lr_reg: float = 2e-4  # Adam, generator phase (the encoder against the discriminators)
    lr_disc: float = (
        5e-5  # Adam, discriminator phase: slower than the encoder, or D_y wins outright
    )
    beta1: float = 0.5  # Adam beta1 of the adversarial phases
    batch_size: int = 100  # unlabelled batch size
    labelled_batch_size: int = 100  # labelled batch size (semi-supervised mode)
    input_noise: float = 0.3  # std of Gaussian noise on the encoder input in training (denoising)
    supervised_weight: float = 1.0  # weight of the cross-entropy phase (semi-supervised mode)
    # D_y sees batch statistics (minibatch discrimination, Salimans et al. 2016, 3.2)
    y_minibatch_discrimination: bool = True
    y_instance_noise: float = 0.1  # std of Gaussian noise on D_y's real and fake inputs
    straight_through: bool = False  # D_y sees one-hot argmax codes, y's gradient flows back
    y_logit_bound: float = 0.0  # B > 0: y = softmax(B tanh(logits / B)), prior softmax(+-B)
    neighbours: int = 20  # k of the neighbour-consistency phase (0: off; needs a cluster head)
    neighbour_dims: int = 50  # pixels front end: neighbours among PCA projections of this many dims
    # what the encoder sees: "pixels", or "scattering" (whitened log-scattering coefficients,
    # a fixed translation- and deformation-stable front end; neighbours are found among them);
    # "auto": scattering where the images allow it (sides divisible by 4), else pixels
    frontend: str = "auto"
    # the image networks: "mlp" (the paper's), "conv" (a stride-2 conv encoder on pixels and a
    # transposed-conv decoder, models/stages.py), "auto": mlp up to 32 pixels, conv above
    arch: str = "auto"
    frontend_dims: int = 100  # scattering front end: whitened principal components kept
    consistency_weight: float = 1.0  # weight of -log <y(x), y(neighbour)>
    balance_weight: float = 1.0  # weight of log K - H(mean y): keeps every cluster in use
    # the cluster head learns a partition of the neighbour graph ("init" phase,
    # cross-entropy) beside the other phases, for head_init_epochs (None: the whole run,
    # since after an early stop the SCAN phase drifts back towards its own, worse partition:
    # benchmarks/README.md): in the clustering mode its spectral partition, in the
    # semi-supervised mode the labels spread from the labelled images over it (Zhou et al.
    # 2004, graph_alpha; each image takes its likeliest class); "none": no such target
    head_init: str = "spectral"
    head_init_epochs: float | None = None
    graph_alpha: float = 0.95  # how far the labels spread (semi-supervised head_init)

    @property
    def uses_neighbours(self) -> bool:
        """The nbr phase runs (and needs a neighbour table) only with a cluster head."""
        return bool(self.clusters and self.neighbours)

    @property
    def uses_head_init(self) -> bool:
        """The init phase runs (and needs data['init_labels']) with a cluster head and the
        neighbour graph it is partitioned from."""
        return self.uses_neighbours and self.head_init != "none" and self.head_init_epochs != 0

    def resolved(self, image_shape: tuple[int, ...]) -> AAEConfig:
        """This config with frontend and arch "auto" settled for images of image_shape
        (C, H, W)."""
        h, w = image_shape[-2:]
        out = self
        if self.arch == "auto":
            out = dataclasses.replace(out, arch="conv" if min(h, w) > 32 else "mlp")
        if self.frontend == "auto":
            from ganflow.models.scattering import front_fits

            ok = front_fits(image_shape)
            out = dataclasses.replace(out, frontend="scattering" if ok else "pixels")
        return out

    def validate(self) -> None:
        if self.clusters < 0 or self.clusters == 1:
            raise ConfigError(
                f"clusters must be 0 (no categorical code) or at least 2, got {self.clusters}"
            )
        if self.neighbours < 0 or self.neighbour_dims < 1:
            raise ConfigError(
                f"neighbours must be >= 0 and neighbour_dims >= 1, got {self.neighbours}, {self.neighbour_dims}"
            )
        if self.head_init not in HEAD_INITS or (self.head_init_epochs or 0) < 0:
            raise ConfigError(
                f"head_init must be one of {HEAD_INITS} and head_init_epochs >= 0, got {self.head_init!r}, {self.head_init_epochs}"
            )
        if self.arch not in ("auto", "mlp", "conv"):
            raise ConfigError(f"arch must be auto, mlp or conv, got {self.arch!r}")
        if self.frontend not in FRONTENDS:
            raise ConfigError(f"frontend must be one of {FRONTENDS}, got {self.frontend!r}")
        if self.frontend_dims < 1:
            raise ConfigError(f"frontend_dims must be at least 1, got {self.frontend_dims}")
        if self.z_dim < 1:
            raise ConfigError(f"z_dim must be at least 1, got {self.z_dim}")
        if self.prior not in PRIORS:
            raise ConfigError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        self.require("at least 1", "hidden", "batch_size", "labelled_batch_size")
        if not 0.0 < self.graph_alpha < 1.0:
            raise ConfigError(f"graph_alpha must be in (0, 1), got {self.graph_alpha}")
        self.require("positive", "lr_recon", "lr_reg", "lr_disc", "prior_std")
        self.require("not negative", "input_noise", "y_instance_noise", "y_logit_bound", "supervised_weight",
                     "consistency_weight", "balance_weight")  # fmt: skip
        self.require("in [0, 1)", "beta1")
        if self.prior == "mixture" and self.z_dim != 2:
            raise ConfigError("the mixture-of-Gaussians prior is defined in 2-D: set z_dim=2")
