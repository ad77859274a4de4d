"""Model families by name: the one place that lists them.

A Family record says how to read a family's config, build its networks from a checkpoint's
run record, and (where it can) draw labelled images from a trained run. Checkpoint loading,
evaluation, export, reports, serve and the CLI ask this registry; nothing else names a
family. Adding one is a folder under models/ and one line in FAMILIES (README: "Adding a
model family").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganflow.models.aae import sampling as aae
from ganflow.models.aae.config import AAEConfig
from ganflow.models.config import Config
from ganflow.models.cyclegan import nets as cyclegan
from ganflow.models.cyclegan.config import CycleGANConfig
from ganflow.models.engine import load_states
from ganflow.models.gan import sampling as gan
from ganflow.models.gan.config import GANConfig
from ganflow.models.infogan import sampling as infogan
from ganflow.models.infogan.config import InfoGANConfig
from ganflow.models.lapgan import sampling as lapgan
from ganflow.models.lapgan.config import LAPGANConfig
from ganflow.models.pix2pix import nets as pix2pix
from ganflow.models.pix2pix.config import Pix2PixConfig
from ganflow.models.progan import sampling as progan
from ganflow.models.progan.config import ProGANConfig
from ganflow.models.sgan import sampling as sgan
from ganflow.models.sgan.config import SGANConfig
from ganflow.models.ssgan import sampling as ssgan
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.models.stackgan import sampling as stackgan
from ganflow.models.stackgan.config import StackGANConfig


@dataclass
class Run:
    """A trained run: its family, config, networks (eval mode) and the checkpoint's record
    (kind, seed, shapes, data fingerprint id), with the class names it was trained on."""

    family: Family
    config: Config
    modules: dict[str, nn.Module]
    record: dict[str, Any]
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    # what else the checkpoint holds (a text-to-image run: its text encoder)
    extra: dict[str, Any] = field(default_factory=dict)
    # the truncation trick's threshold for the samples (families with Family.truncates)
    truncation: float | None = None

    @property
    def kind(self) -> str:
        return self.record.get("kind", self.family.name)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one sample, (C, H, W) for images."""
        return tuple(self.record.get("image_shape") or self.record["shape"])

    @property
    def device(self) -> torch.device:
        return next(next(iter(self.modules.values())).parameters()).device


CONDITION, PREDICTED = "condition", "predicted"
_TRANSLATES = (
    "an image-to-image translator, which draws no images of its own: use `ganflow translate apply`"
)

# (run, n, labels (n,) or None, generator) -> (uint8 images (n, C, H, W), labels (n,) or None,
# confidence (n,) or None), all on the CPU
SampleFn = Callable[[Run, int, "torch.Tensor | None", torch.Generator], tuple]


@dataclass(frozen=True)
class Family:
    """name: as stored in checkpoints; title: 'a ...' for messages; config: the family's
    config class; build: (config, record) -> modules; load: fills the modules from a
    checkpoint's state (an average's weights where the family evaluates with one);
    sample: draws images (None: the family cannot); why_not_sampled: (run) -> a reason this
    run cannot give samples, or None; labels: (run) -> what the labels of its samples are:
    CONDITION (sample() makes the labels it is given), PREDICTED (it names them itself, with
    a confidence), or None (its samples carry none); classifier: (run) -> the network that
    classifies images (class logits first in its output), or None; encoder: (run) -> the
    network whose categorical code clusters images in [0, 1] ((logits, code) out), or None."""

    name: str
    title: str
    config: type[Config]
    build: Callable[[Any, dict[str, Any]], dict[str, nn.Module]]
    load: Callable[[dict[str, nn.Module], dict[str, Any]], None]
    sample: SampleFn | None = None
    why_not_sampled: Callable[[Run], str | None] = lambda run: None
    labels: Callable[[Run], str | None] = lambda run: None
    classifier: Callable[[Run], nn.Module | None] = lambda run: None
    encoder: Callable[[Run], nn.Module | None] = lambda run: None
    # sample() honours run.truncation (z from a truncated normal)
    truncates: bool = False

    def conditional(self, run: Run) -> bool:
        return self.labels(run) == CONDITION

    def cannot_sample(self, run: Run) -> str | None:
        """Why this run cannot give images ("a ..." phrase), or None when it can."""
        if self.sample is not None:
            return self.why_not_sampled(run)
        return self.why_not_sampled(run) or f"{self.title}, which makes no images"


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "ssgan",
            "a semi-supervised GAN",
            SSGANConfig,
            ssgan.modules_for,
            ssgan.load_for_eval,
            ssgan.sample,
            ssgan.why_not_sampled,
            lambda run: PREDICTED,
            lambda run: run.modules["D"],
        ),
        Family(
            "gan",
            "a GAN",
            GANConfig,
            gan.modules_for,
            load_states,
            gan.sample,
            gan.why_not_sampled,
            lambda run: CONDITION if run.config.conditional else None,
            truncates=True,
        ),
        Family(
            "lapgan",
            "a LAPGAN",
            LAPGANConfig,
            lapgan.modules_for,
            load_states,
            lapgan.sample,
        ),
        Family(
            "progan",
            "a progressively grown GAN",
            ProGANConfig,
            progan.modules_for,
            load_states,
            progan.sample,
        ),
        Family(
            "aae",
            "an adversarial autoencoder",
            AAEConfig,
            aae.modules_for,
            load_states,
            aae.sample,
            aae.why_not_sampled,
            lambda run: CONDITION,
            lambda run: run.modules["E"] if run.kind == "aae-semi" else None,
            lambda run: run.modules["E"] if run.config.clusters else None,
        ),
        Family(
            "infogan",
            "an InfoGAN",
            InfoGANConfig,
            infogan.modules_for,
            load_states,
            infogan.sample,
            encoder=infogan.encoder,
        ),
        Family(
            "sgan",
            "a stacked GAN (SGAN)",
            SGANConfig,
            sgan.modules_for,
            load_states,
            sgan.sample,
            labels=lambda run: CONDITION,
            classifier=lambda run: run.modules["E"],
        ),
        Family(
            "pix2pix",
            "a pix2pix translator",
            Pix2PixConfig,
            pix2pix.modules_for,
            load_states,
            why_not_sampled=lambda run: f"{_TRANSLATES} (pix2pix)",
        ),
        Family(
            "cyclegan",
            "a CycleGAN translator",
            CycleGANConfig,
            cyclegan.modules_for,
            load_states,
            why_not_sampled=lambda run: f"{_TRANSLATES} (CycleGAN)",
        ),
        Family(
            "stackgan",
            "a StackGAN text-to-image model",
            StackGANConfig,
            stackgan.modules_for,
            stackgan.load_for_eval,
            why_not_sampled=lambda run: (
                "a text-to-image model, which draws from captions: use `ganflow text2image "
                "generate --prompt ...` or the text2image flow's --export"
            ),
        ),
    )
}
