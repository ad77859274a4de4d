"""The K+1-class semi-supervised GAN's settings (Salimans et al. 2016), with the defaults
that differ by architecture and `resolve`, which settles them for an image size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ganflow.models.config import Config, ConfigError
from ganflow.models.stages import check_side

# the defaults by image side; any other side takes a conv net that follows the side
ARCH_BY_SIZE = {8: "mlp8", 28: "mlp28"}
ARCH_IMAGE_SIZE = {"mlp28": 28, "mlp8": 8, "mlp8s": 8, "conv28": 28, "conv28s": 28, "conv32": 32,
                   "conv8": 8}  # fmt: skip
# conv: the paper's CIFAR-10 all-conv D (96 then 192 channels, stride-2 stages down to 8x8) and
# its transposed-conv G, at any side; convs: a narrow strided conv D (32 channels at the side,
# doubling to 256) and a DCGAN-style G, a useful rate on a CPU (models/stages.py); scat: a
# hybrid D, fixed scattering maps then a small conv net (Oyallon et al. 2017), with convs's G
SIDE_ARCHS = ("conv", "convs", "scat")
ARCHS = (*ARCH_IMAGE_SIZE, *SIDE_ARCHS)
AUGMENTS = ("none", "shift", "shift-flip")


@dataclass
class SSGANConfig(Config):
    # mlp28 | mlp8 | mlp8s | conv28 | conv28s | conv32 | conv8 | conv | convs | scat; auto
    # picks by size and device: mlp8 at 8, mlp28 at 28, else conv on a GPU and scat on a CPU
    # (convs below 16 pixels)
    arch: str = "auto"
    z_dim: int = 100  # generator noise size, z ~ U(0, 1)
    feature_matching: bool = True  # G: ||E f(x) - E f(G(z))||^2 (sec. 3.1); else non-saturating
    minibatch_discrimination: bool = False  # minibatch features before D's output (sec. 3.2)
    mbd_kernels: int = 50  # B, number of minibatch kernels (sec. 3.2)
    mbd_kernel_dim: int = 5  # C, dimension of each kernel (sec. 3.2)
    historical_averaging: float = 0.0  # weight of ||theta - mean_t theta_t||^2 (sec. 3.3); 0 = off
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - alpha (sec. 3.4); 0 = off
    virtual_batch_norm: bool = True  # VBN in G, fixed reference batch (sec. 3.5); else BN
    vbn_reference_size: int = 100  # size of the VBN reference batch
    weight_norm: bool = True  # weight-normalised D layers, as in the released models
    # the weight-norm scales g of D's hidden layers stay at their initial values (those of
    # the data-dependent initialisation): the released MNIST code trains only the output
    # layer's scale (its DenseLayer's train_scale=False), so the logits' scale is the head's
    frozen_scales: bool = False
    # weight norm's data-dependent initialisation of D on unlabelled images (Salimans &
    # Kingma 2016, section 3, as the released code does); None: the arch's default (on for
    # the conv nets, whose depth shrinks the activations of a default initialisation)
    data_init: bool | None = None
    input_noise: float | None = None  # std of Gaussian noise on D's input (None: arch default)
    hidden_noise: float | None = None  # std of Gaussian noise on D's hidden layers
    # std of Gaussian noise on D's features before its classifier head (the released MNIST
    # network has 0.5 there: noise after every hidden layer); 0: none. Feature matching
    # reads the features before it
    head_noise: float = 0.0
    input_dropout: float | None = None  # dropout rate on D's input
    dropout: float | None = None  # dropout rate on D's hidden layers
    unsupervised_weight: float = 1.0  # w, weight of L_unsupervised in D's loss
    lr_d: float | None = None  # Adam learning rate of D (None: the arch's default)
    lr_g: float | None = None  # Adam learning rate of G
    beta1: float = 0.5  # Adam beta1, as in the released code
    batch_size: int = 100  # unlabelled and generated batch size
    labelled_batch_size: int = 100  # labelled batch size (the labelled set repeats within it)
    lr_decay_start: float = 0.66  # fraction of training after which lr decays linearly to 0
    ema_decay: float = 0.0  # EMA of D's weights for evaluation (warmed up); 0 = off
    # real batches shifted (and flipped): none | shift | shift-flip; None: the arch's default
    # (shift-flip for scat, whose precomputed maps then hold each image and its mirror image;
    # none for the others)
    augment: str | None = None
    aug_shift: int | None = None  # the largest shift in pixels each way (None: side // 14, >= 1)
    consistency: float = 0.0  # weight of the class-posterior consistency on unlabelled images
    entropy_weight: float = 0.0  # weight of the conditional entropy on unlabelled images
    # weight of the class-posterior consistency between each unlabelled image and one of its
    # nearest neighbours (the graph LabelSpreading propagates labels along); 0 = off
    neighbour_weight: float = 0.0
    neighbour_k: int = 10  # neighbours per image, among PCA projections of the pixels
    neighbour_dims: int = 50  # principal components the neighbours are found among
    # weight of the cross-entropy toward labels spread from the labelled images over the
    # k-nearest-neighbour graph of the images' scattering features (Zhou et al. 2004's label
    # spreading; Iscen et al. 2019 train on such labels), on unlabelled images; 0 = off;
    # None: GRAPH_WEIGHT
    graph_weight: float | None = None
    graph_k: int = 20  # neighbours per image in that graph
    # label spreading's alpha, in (0, 1): how far labels spread; None: the alpha of
    # graph_alpha_grid whose spread labels are the most often right on labelled images held
    # out of the spreading (3-fold cross-validation on the labelled images alone)
    graph_alpha: float | None = None
    graph_alpha_grid: list[float] = field(default_factory=lambda: [0.95, 0.99])
    # edge weights: the cosine similarity of the two images' features to this power (Iscen
    # et al. 2019); 0: every edge weighs 1
    graph_gamma: float = 3.0
    graph_dims: int = 100  # whitened principal components of the scattering coefficients
    graph_certainty: bool = True  # weigh each spread label by its certainty (Iscen et al.)
    # class mass normalisation of the spread labels (Zhu et al. 2003): each class's total
    # over the images is its share of the labelled images
    graph_class_mass: bool = False
    # trainings in all: each after the first spreads the labels together with the previous
    # training's class predictions (Iscen et al.'s alternation, on the fixed graph)
    graph_rounds: int = 2
    # the later rounds find the neighbours again among the scattering features joined with
    # the previous round's D features (Iscen et al. build their graph on the network's
    # features) and spread the labels alone over that graph; false: the first graph, the
    # labels spread together with the previous round's predictions (graph_prior_alpha)
    graph_rebuild: bool = True
    # label spreading's alpha for those predictions: they already cover every image, so
    # they are only smoothed over near neighbours, not spread far
    graph_prior_alpha: float = 0.5

    def validate(self) -> None:
        if self.arch != "auto" and self.arch not in ARCHS:
            raise ConfigError(
                f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}"
            )
        if self.augment is not None and self.augment not in AUGMENTS:
            raise ConfigError(f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        self.require("at least 1", "z_dim", "batch_size", "labelled_batch_size", "mbd_kernels",
                     "mbd_kernel_dim", "vbn_reference_size", "neighbour_k", "neighbour_dims", "graph_k",
                     "graph_dims", "graph_rounds")  # fmt: skip
        self.require("not negative", "lr_d", "lr_g", "input_noise", "hidden_noise", "historical_averaging",
                     "unsupervised_weight", "aug_shift", "head_noise", "consistency", "entropy_weight",
                     "neighbour_weight", "graph_weight", "graph_gamma")  # fmt: skip
        self.require(
            "in [0, 1)", "input_dropout", "dropout", "label_smoothing", "ema_decay", "beta1"
        )
        alphas = {"graph_alpha": self.graph_alpha, "graph_prior_alpha": self.graph_prior_alpha}
        alphas.update({f"graph_alpha_grid[{i}]": a for i, a in enumerate(self.graph_alpha_grid)})
        for name, value in alphas.items():
            if value is not None and not 0.0 < value < 1.0:
                raise ConfigError(f"{name} must be in (0, 1), got {value}")
        if not self.graph_alpha_grid:
            raise ConfigError("graph_alpha_grid must hold at least one alpha")
        if not 0.0 <= self.lr_decay_start <= 1.0:
            raise ConfigError(f"lr_decay_start must be in [0, 1], got {self.lr_decay_start}")


GRAPH_WEIGHT = 1.0  # graph_weight's default (benchmarks/README.md has the measurements)


# Defaults that differ by architecture: the MLP and CIFAR values are the released code's.
ARCH_DEFAULTS: dict[str, dict[str, float | str]] = {
    "mlp28": dict(
        input_noise=0.3, hidden_noise=0.5, input_dropout=0.0, dropout=0.0, lr_d=0.003, lr_g=0.003
    ),
    "conv28": dict(
        input_noise=0.3, hidden_noise=0.3, input_dropout=0.0, dropout=0.0, lr_d=0.001, lr_g=0.001
    ),
    "conv8": dict(
        input_noise=0.2, hidden_noise=0.3, input_dropout=0.0, dropout=0.0, lr_d=0.001, lr_g=0.001
    ),
    "conv32": dict(
        input_noise=0.0, hidden_noise=0.0, input_dropout=0.2, dropout=0.5, lr_d=0.0003, lr_g=0.0003,
        data_init=True,
    ),
    "convs": dict(
        input_noise=0.1, hidden_noise=0.2, input_dropout=0.0, dropout=0.2, lr_d=0.0006, lr_g=0.0006,
        data_init=True,
    ),
    "scat": dict(
        input_noise=0.0, hidden_noise=0.0, input_dropout=0.2, dropout=0.3, lr_d=0.0003, lr_g=0.0003,
        data_init=True, augment="shift-flip", graph_weight=0.0,
    ),
}  # fmt: skip
ARCH_DEFAULTS["conv"] = ARCH_DEFAULTS["conv32"]  # the same network at other sides
ARCH_DEFAULTS["conv28s"] = ARCH_DEFAULTS["conv28"]
ARCH_DEFAULTS["mlp8"] = ARCH_DEFAULTS["mlp28"]  # the same model on 8x8 inputs
ARCH_DEFAULTS["mlp8s"] = ARCH_DEFAULTS["mlp28"]  # and its narrower version


SCAT_SMALLEST = 16  # the smallest side the scat arch takes (its maps are a quarter of it)


def default_arch(image_size: int, accelerated: bool) -> str:
    """mlp8 at 8, mlp28 at 28; at other sides the paper's conv net on an accelerator, and on
    a CPU the hybrid scattering net (convs below 16 pixels): on CIFAR-10-small with 40
    labels per class it and its baseline made about 10 points fewer errors than convs at
    the same number of epochs (benchmarks/README.md)."""
    if image_size in ARCH_BY_SIZE:
        return ARCH_BY_SIZE[image_size]
    if accelerated:
        return "conv32" if image_size == 32 else "conv"
    return "scat" if image_size >= SCAT_SMALLEST else "convs"


def resolve(cfg: SSGANConfig, image_size: int, accelerated: bool = False) -> SSGANConfig:
    """Fill `arch: auto` and the None fields for images of `image_size` (accelerated: training
    on a GPU); the resolved config is what checkpoints store, so a run is reproducible from
    it alone."""
    arch = default_arch(image_size, accelerated) if cfg.arch == "auto" else cfg.arch
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if arch in SIDE_ARCHS:
        check_side(image_size, f"architecture {arch}")
    elif ARCH_IMAGE_SIZE[arch] != image_size:
        raise ValueError(
            f"architecture {arch} takes {ARCH_IMAGE_SIZE[arch]}x{ARCH_IMAGE_SIZE[arch]} images, the data are {image_size}x{image_size}"
        )
    filled = {k: v for k, v in ARCH_DEFAULTS[arch].items() if getattr(cfg, k) is None}
    if cfg.data_init is None:
        filled.setdefault("data_init", False)
    if cfg.augment is None:
        filled.setdefault("augment", "none")
    if cfg.aug_shift is None:
        filled["aug_shift"] = max(1, image_size // 14)
    if cfg.graph_weight is None:
        filled.setdefault("graph_weight", GRAPH_WEIGHT)
    return dataclasses.replace(cfg, arch=arch, **filled)
