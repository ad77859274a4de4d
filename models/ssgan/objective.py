"""K+1-class semi-supervised GAN (Salimans et al. 2016, section 5): the objective and phases.

One training step is two phases:
  d: L_D = L_supervised(labelled batch) + w * L_unsupervised(unlabelled batch, G(z))
         [+ consistency of the class posterior between two views of the unlabelled batch]
         [+ conditional entropy of the class posterior on the unlabelled batch]
         [+ consistency of the class posterior between each unlabelled image and one of
            its nearest neighbours, drawn per step]
         [+ cross-entropy toward the labels spread over the scattering neighbour graph]
         [+ historical averaging of D's parameters]
  g: L_G = feature matching on D's last hidden layer (default), or the non-saturating loss
         [+ historical averaging of G's parameters]
The supervised-only baseline is the same discriminator with the `sup` phase alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ganflow.models.engine import Batch, IndexStream, Phase, Training, adam, linear_decay
from ganflow.models.image_batches import Shift
from ganflow.models.losses import (
    consistency_loss,
    entropy_loss,
    feature_matching_loss,
    generator_nonsaturating_loss,
    graph_label_loss,
    supervised_loss,
    unsupervised_loss,
)
from ganflow.models.regularizers import EMA, HistoricalAveraging
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.models.ssgan.nets import sample_z


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def make_batches(
    data: dict[str, torch.Tensor], cfg: SSGANConfig, seed: int, unlabelled: bool
) -> Callable[[int], Batch]:
    """data: x_lab (L, C, H, W) uint8, y_lab (L,), x_unl (U, C, H, W) uint8, all on one device;
    with neighbour_weight, neighbours (U, k): each unlabelled image's nearest others; with
    graph_weight, graph (U, K): each unlabelled image's class distribution spread over the
    neighbour graph.
    Each stream is an IndexStream and each augmentation a Shift, so batch t depends only on
    (seed, t). With consistency on, x_unl_b is a second view of the images of x_unl; with
    neighbour_weight, x_nbr holds one neighbour of each, drawn with (seed, t)."""
    lab = IndexStream(len(data["x_lab"]), cfg.labelled_batch_size, seed * 3 + 1)
    if unlabelled:
        unl = IndexStream(len(data["x_unl"]), cfg.batch_size, seed * 3 + 2)
        unl2 = IndexStream(len(data["x_unl"]), cfg.batch_size, seed * 3 + 3)
    device = data["x_lab"].device
    real = _real_reader(data, cfg, seed)

    def next_batch(step: int) -> Batch:
        i = lab(step).to(device)
        batch = {"x_lab": real("x_lab", i, step, 1, True), "y_lab": data["y_lab"][i]}
        if unlabelled:
            j = unl(step).to(device)
            batch["x_unl"] = real("x_unl", j, step, 2, True)
            if cfg.consistency > 0:
                batch["x_unl_b"] = real("x_unl", j, step, 3, True)
            batch["x_unl2"] = real("x_unl", unl2(step).to(device), step, 4, False)
            if cfg.neighbour_weight > 0:
                batch["x_nbr"] = real("x_unl", _neighbour(data, j, seed, step), step, 5, False)
            if cfg.graph_weight > 0:
                batch["y_graph"] = data["graph"][j]
        return batch

    return next_batch


def _neighbour(
    data: dict[str, torch.Tensor], j: torch.Tensor, seed: int, step: int
) -> torch.Tensor:
    """One of the nearest neighbours of each unlabelled image j, drawn with (seed, step)."""
    nbr = data["neighbours"]
    g = torch.Generator().manual_seed((seed * 1_000_003 + step) * 17 + 11)
    r = torch.randint(0, nbr.shape[1], (len(j),), generator=g).to(j.device)
    return nbr[j, r]


RealReader = Callable[[str, torch.Tensor, int, int, bool], torch.Tensor]


def _real_reader(data: dict[str, torch.Tensor], cfg: SSGANConfig, seed: int) -> RealReader:
    """(key, indices, step, salt, augmented) -> D's inputs of the real images data[key][idx]:
    the images as floats, through the augmentation of `salt` where augmented; or, where D's
    inputs were computed once (data["maps"] (U, V, ...) and data["maps_lab"] (L, V, ...), V
    views of each image: it and, with a flip augmentation, its mirror image; the scat arch,
    whose maps are stable to shifts of a few pixels, so only the flip is kept), one view of
    each drawn with (seed, step, salt). A pure function of its arguments either way."""
    if "maps" in data:
        sources = {"x_lab": data["maps_lab"], "x_unl": data["maps"]}

        def take(key: str, idx: torch.Tensor, step: int, salt: int, _aug: bool) -> torch.Tensor:
            source = sources[key]
            if source.shape[1] == 1:
                return source[idx, 0].float()
            g = torch.Generator().manual_seed((seed * 1_000_003 + step) * 29 + salt)
            v = torch.randint(0, source.shape[1], (len(idx),), generator=g).to(idx.device)
            return source[idx, v].float()

        return take
    views: dict[int, Callable[[torch.Tensor, int], torch.Tensor]] = {}

    def read(key: str, idx: torch.Tensor, step: int, salt: int, augmented: bool) -> torch.Tensor:
        x = _as_float(data[key][idx])
        if not augmented or cfg.augment == "none":
            return x
        if salt not in views:
            views[salt] = Shift(cfg.aug_shift, cfg.augment == "shift-flip", seed, salt)
        return views[salt](x, step)

    return read


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == y).float().mean()


def _with_penalty(
    loss: torch.Tensor, terms: dict[str, torch.Tensor], hist: HistoricalAveraging | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """loss + ||theta - mean_t theta_t||^2 (section 3.3) when the player keeps an average."""
    if hist is None:
        return loss, terms
    h = hist.penalty()
    return loss + h, {**terms, "hist": h.detach()}


class SSGANObjective:
    """One method per phase: d (the K+1 classifier), g (the generator), sup (the baseline).

    D returns (K logits, last hidden features); the fake class's logit is fixed at 0
    (losses.py), so D(x) is at once the classifier and the real/fake critic."""

    def __init__(
        self,
        D: nn.Module,
        G: nn.Module | None,
        cfg: SSGANConfig,
        hist_d: HistoricalAveraging | None = None,
        hist_g: HistoricalAveraging | None = None,
    ) -> None:
        self.D, self.G, self.cfg, self.hist_d, self.hist_g = D, G, cfg, hist_d, hist_g
        self.device = next(D.parameters()).device
        self.real_target = 1.0 - cfg.label_smoothing  # one-sided smoothing (section 3.4)

    def fake(self) -> torch.Tensor:
        """A batch G(z), z ~ U(0, 1). (N, C, H, W)"""
        return self.G(sample_z(self.cfg.batch_size, self.cfg.z_dim, self.device))

    def _d_logits(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """D's logits of each batch. Without minibatch discrimination D treats every image
        on its own (no batch statistics), so the batches go through as one: the same
        function, in fewer and larger matrix products."""
        if self.cfg.minibatch_discrimination:
            return tuple(self.D(x)[0] for x in xs)
        logits, _ = self.D(torch.cat(xs))
        return logits.split([len(x) for x in xs])

    def d(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_D = L_supervised + w L_unsupervised (section 5, eq. 4-5) [+ consistency]
        [+ neighbour consistency] [+ graph labels] [+ entropy]."""
        cfg = self.cfg
        with torch.no_grad():
            fake = self.fake()  # (N, C, H, W)
            if batch["x_unl"].shape[1:] != fake.shape[1:]:  # real batches came as D's maps
                fake = self.D.body[0](fake)
        xs = [batch["x_lab"], batch["x_unl"], fake]
        if cfg.consistency > 0:
            xs.append(batch["x_unl_b"])
        if cfg.neighbour_weight > 0:
            xs.append(batch["x_nbr"])
        logits_lab, logits_unl, logits_fake, *rest = self._d_logits(*xs)
        l_sup = supervised_loss(logits_lab, batch["y_lab"])
        l_unsup = unsupervised_loss(logits_unl, logits_fake, self.real_target)
        loss = l_sup + cfg.unsupervised_weight * l_unsup
        terms = {
            "sup": l_sup.detach(),
            "unsup": l_unsup.detach(),
            "acc_lab": _accuracy(logits_lab, batch["y_lab"]),
        }
        if cfg.consistency > 0:
            l_cons = consistency_loss(logits_unl, rest.pop(0))
            loss = loss + cfg.consistency * l_cons
            terms["cons"] = l_cons.detach()
        if cfg.neighbour_weight > 0:
            l_nbr = consistency_loss(logits_unl, rest.pop(0))
            loss = loss + cfg.neighbour_weight * l_nbr
            terms["nbr"] = l_nbr.detach()
        if cfg.graph_weight > 0:
            l_graph = graph_label_loss(logits_unl, batch["y_graph"], cfg.graph_certainty)
            loss = loss + cfg.graph_weight * l_graph
            terms["graph"] = l_graph.detach()
        if cfg.entropy_weight > 0:
            l_ent = entropy_loss(logits_unl)
            loss = loss + cfg.entropy_weight * l_ent
            terms["ent"] = l_ent.detach()
        return _with_penalty(loss, terms, self.hist_d)

    def g(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Feature matching ||E f(x) - E f(G(z))||^2 (section 3.1), or non-saturating."""
        logits_fake, f_fake = self.D(self.fake())
        if self.cfg.feature_matching:
            with torch.no_grad():
                _, f_real = self.D(batch["x_unl2"])
            loss = feature_matching_loss(f_real, f_fake)
        else:
            loss = generator_nonsaturating_loss(logits_fake)
        return _with_penalty(loss, {"adv": loss.detach()}, self.hist_g)

    def sup(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The supervised-only baseline: cross-entropy on the labelled batch alone."""
        logits, _ = self.D(batch["x_lab"])
        loss = supervised_loss(logits, batch["y_lab"])
        return loss, {"acc_lab": _accuracy(logits, batch["y_lab"])}


def trained_parameters(module: nn.Module, cfg: SSGANConfig) -> list[nn.Parameter]:
    """The parameters a player's optimiser steps: all of them, or with frozen_scales all
    but the weight-norm scales g of D's body (its hidden layers; the head's scale trains).
    G has no body attribute: all of its parameters train."""
    body = getattr(module, "body", None)
    if not cfg.frozen_scales or body is None:
        return list(module.parameters())
    frozen = {id(p) for name, p in body.named_parameters()
              if name.endswith("parametrizations.weight.original0")}  # fmt: skip
    return [p for p in module.parameters() if id(p) not in frozen]


class _Player:
    """One player's optimiser, schedule and (optional) historical average, registered in
    `stateful` under opt_<name>, sched_<name>, hist_<name>."""

    def __init__(
        self,
        name: str,
        module: nn.Module,
        lr: float,
        cfg: SSGANConfig,
        total_steps: int,
        stateful: dict[str, Any],
        averaged: bool,
    ) -> None:
        self.opt = adam(trained_parameters(module, cfg), lr, (cfg.beta1, 0.999))
        self.sched = linear_decay(self.opt, total_steps, cfg.lr_decay_start)
        on = averaged and cfg.historical_averaging > 0
        self.hist = HistoricalAveraging(module, cfg.historical_averaging) if on else None
        stateful.update({f"opt_{name}": self.opt, f"sched_{name}": self.sched})
        if self.hist is not None:
            stateful[f"hist_{name}"] = self.hist

    def after(self, ema: EMA | None, module: nn.Module) -> Callable[[], None] | None:
        """The after-step hook: historical average and EMA of the weights just stepped."""
        hist = self.hist
        if hist is None and ema is None:
            return None

        def hook() -> None:
            if hist is not None:
                hist.update()
            if ema is not None:
                ema.update(module)

        return hook


def _classifier_ema(D: nn.Module, cfg: SSGANConfig, stateful: dict[str, Any]) -> EMA | None:
    """EMA of the classifier's weights (registered as ema_d), or None when ema_decay is 0."""
    if cfg.ema_decay <= 0:
        return None
    stateful["ema_d"] = EMA(D, cfg.ema_decay, warmup=True)
    return stateful["ema_d"]


def build_training(
    models: dict[str, nn.Module],
    cfg: SSGANConfig,
    data: dict[str, torch.Tensor],
    total_steps: int,
    seed: int,
) -> Training:
    """The K+1 GAN's two phases (d, g) over labelled + unlabelled data."""
    for key, needed in (("neighbours", cfg.neighbour_weight > 0), ("graph", cfg.graph_weight > 0)):
        if needed and key not in data:
            raise ValueError(f"the config's {key} term needs data[{key!r}]")
    D, G = models["D"], models["G"]
    stateful: dict[str, Any] = {"D": D, "G": G}
    pd = _Player("d", D, cfg.lr_d, cfg, total_steps, stateful, averaged=True)
    pg = _Player("g", G, cfg.lr_g, cfg, total_steps, stateful, averaged=True)
    ema = _classifier_ema(D, cfg, stateful)
    obj = SSGANObjective(D, G, cfg, pd.hist, pg.hist)
    phases = [
        Phase("d", [D], pd.opt, obj.d, scheduler=pd.sched, after_step=pd.after(ema, D)),
        Phase("g", [G], pg.opt, obj.g, scheduler=pg.sched, after_step=pg.after(None, G)),
    ]
    return Training(phases, make_batches(data, cfg, seed, unlabelled=True), stateful, ema)


def build_baseline_training(
    models: dict[str, nn.Module],
    cfg: SSGANConfig,
    data: dict[str, torch.Tensor],
    total_steps: int,
    seed: int,
) -> Training:
    """The same discriminator trained on the labelled subset alone, for the same number of
    steps: the supervised-only baseline every report sets beside the GAN. Historical
    averaging is a GAN trick and stays out of it."""
    D = models["D"]
    stateful: dict[str, Any] = {"D": D}
    pd = _Player("d", D, cfg.lr_d, cfg, total_steps, stateful, averaged=False)
    ema = _classifier_ema(D, cfg, stateful)
    obj = SSGANObjective(D, None, cfg)
    phases = [Phase("sup", [D], pd.opt, obj.sup, scheduler=pd.sched, after_step=pd.after(ema, D))]
    return Training(phases, make_batches(data, cfg, seed, unlabelled=False), stateful, ema)
