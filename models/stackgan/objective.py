"""StackGAN's objective (Zhang et al. 2017, eq. 3-6) with the matching-aware discriminator
of GAN-CLS (Reed et al. 2016, section 4.1): three kinds of pair, one label each,
  (real image, its text)        -> real
  (real image, another's text)  -> fake   (mismatched: D must read the text)
  (G's image, its text)         -> fake
  d: L_D = BCE(s_real, 1) + 1/2 [BCE(s_wrong, 0) + BCE(s_fake, 0)]
  g: L_G = BCE(s_fake, 1) + kl_weight * KL(N(mu, Sigma) || N(0, I)) / N_g
           [+ match_weight * InfoNCE(texts, matcher(G's images))]
           [Stage II: + stage2_anchor * |area-down(G2's image) - Stage-I's image|_1 mean]
(the KL per conditioning dimension, as the released code takes it: a mean over the batch
and the dimensions, with its coefficient 2; the paper's lambda = 1 on the summed KL
swamps the text at N_g = 128)
Stage II has the same two phases on (G2, D2); Stage-I's G, which draws the low-resolution
image G2 refines, is frozen (eval mode, no gradient), as in the paper's section 3.2.
The mismatched texts are the batch's own texts rolled by one (each image with the next
image's text), or with hard_negatives each image's nearest other text in the batch (by
cosine): a text that differs from its own in few words, often one attribute only, so D
must check every attribute, the item's shape among them, and not only the easy ones.
The optional matching term is AttnGAN's DAMSM sentence loss (Xu et al. 2018, eq. 10-11):
the text encoder's image encoder (`matcher`, frozen) must pick each generated image's own
caption out of the batch's captions, and each caption's image out of the batch's images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models import losses
from ganflow.models.engine import Batch, Phase, Training, adam
from ganflow.models.regularizers import EMA
from ganflow.models.stackgan.conditioning import kl_to_standard_normal
from ganflow.models.stackgan.config import StackGANConfig
from ganflow.models.text.matching import contrastive_loss


def mismatched(phi: torch.Tensor, hardest: bool = False) -> torch.Tensor:
    """Each example's text replaced by the next example's, or with `hardest` by the most
    cosine-similar text of another example: (N, E) -> (N, E)."""
    if not hardest:
        return phi.roll(1, dims=0)
    u = F.normalize(phi, dim=1)
    sim = (u @ u.T).fill_diagonal_(float("-inf"))
    return phi[sim.argmax(1)]


# the weights of the three pairs in L_D: the real pair, then half each of the two fakes
PAIR_WEIGHTS = (1.0, 0.5, 0.5)


def matching_pairs(
    real: torch.Tensor, fake: torch.Tensor, phi: torch.Tensor, hardest: bool = False
) -> list[tuple]:
    """The discriminator's three (image, text, label) pairs."""
    return [(real, phi, 1.0), (real, mismatched(phi, hardest), 0.0), (fake, phi, 0.0)]


class StackGANObjective:
    def __init__(
        self,
        models: dict[str, nn.Module],
        cfg: StackGANConfig,
        stage: int,
        matcher: Callable[[torch.Tensor], torch.Tensor] | None = None,
        match_temperature: float = 0.1,
    ) -> None:
        """matcher: G's images (N, 3, S, S) in [-1, 1] -> (N, E) in the text embeddings'
        space, frozen; needed when cfg.match_weight > 0. match_temperature: the contrastive
        softmax's temperature the matcher was trained with."""
        if cfg.match_weight > 0 and matcher is None:
            raise ValueError("match_weight > 0 needs the text encoder's image encoder")
        self.m, self.cfg, self.stage, self.matcher = models, cfg, stage, matcher
        self.match_temperature = match_temperature
        self.G, self.D = models[f"G{stage}"], models[f"D{stage}"]

    def _low(self, batch: Batch) -> torch.Tensor:
        G1 = self.m["G1"].eval()  # frozen: its BN statistics and its weights stay as trained
        with torch.no_grad():
            return G1(batch["phi"], batch["z"])[0]

    def _fake(
        self, batch: Batch, low: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.stage == 1:
            return self.G(batch["phi"], batch["z"])
        return self.G(self._low(batch) if low is None else low, batch["phi"])

    def d(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():
            fake, _, _ = self._fake(batch)
        real = batch[f"x{self.stage}"]
        pairs = matching_pairs(real, fake, batch["phi"], self.cfg.hard_negatives)
        r, w, f = (self.D(x, t) for x, t, _ in pairs)
        loss = sum(
            weight * losses.binary_ce_with_logits(s, label)
            for weight, s, (_, _, label) in zip(PAIR_WEIGHTS, (r, w, f), pairs, strict=True)
        )
        return loss, {
            "real": r.detach().mean(),
            "wrong": w.detach().mean(),
            "fake": f.detach().mean(),
        }

    def g(self, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        anchored = self.stage == 2 and self.cfg.stage2_anchor > 0
        low = self._low(batch) if anchored else None
        fake, mu, logvar = self._fake(batch, low)
        adv = losses.binary_ce_with_logits(self.D(fake, batch["phi"]), 1.0)
        kl = kl_to_standard_normal(mu, logvar) / mu.shape[1]
        loss = adv + self.cfg.kl_weight * kl
        terms = {"adv": adv.detach(), "kl": kl.detach()}
        if low is not None:
            anchor = (F.interpolate(fake, size=low.shape[-1], mode="area") - low).abs().mean()
            loss = loss + self.cfg.stage2_anchor * anchor
            terms["anchor"] = anchor.detach()
        if self.cfg.match_weight > 0:
            match = contrastive_loss(
                batch["phi"],
                self.matcher(fake),  # type: ignore[misc]
                self.match_temperature,
            )
            loss = loss + self.cfg.match_weight * match
            terms["match"] = match.detach()
        return loss, terms


def build_training(
    models: dict[str, nn.Module],
    cfg: StackGANConfig,
    batches: Any,
    total_steps: int,
    stage: int,
    matcher: Callable[[torch.Tensor], torch.Tensor] | None = None,
    match_temperature: float = 0.1,
) -> Training:
    """Stage `stage`'s phases d and g; in stage 2 the Stage-I generator is in the state (it
    is saved with the run) but in no phase, so nothing steps it. The matcher is in no phase
    and no state either: it is the text encoder's, which the run stores. With g_ema, the
    average of the stage's G (state `ema_g1` or `ema_g2`) follows each step of G."""
    obj = StackGANObjective(models, cfg, stage, matcher, match_temperature)
    stateful: dict[str, Any] = dict(models)
    ema = None
    if cfg.g_ema > 0:
        ema = stateful[f"ema_g{stage}"] = EMA(obj.G, cfg.g_ema)
    phases = []
    for name, module, loss in (("d", obj.D, obj.d), ("g", obj.G, obj.g)):
        opt = adam(module.parameters(), cfg.lr, (cfg.beta1, 0.999))
        stateful[f"opt_{name}{stage}"] = opt
        after = (lambda: ema.update(obj.G)) if name == "g" and ema is not None else None
        phases.append(Phase(f"{name}{stage}", [module], opt, loss, after_step=after))
    return Training(phases, batches, stateful)
