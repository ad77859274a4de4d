"""Trained generators as sources of labelled synthetic images, for export.

Each source draws a batch: uint8 images (n, C, H, W), their labels (n,) and a confidence
(n,) or None:
  gan (conditional)  the label is the condition asked for; acgan runs add the auxiliary
                     classifier's probability of that label as the confidence.
  ssgan (K+1 GAN)    G is unconditional: the label is the run's own classifier's prediction
                     and the confidence its softmax probability over the K real classes
                     (Salimans et al. 2016, section 5), so exports filter on it.
  aae (semi-supervised)  the decoder of (one-hot y, z ~ p(z)): the label is y.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from models import gan
from tasks.checkpoint import CheckpointError, load_checkpoint


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class GeneratorSource:
    """What an export needs from a trained run."""

    kind: str  # gan | ssgan | aae
    conditional: bool  # True: draw() makes the labels it is given; False: it picks them
    class_names: list[str]
    shape: tuple[int, int, int]
    config: dict[str, Any]
    data_name: str
    data_fingerprint: str

    def draw(
        self, labels: torch.Tensor | None, n: int, g: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


def _to_uint8(x: torch.Tensor, low: float) -> torch.Tensor:
    """[low, 1] floats -> uint8 [0, 255]."""
    x = (x.float().clamp(low, 1) - low) / (1 - low)
    return (x * 255).round().to(torch.uint8).cpu()


class _ConditionalGAN(GeneratorSource):
    kind, conditional = "gan", True

    def __init__(self, checkpoint: Path, device: str) -> None:
        from tasks.gan_train import load_gan

        run = load_gan(checkpoint, device)
        if not run["config"].conditional:
            raise CheckpointError(
                f"{checkpoint} is an unconditional GAN: its samples have no labels to export; "
                "train one with --condition projection (or concat, acgan)"
            )
        self.run, self.device = run, device
        self.class_names, self.shape = list(run["class_names"]), tuple(run["shape"])
        self.config = run["config"].to_dict()
        self.data_name, self.data_fingerprint = (
            run["run_config"]["data_name"],
            run["run_config"]["data"],
        )

    @torch.no_grad()
    def draw(self, labels, n, g):
        cfg = self.run["config"]
        z = torch.randn(n, cfg.z_dim, generator=g).to(self.device)
        y = labels.to(self.device)
        x = gan.sampler(self.run)(z, y).view(n, *self.shape)
        conf = None
        if cfg.condition == "acgan":
            out = self.run["D"](x.flatten(1) if cfg.arch == "mlp" else x, y)
            conf = out[2].softmax(1).gather(1, y[:, None])[:, 0].cpu()
        return _to_uint8(x, -1.0), labels.cpu(), conf


class _SSGAN(GeneratorSource):
    kind, conditional = "ssgan", False

    def __init__(self, checkpoint: Path, device: str) -> None:
        from models.ssgan_nets import sample_z
        from tasks.train import load_trained

        run = load_trained(checkpoint, device)
        if "generator" not in run:
            raise CheckpointError(f"{checkpoint} is a supervised baseline: it has no generator")
        self.run, self.device, self.sample_z = run, device, sample_z
        self.class_names = list(run["class_names"])
        self.shape = tuple(run["run_config"]["image_shape"])
        self.config = run["config"].to_dict()
        self.data_fingerprint = run["run_config"]["data"]
        self.data_name = ""  # set by the caller from the run's data bundle, where known

    @torch.no_grad()
    def draw(self, labels, n, g):
        z = self.sample_z(n, self.run["config"].z_dim, "cpu", g).to(self.device)
        x = self.run["generator"](z).float().clamp(0, 1)  # (n, C, H, W) in [0, 1]
        logits = self.run["classifier"](x)[0]  # the K real classes' logits
        conf, y = logits.softmax(1).max(1)
        return _to_uint8(x, 0.0), y.cpu(), conf.cpu()


class _SemiAAE(GeneratorSource):
    kind, conditional = "aae", True

    def __init__(self, checkpoint: Path, device: str) -> None:
        from models import aae
        from tasks.cluster import load_aae

        run = load_aae(checkpoint, device)
        if run["run_config"]["kind"] != "aae-semi":
            raise CheckpointError(
                f"{checkpoint} is an unsupervised AAE: its clusters are not classes; export "
                "from a semi-supervised one (ganflow cluster --labels-per-class N)"
            )
        self.run, self.device, self.aae = run, device, aae
        self.class_names = list(run["class_names"])
        self.shape = tuple(run["run_config"]["image_shape"])
        self.config = run["config"].to_dict()
        self.data_fingerprint = run["run_config"]["data"]
        self.data_name = ""

    @torch.no_grad()
    def draw(self, labels, n, g):
        cfg = self.run["config"]
        z = self.aae.sample_prior(n, cfg, labels, generator=g, device=self.device)
        y = F.one_hot(labels, cfg.clusters).float().to(self.device)
        x = torch.sigmoid(self.run["Dec"](y, z))
        return _to_uint8(x, 0.0), labels.cpu(), None


def open_generator(checkpoint: str | Path, device: str = "cpu") -> GeneratorSource:
    """The run behind a checkpoint.pt as a GeneratorSource (gan, ssgan or aae)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    ckpt = load_checkpoint(path, map_location="cpu")
    family = ckpt["config"].get("family")
    sources = {"gan": _ConditionalGAN, "ssgan": _SSGAN, "aae": _SemiAAE}
    if family not in sources:
        raise CheckpointError(f"{path}: a {family!r} run cannot feed an export (gan, ssgan or aae)")
    src = sources[family](path, device)
    src.data_name = src.data_name or ckpt.get("fingerprint", {}).get("source", "")
    if not src.class_names:
        raise CheckpointError(f"{path} does not record its class names")
    return src
