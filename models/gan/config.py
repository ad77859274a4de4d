"""GANConfig: the GAN family's settings, every stabilising trick and the class conditioning
as a field (models/gan.py builds the networks and phases from it)."""

from __future__ import annotations

from dataclasses import dataclass

from ganflow.models import losses
from ganflow.models.config import Config, ConfigError

# dcgan: Radford et al.'s all-conv nets; resnet: SNGAN/BigGAN-style residual G and D
# (resnet.py); biggan: BigGAN's generator (class-conditional batch norm from a shared
# embedding, a hierarchical latent) with DCGAN's D, class-conditional only (biggan.py)
ARCHS = ("mlp", "dcgan", "resnet", "biggan")
# LOGAN's latent step before the players' updates: none | gd | ngd (Wu et al. 2019, eq. 2, 5)
LATENT_OPTS = ("none", "gd", "ngd")
D_OPTIMIZERS = ("adam", "sgd")
# class conditioning of D (conditional.py): concatenated label embedding, projection
# discriminator (Miyato & Koyama 2018), or an auxiliary classifier (AC-GAN, Odena et al. 2017)
CONDITIONS = ("none", "concat", "projection", "acgan")


@dataclass
class GANConfig(Config):
    # mlp (vectors) | dcgan | resnet (images of side 28, or a multiple of 4 from 8 to 256) |
    # biggan (conditional)
    arch: str = "dcgan"
    z_dim: int = 100  # dimension of the N(0, I) noise z
    # images: channels of the stage at the image side (doubling to 8x at the smallest map);
    # mlp: hidden units per layer
    width: int = 64
    depth: int = 3  # mlp: hidden layers in G and in D
    g_batchnorm: bool = True  # batch norm in G (DCGAN; optional for the MLP)
    d_batchnorm: bool | None = (
        None  # batch norm in D; None: DCGAN's default, off with gp/dragan or spectral norm
    )
    # minimax | nonsaturating | lsgan | wgan | wgan-gp | dragan | hinge | ebgan (D an autoencoder)
    loss: str = "nonsaturating"
    # ebgan: the margin m of D's loss D(x) + [m - D(G(z))]^+, in units of D's energy (the
    # mean squared reconstruction error per entry, data in [-1, 1]) (Zhao et al. 2016, eq. 1)
    margin: float = 1.0
    # ebgan: weight of the pulling-away term in G's loss (Zhao et al. 2016, section 2.4: 0.1)
    pt_weight: float = 0.1
    penalty_weight: float = 10.0  # lambda of the WGAN-GP / DRAGAN gradient penalty
    # gamma of the R1 penalty, gamma/2 E||grad D(x_real)||^2, with any loss (Mescheder et al.
    # 2018, eq. 9); 0: off
    r1: float = 0.0
    # lazy regularisation (Karras et al. 2020, section 3.1): R1 on every r1_every-th D step,
    # weighted by r1_every so its average strength is unchanged
    r1_every: int = 1
    clip: float = 0.01  # WGAN weight clipping range [-c, c]
    lr_g: float = 2e-4  # generator learning rate (Adam)
    lr_d: float = 2e-4  # discriminator learning rate; lr_d != lr_g is TTUR (Heusel et al. 2017)
    beta1: float = 0.5  # Adam beta1 (Radford et al. 2015)
    beta2: float = 0.999  # Adam beta2
    lr_decay: bool = False  # both learning rates decay linearly to 0 over the run
    d_optimizer: str = "adam"  # adam | sgd (SGD for D with Adam for G)
    n_critic: int = 1  # D steps per G step
    batch_size: int = 64
    spectral_norm: bool = False  # spectral normalisation of D's layers (Miyato et al. 2018)
    self_attention: bool = False  # SAGAN block in G and D (dcgan, resnet)
    # the map side the attention block works at; 0: half the image side, at most 32
    attention_side: int = 0
    minibatch_discrimination: bool = False  # Salimans et al. 2016, section 3.2, before D's read-out
    # a minibatch standard-deviation map before D's last block (Karras et al. 2018; resnet)
    minibatch_std: bool = False
    pack: int = 1  # PacGAN: D judges this many samples at once (Lin et al. 2018)
    unrolled_steps: int = 0  # k: G's loss through k differentiable D updates (Metz et al. 2016)
    instance_noise: float = 0.0  # std of noise on D's inputs at step 0, annealed linearly to 0
    instance_noise_steps: int = 0  # steps of that annealing; 0: the whole run
    label_flip: float = 0.0  # probability of swapping the real/fake label of a D example
    label_smoothing: float = 0.0  # one-sided: real target 1 - this (BCE and LS losses)
    replay: int = 0  # experience replay pool size for D's fakes; 0: off
    replay_p: float = 0.5  # chance a fake is swapped for a pooled one once the pool is full
    condition: str = "none"  # class conditioning of D: none | concat | projection | acgan (cgan.py)
    embed_dim: int = 32  # size of the label embedding fed to G (and to D with concat)
    aux_weight: float = 1.0  # acgan: weight of the auxiliary classifier's cross-entropy
    # EMA of G's weights, decay per G step (Yazici et al. 2019); samples, scores and exports
    # come from the average ("G_ema"); 0: off
    g_ema: float = 0.0
    # biggan: z split into one chunk per G block, each joining the class embedding in that
    # block's conditional batch norm (Brock et al. 2019, section 3); false: all of z at the input
    hierarchical_latent: bool = True
    # beta of BigGAN's orthogonal regularisation of G's weights,
    # beta * sum_W ||W W^T * (1 - I)||_F^2 (Brock et al. 2019, eq. 3; they use 1e-4); 0: off
    ortho_reg: float = 0.0
    # LOGAN (Wu et al. 2019): z' = z + dz before each D and G update, dz from the gradient
    # g = d D(G(z)) / dz: gd dz = alpha g; ngd dz = alpha g / (beta + ||g||^2) (per sample)
    latent_opt: str = "none"
    # alpha and beta of that step (the paper's BigGAN-deep runs: 0.9 and 5)
    latent_step: float = 0.9
    latent_damping: float = 5.0
    # w_r: weight of ||dz||^2 in both players' losses (LOGAN section 4)
    latent_reg: float = 3.0

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.loss not in losses.LOSSES:
            raise ConfigError(f"loss must be one of {sorted(losses.LOSSES)}, got {self.loss!r}")
        if self.d_optimizer not in D_OPTIMIZERS:
            raise ConfigError(
                f"d_optimizer must be one of {D_OPTIMIZERS}, got {self.d_optimizer!r}"
            )
        if self.label_smoothing and not losses.LOSSES[self.loss].smoothable:
            raise ConfigError(
                f"label_smoothing has no meaning for the {self.loss} loss (no targets)"
            )
        if self.attention_side < 0 or self.attention_side & (self.attention_side - 1):
            raise ConfigError(
                f"attention_side must be 0 (auto) or a map side such as 8, 16, 32, got {self.attention_side}"
            )
        for name in ("n_critic", "pack", "batch_size", "z_dim", "width", "r1_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_size % self.pack:
            raise ConfigError(
                f"batch_size {self.batch_size} must be a multiple of pack {self.pack}"
            )
        for name in ("label_flip", "label_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.replay_p <= 1.0:
            raise ConfigError(f"replay_p must be in [0, 1], got {self.replay_p}")
        if not 0.0 <= self.g_ema < 1.0:
            raise ConfigError(f"g_ema must be in [0, 1) (0: off), got {self.g_ema}")
        if min(self.unrolled_steps, self.replay, self.instance_noise, self.r1) < 0:
            raise ConfigError("unrolled_steps, replay, instance_noise and r1 must not be negative")
        if self.condition not in CONDITIONS:
            raise ConfigError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.latent_opt not in LATENT_OPTS:
            raise ConfigError(f"latent_opt must be one of {LATENT_OPTS}, got {self.latent_opt!r}")
        self.require("not negative", "ortho_reg", "latent_step", "latent_damping", "latent_reg")
        if self.minibatch_std and self.arch != "resnet":
            raise ConfigError(f"minibatch_std is built into arch resnet only, not {self.arch!r}")
        if self.arch == "biggan" and self.condition != "projection":
            raise ConfigError(
                "arch biggan is class-conditional with a projection D: set condition=projection"
            )
        if self.latent_opt != "none" and (self.pack > 1 or self.unrolled_steps or self.replay):
            raise ConfigError(
                "latent_opt cannot be combined with pack > 1, unrolled_steps or replay"
            )
        self.require("positive", "margin")
        self.require("not negative", "pt_weight")
        if self.loss == "ebgan":
            self._validate_energy()
        if self.conditional and (self.pack > 1 or self.replay):
            # a pack or a replayed fake has no single label to condition on
            raise ConfigError("pack > 1 and replay cannot be combined with a class condition")

    def _validate_energy(self) -> None:
        """EBGAN's D is an autoencoder (models/gan/energy.py): built for mlp and dcgan, and
        its energy has no room for a class condition, packs or a minibatch layer."""
        if self.arch not in ("mlp", "dcgan"):
            raise ConfigError(f"loss ebgan takes arch mlp or dcgan, not {self.arch!r}")
        if self.conditional or self.pack > 1 or self.minibatch_discrimination:
            raise ConfigError(
                "loss ebgan cannot be combined with a class condition, pack > 1 or "
                "minibatch_discrimination (its D is an autoencoder)"
            )
        if self.self_attention or self.unrolled_steps or self.latent_opt != "none":
            raise ConfigError(
                "loss ebgan cannot be combined with self_attention, unrolled_steps or latent_opt"
            )

    @property
    def conditional(self) -> bool:
        return self.condition != "none"

    def summary(self) -> str:
        """The loss and every stabilising trick switched on, e.g. 'hinge, spectral_norm, pack=2'."""
        tricks = (
            "spectral_norm",
            "self_attention",
            "minibatch_discrimination",
            "minibatch_std",
            "pack",
            "unrolled_steps",
            "instance_noise",
            "label_flip",
            "label_smoothing",
            "replay",
            "n_critic",
            "lr_decay",
            "g_ema",
            "r1",
            "r1_every",
            "ortho_reg",
        )
        base = GANConfig()
        on = [
            k if isinstance(getattr(self, k), bool) else f"{k}={getattr(self, k)}"
            for k in tricks
            if getattr(self, k) != getattr(base, k) and getattr(self, k)
        ]
        if self.conditional:
            on.insert(0, f"conditional ({self.condition})")
        if self.latent_opt != "none":
            on.append(f"LOGAN {self.latent_opt}")
        if self.d_optimizer != "adam":
            on.append(f"D {self.d_optimizer}")
        if self.lr_d != self.lr_g:
            on.append(f"TTUR {self.lr_d:g}/{self.lr_g:g}")
        return ", ".join([self.loss, *on])

    def d_uses_batchnorm(self) -> bool:
        if self.d_batchnorm is not None:
            return self.d_batchnorm
        # a per-example gradient penalty is not defined through batch statistics, and spectral
        # norm already controls D (Gulrajani et al. 2017, section 4; Miyato et al. 2018)
        return losses.LOSSES[self.loss].penalty is None and not self.spectral_norm
