"""Adversarial autoencoders (Makhzani et al. 2015, arXiv 1511.05644): config, networks, priors
and phases.

The encoder q(y, z | x) gives a softmax cluster/class head y (K) and a Gaussian style code z
(d); the decoder rebuilds x from (y, z). The code is matched to a prior by adversarial
networks, one per part (section 6): D_y sees one-hot samples of Cat(K) as real and the
encoder's y as fake; D_z sees N(0, prior_std^2 I) (or a 10-component mixture of Gaussians,
optionally label-conditioned as in Fig. 4) as real and the encoder's z as fake.

One training step runs the paper's two phases per batch, as engine phases:
  recon: encoder + decoder minimise the reconstruction loss (binary cross-entropy on pixels)
  disc:  D_y and D_z minimise BCE(real prior samples -> 1, encoder codes -> 0)
  gen:   the encoder maximises the discriminators' error (non-saturating BCE(codes -> 1))
  sup:   (semi-supervised mode, section 5) the encoder's y head minimises cross-entropy on a
         labelled batch
  nbr:   (ganflow's addition, on by default with a cluster head) the encoder gives an image and
         one of its k nearest neighbours the same cluster, while the batch's mean code stays
         spread over all clusters: the SCAN objective (Van Gansbeke et al. 2020, eq. 2).
         Without it the paper's phases put Fashion-MNIST onto 3 of 16 clusters here (D_y
         wins); neighbours=0 gives the paper's phases alone
  init:  (clustering mode, head_init="spectral"; by default all along) the encoder's y head
         learns, by cross-entropy, a spectral partition of the same neighbour graph
         (tasks.cluster.spectral_partition), much as DEC starts its clusters from k-means,
         but kept as a target while the other phases run. SCAN training from a random head
         settles in a local optimum that cuts more of the graph's edges than the spectral
         partition does (Fashion-MNIST: 11 % against 8 %); the head carries the partition,
         which exists for the training images only, to new images
The encoder sees the pixels, or (frontend="scattering") whitened log-scattering coefficients
of them (models.scattering): a fixed front end, stable to small shifts and deformations, in
which nearest neighbours share their class more often (Fashion-MNIST, 10 neighbours: 86 %
against 80 % among the pixels' principal components). SCAN gets its clustering head from the
network its neighbours were mined with; the front end is that network here. Neighbours are
then found among the front end's features, and the decoder still rebuilds the pixels.
With clusters = 0 there is no y: z alone is the code (dimensionality reduction, section 7).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.aae_nets import build_models  # noqa: F401  (re-exported: models.aae.build_models)
from models.engine import Batch, IndexStream, Phase, adam

PRIORS = ("gaussian", "mixture")
HEAD_INITS = ("none", "spectral")
FRONTENDS = ("auto", "pixels", "scattering")


@dataclass
class AAEConfig:
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
    frontend_dims: int = 100  # scattering front end: whitened principal components kept
    consistency_weight: float = 1.0  # weight of -log <y(x), y(neighbour)>
    balance_weight: float = 1.0  # weight of log K - H(mean y): keeps every cluster in use
    # clustering mode: the cluster head learns a spectral partition of the neighbour graph
    # ("init" phase, cross-entropy) beside the other phases, for head_init_epochs (None: the
    # whole run; after an early stop the SCAN phase drifts back towards its own, worse
    # partition: Fashion-MNIST seed 0, 1 epoch then 2 without, 75.7 % falls to 73.8 %);
    # "none": the head starts from its random initialisation and has no such target
    head_init: str = "spectral"
    head_init_epochs: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AAEConfig:
        return cls(**d)

    @property
    def uses_neighbours(self) -> bool:
        """The nbr phase runs (and needs a neighbour table) only with a cluster head."""
        return bool(self.clusters and self.neighbours)

    @property
    def uses_head_init(self) -> bool:
        """The init phase runs (and needs data['init_labels']) with a cluster head and the
        neighbour graph it is partitioned from; build_training leaves it out in the
        semi-supervised mode, where labelled images name the classes."""
        return self.uses_neighbours and self.head_init != "none" and self.head_init_epochs != 0

    def resolved(self, image_shape: tuple[int, ...]) -> AAEConfig:
        """This config with frontend="auto" settled for images of image_shape (C, H, W)."""
        if self.frontend != "auto":
            return self
        h, w = image_shape[-2:]
        ok = h % 4 == 0 and w % 4 == 0 and h >= 8 and w >= 8
        return dataclasses.replace(self, frontend="scattering" if ok else "pixels")

    def validate(self) -> None:
        if self.clusters < 0 or self.clusters == 1:
            raise ValueError(
                f"clusters must be 0 (no categorical code) or at least 2, got {self.clusters}"
            )
        if self.neighbours < 0 or self.neighbour_dims < 1:
            raise ValueError(
                f"neighbours must be >= 0 and neighbour_dims >= 1, got {self.neighbours}, {self.neighbour_dims}"
            )
        if self.head_init not in HEAD_INITS or (self.head_init_epochs or 0) < 0:
            raise ValueError(
                f"head_init must be one of {HEAD_INITS} and head_init_epochs >= 0, got {self.head_init!r}, {self.head_init_epochs}"
            )
        if self.frontend not in FRONTENDS:
            raise ValueError(f"frontend must be one of {FRONTENDS}, got {self.frontend!r}")
        if self.frontend_dims < 1:
            raise ValueError(f"frontend_dims must be at least 1, got {self.frontend_dims}")
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be at least 1, got {self.z_dim}")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if self.prior == "mixture" and self.z_dim != 2:
            raise ValueError("the mixture-of-Gaussians prior is defined in 2-D: set z_dim=2")


def mixture_means(components: int = 10, radius: float = 4.0) -> torch.Tensor:
    """Centres of the 2-D mixture prior: `components` points on a circle. (components, 2)"""
    angle = 2 * math.pi * torch.arange(components) / components
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)


def sample_prior(n: int, cfg: AAEConfig, labels: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> torch.Tensor:  # fmt: skip
    """z ~ p(z): N(0, std^2 I), or the mixture (component = label where given, else uniform;
    each component elongated along its tangent as in the paper's Fig. 4). (n, d)"""
    eps = torch.randn(n, cfg.z_dim, generator=generator)
    if cfg.prior == "gaussian":
        return (cfg.prior_std * eps).to(device)
    comp = labels.cpu() if labels is not None else torch.randint(0, 10, (n,), generator=generator)
    angle = 2 * math.pi * comp.float() / 10
    radial, tangent = (
        torch.stack([angle.cos(), angle.sin()], 1),
        torch.stack([-angle.sin(), angle.cos()], 1),
    )
    z = mixture_means()[comp] + cfg.prior_std * (
        0.5 * eps[:, :1] * tangent + 0.1 * eps[:, 1:] * radial
    )
    return z.to(device)


def sample_categorical(n: int, k: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu",
                       bound: float = 0.0) -> torch.Tensor:  # fmt: skip
    """Samples of Cat(K) with equal weights: one-hot, or with bound B > 0 the softmax of
    logits +B (the drawn class) and -B (the others), the most confident code the bounded
    encoder can emit. (n, K)"""
    onehot = F.one_hot(torch.randint(0, k, (n,), generator=generator), k).float()
    return (onehot if bound <= 0 else torch.softmax(bound * (2 * onehot - 1), dim=1)).to(device)


def y_probs(logits: torch.Tensor, bound: float) -> torch.Tensor:
    """The encoder's categorical code. A bound keeps the softmax out of saturation: with hard
    one-hot targets, the encoder saturates early on a few clusters and their gradients
    vanish (the collapse public ports report); bounded on both sides, D_y can tell codes apart
    only by which cluster they pick, which is what spreads images over the clusters."""
    return (bound * torch.tanh(logits / bound) if bound > 0 else logits).softmax(1)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


@dataclass
class Training:
    phases: list[Phase]
    next_batch: Any  # (step) -> Batch
    stateful: dict[str, Any]


def build_training(models: dict[str, nn.Module], cfg: AAEConfig, data: dict[str, torch.Tensor], seed: int,
                   num_labels: int = 0) -> Training:  # fmt: skip
    """data: x (U, C, H, W) uint8 on the training device; for the semi-supervised mode also
    x_lab (L, ...) uint8 and y_lab (L,); with neighbour consistency, neighbours (U, >= k) long
    (see tasks.cluster.neighbour_table); with a head initialisation (clustering mode),
    init_labels (U,) long in [0, clusters) (see tasks.cluster.spectral_partition). With the
    scattering front end, also f (U, dims) [and f_lab (L, dims)]: the front end's features of
    those images, which the encoder's head is trained on (the decoder still rebuilds the
    pixels). Returns the phases [init,] recon, disc,
    gen [, sup] [, nbr]."""
    E, Dec, D_z, D_y = models["E"], models["Dec"], models["D_z"], models.get("D_y")
    device = data["x"].device
    semi = "x_lab" in data
    if semi and cfg.clusters not in (0, num_labels):
        raise ValueError(
            f"semi-supervised mode needs clusters = number of classes ({num_labels}), got {cfg.clusters}"
        )
    if cfg.label_conditioned and not semi:
        raise ValueError("a label-conditioned prior needs labelled images (labels per class)")
    stream = IndexStream(len(data["x"]), cfg.batch_size, seed * 5 + 1)
    lab = IndexStream(len(data["x_lab"]), cfg.labelled_batch_size, seed * 5 + 2) if semi else None
    use_nbr = cfg.uses_neighbours
    cfg = cfg.resolved(tuple(data["x"].shape[1:]))
    feats = cfg.frontend != "pixels"
    if feats:
        need = {"f": len(data["x"])} | ({"f_lab": len(data["x_lab"])} if semi else {})
        for key, n in need.items():
            if key not in data or tuple(data[key].shape) != (n, cfg.frontend_dims):
                got = tuple(data[key].shape) if key in data else None
                raise ValueError(
                    f"the {cfg.frontend} front end needs data[{key!r}] of shape ({n}, {cfg.frontend_dims}); got {got}"
                )
    if use_nbr:
        nbrs = data.get("neighbours")
        if nbrs is None or nbrs.shape[0] != len(data["x"]) or nbrs.shape[1] < cfg.neighbours:
            raise ValueError(f"neighbour consistency needs data['neighbours'] of shape ({len(data['x'])}, >= "
                             f"{cfg.neighbours}); got {None if nbrs is None else tuple(nbrs.shape)}")  # fmt: skip
        nbrs = nbrs[:, : cfg.neighbours].to(device)
    use_init = cfg.uses_head_init and not semi
    if use_init:
        init_y = data.get("init_labels")
        if init_y is None or tuple(init_y.shape) != (len(data["x"]),) or init_y.dtype != torch.long \
                or int(init_y.min()) < 0 or int(init_y.max()) >= cfg.clusters:  # fmt: skip
            raise ValueError(f"head_init={cfg.head_init!r} needs data['init_labels']: ({len(data['x'])},) long in "
                             f"[0, {cfg.clusters}); got {None if init_y is None else (tuple(init_y.shape), init_y.dtype)}")  # fmt: skip
        init_y = init_y.to(device)

    def next_batch(step: int) -> Batch:
        """A pure function of (seed, step): a resumed run draws the same noise and priors."""
        noise_rng = torch.Generator().manual_seed((seed * 5 + 3) * 1_000_003 + step)
        idx = stream(step).to(device)
        x = data["x"][idx].float() / 255.0
        batch = {"x": x, "noise": torch.randn(x.shape, generator=noise_rng).to(device) * cfg.input_noise,
                 "prior_z": sample_prior(len(x), cfg, generator=noise_rng, device=device)}  # fmt: skip
        if feats:
            batch["f"] = data["f"][idx]
            batch["noise_f"] = (
                torch.randn(batch["f"].shape, generator=noise_rng).to(device) * cfg.input_noise
            )
        if use_init:
            batch["init_y"] = init_y[idx]
        if cfg.clusters:
            noise = (
                torch.randn(2, len(x), cfg.clusters, generator=noise_rng).to(device)
                * cfg.y_instance_noise
            )
            batch["noise_y"], batch["noise_y_real"] = noise[0], noise[1]
            batch["prior_y"] = sample_categorical(
                len(x), cfg.clusters, noise_rng, device, cfg.y_logit_bound
            )
        if use_nbr:  # one of each image's k neighbours, drawn at random
            pick = torch.randint(0, cfg.neighbours, (len(idx),), generator=noise_rng).to(device)
            j = nbrs[idx, pick]
            x_nbr = data["f"][j] if feats else data["x"][j].float() / 255.0
            batch["x_nbr"] = x_nbr
            batch["noise_nbr"] = (
                torch.randn(x_nbr.shape, generator=noise_rng).to(device) * cfg.input_noise
            )
        if semi:
            i = lab(step).to(device)
            batch["x_lab"], batch["y_lab"] = data["x_lab"][i].float() / 255.0, data["y_lab"][i]
            if feats:
                batch["f_lab"] = data["f_lab"][i]
            if cfg.label_conditioned:  # prior samples of each labelled image's own component
                batch["prior_z_lab"] = sample_prior(
                    len(i), cfg, data["y_lab"][i], noise_rng, device
                )
        return batch

    def noisy(x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The encoder's (logits, z) of a corrupted input (denoising): pixels in [0, 1], or
        front-end features (the head only)."""
        return E.head(x + noise) if feats else E((x + noise).clamp(0, 1))

    def clean_labelled(batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor]:
        return E.head(batch["f_lab"]) if feats else E(batch["x_lab"])

    def encode(batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor]:
        logits, z = noisy(
            batch["f"] if feats else batch["x"], batch["noise_f"] if feats else batch["noise"]
        )
        return (y_probs(logits, cfg.y_logit_bound) if logits is not None else None), z

    def adv_y(y: torch.Tensor) -> torch.Tensor:
        """What D_y sees of the code: y itself, or (straight_through) its one-hot argmax in the
        forward pass with y's gradient in the backward pass, so that real and fake codes are
        both one-hot and D_y can only compare how often each cluster is used."""
        if not cfg.straight_through:
            return y
        hard = F.one_hot(y.argmax(1), y.shape[1]).to(y.dtype)
        return hard + y - y.detach()

    def d_z_input(z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z, with a one-hot of the label (or of the extra 'unlabelled' slot) when the prior
        is label-conditioned (Fig. 4)."""
        if not cfg.label_conditioned:
            return z
        if labels is None:
            labels = torch.full((len(z),), num_labels, device=z.device)
        return torch.cat([z, F.one_hot(labels, num_labels + 1).float()], dim=1)

    def z_logits(batch: Batch, z: torch.Tensor, prior: bool) -> torch.Tensor:
        """D_z logits of the unlabelled codes (or prior samples) [and the labelled ones]."""
        out = D_z(d_z_input(batch["prior_z"] if prior else z))
        if cfg.label_conditioned:
            z_lab = batch["prior_z_lab"] if prior else clean_labelled(batch)[1]
            out = torch.cat([out, D_z(d_z_input(z_lab, batch["y_lab"]))])
        return out

    def recon(batch: Batch, step: int):
        y, z = encode(batch)
        loss = F.binary_cross_entropy_with_logits(Dec(y, z), batch["x"])
        return loss, {"bce": loss.detach()}

    def disc(batch: Batch, step: int):
        with torch.no_grad():
            y, z = encode(batch)
        loss_z = _bce(z_logits(batch, z, prior=True), 1.0) + _bce(
            z_logits(batch, z, prior=False), 0.0
        )
        terms = {"d_z": loss_z.detach()}
        loss = loss_z
        if D_y is not None:
            loss_y = _bce(D_y(batch["prior_y"] + batch["noise_y_real"]), 1.0) + _bce(
                D_y(adv_y(y) + batch["noise_y"]), 0.0
            )
            terms["d_y"] = loss_y.detach()
            loss = loss + loss_y
        return loss, terms

    def gen(batch: Batch, step: int):
        y, z = encode(batch)
        loss = _bce(z_logits(batch, z, prior=False), 1.0)
        if D_y is not None:
            loss = loss + _bce(D_y(adv_y(y) + batch["noise_y"]), 1.0)
        return loss, {}

    def sup(batch: Batch, step: int):
        logits, _ = clean_labelled(batch)
        loss = cfg.supervised_weight * F.cross_entropy(logits, batch["y_lab"])
        return loss, {"acc_lab": (logits.argmax(1) == batch["y_lab"]).float().mean()}

    def init(batch: Batch, step: int):
        y, _ = encode(batch)
        loss = F.nll_loss(y.clamp_min(1e-7).log(), batch["init_y"])
        return loss, {"agree": (y.argmax(1) == batch["init_y"]).float().mean()}

    def nbr(batch: Batch, step: int):
        p, _ = encode(batch)
        q = y_probs(noisy(batch["x_nbr"], batch["noise_nbr"])[0], cfg.y_logit_bound)
        consistency = -torch.log((p * q).sum(1).clamp_min(1e-7)).mean()
        mean = torch.cat([p, q]).mean(0)
        imbalance = math.log(cfg.clusters) + (mean * mean.clamp_min(1e-8).log()).sum()
        loss = cfg.consistency_weight * consistency + cfg.balance_weight * imbalance
        return loss, {"consistency": consistency.detach(), "imbalance": imbalance.detach()}

    ae = nn.ModuleList([E, Dec])
    discs = [D_z] + ([D_y] if D_y is not None else [])
    opt_ae = adam(ae.parameters(), cfg.lr_recon)
    opt_d = adam(nn.ModuleList(discs).parameters(), cfg.lr_disc, (cfg.beta1, 0.999))
    opt_g = adam(E.parameters(), cfg.lr_reg, (cfg.beta1, 0.999))
    phases = [
        Phase("recon", [E, Dec], opt_ae, recon),
        Phase("disc", discs, opt_d, disc),
        Phase("gen", [E], opt_g, gen),
    ]
    stateful: dict[str, Any] = {**models, "opt_ae": opt_ae, "opt_d": opt_d, "opt_g": opt_g}
    if use_init:
        opt_i = adam(E.parameters(), cfg.lr_recon)
        until = (
            None
            if cfg.head_init_epochs is None
            else max(1, round(cfg.head_init_epochs * len(data["x"]) / cfg.batch_size))
        )
        phases.insert(0, Phase("init", [E], opt_i, init, until=until))
        stateful["opt_i"] = opt_i
    if semi and cfg.clusters:
        opt_s = adam(E.parameters(), cfg.lr_recon)
        phases.append(Phase("sup", [E], opt_s, sup))
        stateful["opt_s"] = opt_s
    if use_nbr:
        opt_n = adam(E.parameters(), cfg.lr_recon)
        phases.append(Phase("nbr", [E], opt_n, nbr))
        stateful["opt_n"] = opt_n
    return Training(phases, next_batch, stateful)
