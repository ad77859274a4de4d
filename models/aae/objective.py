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
         Without it the paper's phases collapse onto a few clusters (D_y wins);
         neighbours=0 gives the paper's phases alone
  init:  (clustering mode, head_init="spectral"; by default all along) the encoder's y head
         learns, by cross-entropy, a spectral partition of the same neighbour graph
         (tasks.data.neighbours.spectral_partition), much as DEC starts its clusters from
         k-means, but kept as a target while the other phases run. SCAN training from a
         random head settles in a local optimum that cuts more of the graph's edges than the
         spectral partition does; the head carries the partition, which exists for the
         training images only, to new images
The encoder sees the pixels, or (frontend="scattering") whitened log-scattering coefficients
of them (models.scattering): a fixed front end, stable to small shifts and deformations, in
which nearest neighbours share their class more often than among the pixels' principal
components. SCAN gets its clustering head from the
network its neighbours were mined with; the front end is that network here. Neighbours are
then found among the front end's features, and the decoder still rebuilds the pixels.
With clusters = 0 there is no y: z alone is the code (dimensionality reduction, section 7).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models.aae.config import AAEConfig
from ganflow.models.aae.priors import sample_categorical, sample_prior, y_probs
from ganflow.models.engine import Batch, IndexStream, Phase, Training, adam


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _check_data(cfg: AAEConfig, data: dict[str, torch.Tensor], semi: bool, use_init: bool) -> None:
    """The tensors build_training needs for this config, with a clear error when one is off."""
    n = len(data["x"])
    if cfg.frontend != "pixels":
        need = {"f": n} | ({"f_lab": len(data["x_lab"])} if semi else {})
        for key, rows in need.items():
            if key not in data or tuple(data[key].shape) != (rows, cfg.frontend_dims):
                got = tuple(data[key].shape) if key in data else None
                raise ValueError(
                    f"the {cfg.frontend} front end needs data[{key!r}] of shape ({rows}, "
                    f"{cfg.frontend_dims}); got {got}"
                )
    if cfg.uses_neighbours:
        nbrs = data.get("neighbours")
        if nbrs is None or nbrs.shape[0] != n or nbrs.shape[1] < cfg.neighbours:
            raise ValueError(
                f"neighbour consistency needs data['neighbours'] of shape ({n}, >= "
                f"{cfg.neighbours}); got {None if nbrs is None else tuple(nbrs.shape)}"
            )
    if use_init:
        y = data.get("init_labels")
        if (
            y is None
            or tuple(y.shape) != (n,)
            or y.dtype != torch.long
            or int(y.min()) < 0
            or int(y.max()) >= cfg.clusters
        ):
            raise ValueError(
                f"head_init={cfg.head_init!r} needs data['init_labels']: ({n},) long in "
                f"[0, {cfg.clusters}); got {None if y is None else (tuple(y.shape), y.dtype)}"
            )


class AAEBatches:
    """Batch t as a pure function of (seed, t): images, input noise, prior samples, a random
    neighbour of each image, a labelled batch. A resumed run draws the same ones."""

    def __init__(
        self, cfg: AAEConfig, data: dict[str, torch.Tensor], seed: int, semi: bool, use_init: bool
    ) -> None:
        self.cfg, self.data, self.seed, self.semi, self.use_init = cfg, data, seed, semi, use_init
        self.device = data["x"].device
        self.feats = cfg.frontend != "pixels"
        self.stream = IndexStream(len(data["x"]), cfg.batch_size, seed * 5 + 1)
        self.lab = (
            IndexStream(len(data["x_lab"]), cfg.labelled_batch_size, seed * 5 + 2) if semi else None
        )
        self.nbrs = (
            data["neighbours"][:, : cfg.neighbours].to(self.device) if cfg.uses_neighbours else None
        )
        self.init_y = data["init_labels"].to(self.device) if use_init else None

    def _noise(
        self, shape: torch.Size | tuple[int, ...], g: torch.Generator, std: float
    ) -> torch.Tensor:
        return torch.randn(shape, generator=g).to(self.device) * std

    def __call__(self, step: int) -> Batch:
        cfg, data, device = self.cfg, self.data, self.device
        g = torch.Generator().manual_seed((self.seed * 5 + 3) * 1_000_003 + step)
        idx = self.stream(step).to(device)
        x = data["x"][idx].float() / 255.0
        batch = {
            "x": x,
            "noise": self._noise(x.shape, g, cfg.input_noise),
            "prior_z": sample_prior(len(x), cfg, generator=g, device=device),
        }
        if self.feats:
            batch["f"] = data["f"][idx]
            batch["noise_f"] = self._noise(batch["f"].shape, g, cfg.input_noise)
        if self.use_init:
            batch["init_y"] = self.init_y[idx]
        if cfg.clusters:
            noise = self._noise((2, len(x), cfg.clusters), g, cfg.y_instance_noise)
            batch["noise_y"], batch["noise_y_real"] = noise[0], noise[1]
            batch["prior_y"] = sample_categorical(
                len(x), cfg.clusters, g, device, cfg.y_logit_bound
            )
        if self.nbrs is not None:  # one of each image's k neighbours, drawn at random
            pick = torch.randint(0, cfg.neighbours, (len(idx),), generator=g).to(device)
            j = self.nbrs[idx, pick]
            batch["x_nbr"] = data["f"][j] if self.feats else data["x"][j].float() / 255.0
            batch["noise_nbr"] = self._noise(batch["x_nbr"].shape, g, cfg.input_noise)
        if self.semi:
            i = self.lab(step).to(device)
            batch["x_lab"], batch["y_lab"] = data["x_lab"][i].float() / 255.0, data["y_lab"][i]
            if self.feats:
                batch["f_lab"] = data["f_lab"][i]
            if cfg.label_conditioned:  # prior samples of each labelled image's own component
                batch["prior_z_lab"] = sample_prior(len(i), cfg, data["y_lab"][i], g, device)
        return batch


