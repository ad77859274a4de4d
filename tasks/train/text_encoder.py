"""The caption encoder of a captioned data set, trained (or loaded) once and cached by the
data's content and the recipe: a word GRU learned on the set's own captions ("words"), or
the pretrained MiniLM sentence encoder, frozen ("minilm"). Either way an image encoder is
trained beside it with the symmetric contrastive loss, so that captions and images share
one space: the text encoder learns from it (words), and R-precision ranks captions in it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganflow.models.config import Config, ConfigError
from ganflow.models.engine import IndexStream
from ganflow.models.image_batches import to_unit
from ganflow.models.text import minilm
from ganflow.models.text.matching import ImageEncoder, contrastive_loss
from ganflow.models.text.words import Vocabulary, WordGRUEncoder
from ganflow.tasks.data.captions import CaptionSplit, pick_captions
from ganflow.tasks.progress import Progress

KINDS = ("words", "minilm")
# the side the matching image encoder sees (images are area-resized to it)
MATCH_SIZE = 32
VERSION = 2


@dataclass
class EncoderRecipe(Config):
    # words (a GRU trained on the captions) | minilm (pretrained, frozen; the [minilm] extra)
    kind: str = "words"
    # embedding dimension (minilm: its own 384)
    embed_dim: int = 384
    # contrastive training of the encoders: at least `steps`, then until max_seconds
    steps: int = 800
    max_seconds: float = 60.0
    # large batches: more rivals that differ from a caption in one attribute only (the
    # item, say), so the encoders must tell those apart (benchmarks/README.md)
    batch_size: int = 512
    lr: float = 2e-3
    # temperature of the contrastive softmax
    temperature: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"text encoder must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "minilm":
            if self.embed_dim != minilm.DIM:
                raise ConfigError(
                    f"the minilm encoder gives {minilm.DIM} dimensions, not {self.embed_dim}"
                )
            minilm.check_available()
        self.require("at least 1", "embed_dim", "steps", "batch_size")
        self.require("positive", "lr", "temperature", "max_seconds")


def match_side(x: torch.Tensor) -> torch.Tensor:
    """uint8 or [-1, 1] images (N, 3, S, S) -> [-1, 1] at the matching side."""
    x = to_unit(x) if x.dtype == torch.uint8 else x.float()
    return x if x.shape[-1] == MATCH_SIZE else F.interpolate(x, size=MATCH_SIZE, mode="area")


class TextEncoder:
    """Captions -> unit-length embeddings (N, E); images -> the same space."""

    def __init__(self, recipe: EncoderRecipe, vocab: Vocabulary | None,
                 text_net: WordGRUEncoder | None, image_net: ImageEncoder) -> None:  # fmt: skip
        self.recipe, self.vocab, self.text_net, self.image_net = recipe, vocab, text_net, image_net
        self.info: dict[str, Any] = {}

    @property
    def dim(self) -> int:
        return self.recipe.embed_dim

    @property
    def device(self) -> torch.device:
        return next(self.image_net.parameters()).device

    def _text(self, captions: list[str]) -> torch.Tensor:
        if self.text_net is None:
            return minilm.encode(captions, str(self.device)).to(self.device)
        ids, lengths = self.vocab.encode(captions)  # type: ignore[union-attr]
        return self.text_net(ids.to(self.device), lengths)

    @torch.no_grad()
    def encode(self, captions: list[str], batch_size: int = 1024) -> torch.Tensor:
        """float32 (N, E) unit-length embeddings on the CPU."""
        if self.text_net is not None:
            self.text_net.eval()
        parts = [F.normalize(self._text(captions[i : i + batch_size]), dim=1).cpu()
                 for i in range(0, len(captions), batch_size)]  # fmt: skip
        return torch.cat(parts) if parts else torch.empty(0, self.dim)

    @torch.no_grad()
    def encode_images(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        self.image_net.eval()
        parts = [F.normalize(self.image_net(match_side(x[i : i + batch_size]).to(self.device)),
                             dim=1).cpu() for i in range(0, len(x), batch_size)]  # fmt: skip
        return torch.cat(parts) if parts else torch.empty(0, self.dim)

    def image_matcher(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """A frozen copy of the image encoder (eval mode, no parameter gradients) as a
        function of [-1, 1] images (N, 3, S, S) -> (N, E), differentiable in the images:
        StackGAN's matching term trains the generator through it."""
        net = copy.deepcopy(self.image_net).eval().requires_grad_(False)
        return lambda x: net(match_side(x))

    def state(self) -> dict[str, Any]:
        """Plain tensors, strings and numbers (loads with weights_only=True)."""
        return {
            "recipe": self.recipe.to_dict(),
            "vocab": self.vocab.state_dict() if self.vocab is not None else None,
            "text": self.text_net.state_dict() if self.text_net is not None else None,
            "image": self.image_net.state_dict(),
            "info": self.info,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> TextEncoder:
        recipe = EncoderRecipe.from_dict(state["recipe"])
        enc = build_encoder(
            recipe, Vocabulary.from_state(state["vocab"]) if state["vocab"] else None
        )
        if enc.text_net is not None:
            enc.text_net.load_state_dict(state["text"])
        enc.image_net.load_state_dict(state["image"])
        enc.info = dict(state.get("info", {}))
        return enc.to(device)

    def to(self, device: str | torch.device) -> TextEncoder:
        for m in (self.text_net, self.image_net):
            if m is not None:
                m.to(device)
        return self


def build_encoder(recipe: EncoderRecipe, vocab: Vocabulary | None) -> TextEncoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        text = (WordGRUEncoder(len(vocab), recipe.embed_dim)
                if recipe.kind == "words" and vocab is not None else None)  # fmt: skip
        image = ImageEncoder(MATCH_SIZE, recipe.embed_dim)
    return TextEncoder(recipe, vocab, text, image)


def train_encoder(
    split: CaptionSplit, recipe: EncoderRecipe, device: str | torch.device = "cpu",
    progress: bool = True,
) -> TextEncoder:  # fmt: skip
    """Contrastive training on (image, one of its captions) pairs of the training part; the
    MiniLM text side stays frozen (its embeddings of each distinct caption are computed once)."""
    recipe.validate()
    train = split.train
    flat, offsets = train.flat()
    vocab = Vocabulary(flat) if recipe.kind == "words" else None
    enc = build_encoder(recipe, vocab).to(device)
    frozen = None
    if recipe.kind == "minilm":
        frozen = minilm.encode(flat, str(device))
    params = [*enc.image_net.parameters(), *(enc.text_net.parameters() if enc.text_net else [])]
    opt = torch.optim.Adam(params, recipe.lr)
    images = torch.from_numpy(train.images)
    stream = IndexStream(len(images), recipe.batch_size, recipe.seed)
    # `steps`, then more until max_seconds; never more than 30 passes (a small set)
    passes_30 = max(1, 30 * len(images) // recipe.batch_size)
    least = min(recipe.steps, passes_30)
    bar = (
        None
        if not progress
        else Progress(f"{recipe.kind} text encoder for {train.name} (once; cached)", least, "step")
    )
    t0, step, losses = time.monotonic(), 0, []
    for m in (enc.text_net, enc.image_net):
        if m is not None:
            m.train()
    while step < least or (time.monotonic() - t0 < recipe.max_seconds and step < passes_30):
        idx = stream(step)
        # one caption of each image, a pure function of (seed, step)
        g = torch.Generator().manual_seed((recipe.seed * 1_000_003 + step) * 31 + 7)
        pick = pick_captions(offsets, idx, g)
        if frozen is not None:
            text = frozen[pick].to(device)
        else:
            text = enc._text([flat[k] for k in pick.tolist()])
        loss = contrastive_loss(
            text, enc.image_net(match_side(images[idx]).to(device)), recipe.temperature
        )
        if not math.isfinite(loss.item()):
            raise RuntimeError(
                f"the text encoder's contrastive loss became {float(loss)} at step {step}"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if bar is not None and step <= least:
            bar.update(1, loss=round(losses[-1], 3))
    if bar is not None:
        bar.close(done=True)
    enc.info = {"kind": recipe.kind, "steps": step, "final_loss": float(np.mean(losses[-20:])),
                "seconds": round(time.monotonic() - t0, 1), "version": VERSION}  # fmt: skip
    return enc


def cached_encoder(
    split: CaptionSplit, recipe: EncoderRecipe, device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None, progress: bool = True,
) -> TextEncoder:  # fmt: skip
    """The encoder of this data and recipe from the cache, else trained and cached."""
    from ganflow.tasks.io import DATA_DIR, digest, save_torch

    key = digest(split.fingerprint["id"], str(sorted(asdict(recipe).items())), str(VERSION))
    path = Path(cache_dir or DATA_DIR / "cache" / "text_encoders") / (
        f"{split.train.name}-{recipe.kind}-{key[:16]}.pt")  # fmt: skip
    if path.exists():
        try:
            enc = TextEncoder.from_state(
                torch.load(path, map_location="cpu", weights_only=True), device
            )
            enc.info["cache"] = str(path)
            return enc
        except Exception:  # noqa: BLE001 - an unreadable cache file is trained over
            pass
    enc = train_encoder(split, recipe, device, progress)
    enc.info["cache"] = str(path)
    save_torch(path, enc.state())
    return enc