class AAEObjective:
    """One method per phase: recon, disc, gen, sup, init, nbr (see the module docstring)."""

    def __init__(self, models: dict[str, nn.Module], cfg: AAEConfig, num_labels: int) -> None:
        self.E, self.Dec, self.D_z, self.D_y = (
            models["E"],
            models["Dec"],
            models["D_z"],
            models.get("D_y"),
        )
        self.cfg, self.num_labels = cfg, num_labels
        self.feats = cfg.frontend != "pixels"

    def noisy(
        self, x: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The encoder's (logits, z) of a corrupted input (denoising): pixels in [0, 1], or
        front-end features (the head only)."""
        return self.E.head(x + noise) if self.feats else self.E((x + noise).clamp(0, 1))

    def clean_labelled(self, batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor]:
        return self.E.head(batch["f_lab"]) if self.feats else self.E(batch["x_lab"])

    def encode(self, batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(y (N, K) or None, z (N, d)) of the batch's noisy images."""
        key = "f" if self.feats else "x"
        logits, z = self.noisy(batch[key], batch["noise_f" if self.feats else "noise"])
        return (y_probs(logits, self.cfg.y_logit_bound) if logits is not None else None), z

    def adv_y(self, y: torch.Tensor) -> torch.Tensor:
        """What D_y sees of the code: y itself, or (straight_through) its one-hot argmax in the
        forward pass with y's gradient in the backward pass, so that real and fake codes are
        both one-hot and D_y can only compare how often each cluster is used."""
        if not self.cfg.straight_through:
            return y
        hard = F.one_hot(y.argmax(1), y.shape[1]).to(y.dtype)
        return hard + y - y.detach()

    def d_z_input(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z, with a one-hot of the label (or of the extra 'unlabelled' slot) when the prior
        is label-conditioned (Fig. 4)."""
        if not self.cfg.label_conditioned:
            return z
        if labels is None:
            labels = torch.full((len(z),), self.num_labels, device=z.device)
        return torch.cat([z, F.one_hot(labels, self.num_labels + 1).float()], dim=1)

    def z_logits(self, batch: Batch, z: torch.Tensor, prior: bool) -> torch.Tensor:
        """D_z logits of the unlabelled codes (or prior samples) [and the labelled ones]."""
        out = self.D_z(self.d_z_input(batch["prior_z"] if prior else z))
        if self.cfg.label_conditioned:
            z_lab = batch["prior_z_lab"] if prior else self.clean_labelled(batch)[1]
            out = torch.cat([out, self.D_z(self.d_z_input(z_lab, batch["y_lab"]))])
        return out

    def recon(self, batch: Batch, step: int):
        """Binary cross-entropy of the decoder's pixels against the clean image."""
        y, z = self.encode(batch)
        loss = F.binary_cross_entropy_with_logits(self.Dec(y, z), batch["x"])
        return loss, {"bce": loss.detach()}

    def disc(self, batch: Batch, step: int):
        """D_z and D_y: prior samples -> 1, the encoder's codes -> 0."""
        with torch.no_grad():
            y, z = self.encode(batch)
        loss = _bce(self.z_logits(batch, z, prior=True), 1.0) + _bce(
            self.z_logits(batch, z, prior=False), 0.0
        )
        terms = {"d_z": loss.detach()}
        if self.D_y is not None:
            loss_y = _bce(self.D_y(batch["prior_y"] + batch["noise_y_real"]), 1.0) + _bce(
                self.D_y(self.adv_y(y) + batch["noise_y"]), 0.0
            )
            terms["d_y"] = loss_y.detach()
            loss = loss + loss_y
        return loss, terms

    def gen(self, batch: Batch, step: int):
        """The encoder against both discriminators (non-saturating: codes -> 1)."""
        y, z = self.encode(batch)
        loss = _bce(self.z_logits(batch, z, prior=False), 1.0)
        if self.D_y is not None:
            loss = loss + _bce(self.D_y(self.adv_y(y) + batch["noise_y"]), 1.0)
        return loss, {}

    def sup(self, batch: Batch, step: int):
        """Semi-supervised mode (section 5): cross-entropy of the y head on labelled images."""
        logits, _ = self.clean_labelled(batch)
        loss = self.cfg.supervised_weight * F.cross_entropy(logits, batch["y_lab"])
        return loss, {"acc_lab": (logits.argmax(1) == batch["y_lab"]).float().mean()}

    def init(self, batch: Batch, step: int):
        """Cross-entropy of the y head against the graph's partition of the training images
        (spectral, or the spread labels in the semi-supervised mode)."""
        y, _ = self.encode(batch)
        loss = F.nll_loss(y.clamp_min(1e-7).log(), batch["init_y"])
        return loss, {"agree": (y.argmax(1) == batch["init_y"]).float().mean()}

    def nbr(self, batch: Batch, step: int):
        """SCAN (Van Gansbeke et al. 2020, eq. 2): -log <y(x), y(neighbour)> + the balance term
        log K - H(mean y), which keeps every cluster in use."""
        p, _ = self.encode(batch)
        q = y_probs(self.noisy(batch["x_nbr"], batch["noise_nbr"])[0], self.cfg.y_logit_bound)
        consistency = -torch.log((p * q).sum(1).clamp_min(1e-7)).mean()
        mean = torch.cat([p, q]).mean(0)
        imbalance = math.log(self.cfg.clusters) + (mean * mean.clamp_min(1e-8).log()).sum()
        loss = self.cfg.consistency_weight * consistency + self.cfg.balance_weight * imbalance
        return loss, {"consistency": consistency.detach(), "imbalance": imbalance.detach()}


def build_training(
    models: dict[str, nn.Module],
    cfg: AAEConfig,
    data: dict[str, torch.Tensor],
    seed: int,
    num_labels: int = 0,
) -> Training:
    """data: x (U, C, H, W) uint8 on the training device; for the semi-supervised mode also
    x_lab (L, ...) uint8 and y_lab (L,); with neighbour consistency, neighbours (U, >= k) long
    (see tasks.data.neighbours.neighbour_table); with a head initialisation, init_labels (U,)
    long in [0, clusters) (the spectral partition, or in the semi-supervised mode the spread
    labels: tasks.data.neighbours.spectral_partition, propagate_labels). With
    the scattering front end, also f (U, dims) [and f_lab (L, dims)]: the front end's features
    of those images, which the encoder's head is trained on (the decoder still rebuilds the
    pixels). Returns the phases [init,] recon, disc, gen [, sup] [, nbr]."""
    semi = "x_lab" in data
    if semi and cfg.clusters not in (0, num_labels):
        raise ValueError(
            f"semi-supervised mode needs clusters = number of classes ({num_labels}), got {cfg.clusters}"
        )
    if cfg.label_conditioned and not semi:
        raise ValueError("a label-conditioned prior needs labelled images (labels per class)")
    cfg = cfg.resolved(tuple(data["x"].shape[1:]))
    use_init = cfg.uses_head_init
    _check_data(cfg, data, semi, use_init)
    obj = AAEObjective(models, cfg, num_labels)
    E, Dec = obj.E, obj.Dec
    discs = [obj.D_z] + ([obj.D_y] if obj.D_y is not None else [])
    opt_ae = adam(nn.ModuleList([E, Dec]).parameters(), cfg.lr_recon)
    opt_d = adam(nn.ModuleList(discs).parameters(), cfg.lr_disc, (cfg.beta1, 0.999))
    opt_g = adam(E.parameters(), cfg.lr_reg, (cfg.beta1, 0.999))
    phases = [
        Phase("recon", [E, Dec], opt_ae, obj.recon),
        Phase("disc", discs, opt_d, obj.disc),
        Phase("gen", [E], opt_g, obj.gen),
    ]
    stateful: dict[str, Any] = {**models, "opt_ae": opt_ae, "opt_d": opt_d, "opt_g": opt_g}

    def encoder_phase(name: str, loss: Any, until: int | None = None) -> Phase:
        """A phase on the encoder alone with its own Adam (lr_recon), kept as opt_<name>."""
        opt = adam(E.parameters(), cfg.lr_recon)
        stateful[f"opt_{name[0]}"] = opt  # opt_i, opt_s, opt_n
        return Phase(name, [E], opt, loss, until=until)

    if use_init:
        until = (
            None
            if cfg.head_init_epochs is None
            else max(1, round(cfg.head_init_epochs * len(data["x"]) / cfg.batch_size))
        )
        phases.insert(0, encoder_phase("init", obj.init, until))
    if semi and cfg.clusters:
        phases.append(encoder_phase("sup", obj.sup))
    if cfg.uses_neighbours:
        phases.append(encoder_phase("nbr", obj.nbr))
    return Training(phases, AAEBatches(cfg, data, seed, semi, use_init), stateful)
