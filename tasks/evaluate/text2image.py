"""Scores of text-to-image generation, Stage-I (upsampled to Stage-II's side) and Stage-II
side by side, beside the real test images:

  consistency  an attribute classifier trained on real images (models/attributes.py) reads
               class, colour, size and position back from each image drawn for a test
               caption; accuracy against the caption, per attribute (sets with attributes)
  fid, kid     to the real test images in that classifier's penultimate features (in the
               matching image encoder's space for a user's set, which has no attributes)
  is_mean      Inception Score of its class head (sets with a class attribute)
  r_precision  AttnGAN's R-precision (R = 1, 100 candidates) in the text encoder's space

Every number is a float64 mean over the test captions; the classifier's own accuracy on
real test images is stored with the protocol.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganflow.models.attributes import AttributeNet
from ganflow.models.engine import IndexStream
from ganflow.models.image_batches import to_unit
from ganflow.models.stackgan.sampling import draw, noise
from ganflow.models.text.matching import r_precision
from ganflow.tasks.data.captions import ATTRIBUTES, Captioned, CaptionSplit
from ganflow.tasks.evaluate.metrics import (
    fid_from_features,
    inception_score,
    kernel_inception_distance,
)
from ganflow.tasks.progress import Progress
from ganflow.tasks.train.text2image import resize
from ganflow.tasks.train.text_encoder import TextEncoder

CONSISTENCY, FID, KID, IS, R_PRECISION = "consistency", "fid", "kid_mean", "is_mean", "r_precision"
READER_VERSION = 3


class AttributeReader:
    """A trained AttributeNet with the attribute names it reads."""

    def __init__(
        self, net: AttributeNet, vocab: dict[str, list[str]], info: dict[str, Any]
    ) -> None:
        self.net, self.vocab, self.info = net.eval(), vocab, info

    @torch.no_grad()
    def read(
        self, x: torch.Tensor, batch_size: int = 500
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """uint8 (N, 3, S, S) -> (features (N, F) float64, {attribute: probabilities (N, K)})."""
        device = next(self.net.parameters()).device
        feats, probs = [], {a: [] for a in self.vocab}
        for i in range(0, len(x), batch_size):
            f, logits = self.net(to_unit(x[i : i + batch_size]).to(device))
            feats.append(f.double().cpu())
            for a, lg in logits.items():
                probs[a].append(lg.double().softmax(1).cpu())
        return torch.cat(feats).numpy(), {a: torch.cat(p).numpy() for a, p in probs.items()}


def _labels(part: Captioned) -> dict[str, torch.Tensor]:
    return {
        a: torch.from_numpy(part.attributes[a]).long() for a in ATTRIBUTES if a in part.attributes
    }


def train_reader(split: CaptionSplit, device: str, max_seconds: float = 120.0, epochs: int = 4,
                 seed: int = 0, progress: bool = True) -> AttributeReader:  # fmt: skip
    """The attribute classifier on the real training images (cross-entropy summed over the
    heads, Adam), for `epochs` passes or `max_seconds`, whichever ends first."""
    tr, vocab = (
        split.train,
        {a: split.train.vocab[a] for a in ATTRIBUTES if a in split.train.attributes},
    )
    x, y = torch.from_numpy(tr.images), _labels(tr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = AttributeNet(x.shape[-1], {a: len(v) for a, v in vocab.items()}).to(device)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    stream, bs = IndexStream(len(x), 128, seed), 128
    # at least 200 steps (a small set: at most 30 passes), else `epochs` passes
    total = max(min(200, 30 * len(x) // bs), epochs * len(x) // bs, 1)
    bar = (
        Progress(f"attribute classifier for {tr.name} (once; cached)", total, "step")
        if progress
        else None
    )
    t0, step = time.monotonic(), 0
    net.train()
    while step < total and time.monotonic() - t0 < max_seconds:
        i = stream(step)
        _, logits = net(to_unit(x[i]).to(device))
        loss = sum(F.cross_entropy(logits[a], y[a][i].to(device)) for a in vocab)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        opt.step()
        step += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close(done=True)
    reader = AttributeReader(
        net, vocab, {"steps": step, "seconds": round(time.monotonic() - t0, 1)}
    )
    _, probs = reader.read(torch.from_numpy(split.test.images))
    reader.info["test_accuracy"] = {a: float((p.argmax(1) == split.test.attributes[a]).mean())
                                    for a, p in probs.items()}  # fmt: skip
    return reader


def reader_path(data_id: str, cache_dir: str | Path | None = None) -> Path:
    from ganflow.tasks.io import DATA_DIR

    return Path(cache_dir or DATA_DIR / "cache" / "extractors") / (
        f"attributes-{data_id}-v{READER_VERSION}.pt")  # fmt: skip


def cached_reader(data_id: str, vocab: dict[str, list[str]], size: int, device: str,
                  cache_dir: str | Path | None = None) -> AttributeReader | None:  # fmt: skip
    """The attribute classifier cached for data `data_id`, or None when there is none (or it
    cannot be read: a cache file holds nothing that cannot be remade)."""
    path = reader_path(data_id, cache_dir)
    heads = {a: vocab[a] for a in ATTRIBUTES if a in vocab}
    if not heads or not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = AttributeNet(size, {a: len(v) for a, v in heads.items()})
        net.load_state_dict(state["net"])
    except Exception:  # noqa: BLE001
        return None
    return AttributeReader(net.to(device), heads, {**state["info"], "cache": str(path)})


def attribute_reader(split: CaptionSplit, device: str, cache_dir: str | Path | None = None,
                     progress: bool = True) -> AttributeReader | None:  # fmt: skip
    """The cached attribute classifier of this data (trained on first use); None for a set
    without attributes (a user's captions)."""
    from ganflow.tasks.io import save_torch

    if not split.train.attributes:
        return None
    data_id, size = split.fingerprint["id"], int(split.train.images.shape[-1])
    reader = cached_reader(data_id, split.train.vocab, size, device, cache_dir)
    if reader is not None:
        return reader
    reader = train_reader(split, device, progress=progress)
    path = reader_path(data_id, cache_dir)
    save_torch(path, {"net": reader.net.state_dict(), "info": reader.info})
    reader.info["cache"] = str(path)
    return reader


def attribute_keys(attrs: dict[str, np.ndarray]) -> torch.Tensor | None:
    """One integer per caption for what it says (its attribute combination)."""
    if not attrs:
        return None
    key = np.zeros(len(next(iter(attrs.values()))), np.int64)
    for a in ATTRIBUTES:
        if a in attrs:
            key = key * 100 + attrs[a]
    return torch.from_numpy(key)


def image_scores(
    looks: tuple[torch.Tensor, np.ndarray, dict[str, np.ndarray] | None], phi: torch.Tensor,
    attrs: dict[str, np.ndarray], real_features: np.ndarray, pool: torch.Tensor,
) -> dict[str, Any]:  # fmt: skip
    """Scores of images drawn for captions with embeddings phi (N, E) and attributes attrs,
    from what `score_stages` saw of them (looks: their matching-space embeddings, their
    features, the attribute probabilities or None), against the real test images' features;
    pool: every test caption's embedding (the R-precision candidates)."""
    v, feats, probs = looks
    keys = attribute_keys(attrs)
    if keys is None:  # the pool holds each image's own caption: never its rival
        keys = torch.arange(len(phi))
    out: dict[str, Any] = {R_PRECISION: r_precision(v, phi, pool, keys=keys, pool_keys=keys)}
    if probs is None:
        out.update({CONSISTENCY: None, IS: None})
    else:
        out[CONSISTENCY] = {a: float((p.argmax(1) == attrs[a]).mean()) for a, p in probs.items()}
        out[IS] = inception_score(probs["class"])[0] if "class" in probs else None
    out[FID] = fid_from_features(real_features, feats)
    out[KID] = kernel_inception_distance(real_features, feats, subsets=50)[0]
    return out


def test_captions(part: Captioned) -> list[str]:
    """One caption per test image, its phrasings taken in turn."""
    return [caps[i % len(caps)] for i, caps in enumerate(part.captions)]


def score_stages(
    split: CaptionSplit, modules: dict[str, torch.nn.Module], enc: TextEncoder,
    reader: AttributeReader | None, z_dim: int, max_test: int = 2000, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """{'stage1', 'stage2' (None without G2), 'real': scores; 'examples': {'captions',
    'stage1', 'stage2', 'real'} of 8 test captions}; Stage-I's images are upsampled to the
    real images' side (bilinear). The real row's FID/KID compare as many real training images
    with the test images: the floor a generator can reach."""
    te = split.test
    n = min(max_test, len(te.images))
    real = torch.from_numpy(te.images[:n])
    captions = test_captions(te)[:n]
    attrs = {a: v[:n] for a, v in te.attributes.items()}
    phi = enc.encode(captions)
    G1, G2 = modules["G1"], modules.get("G2")
    z = noise(n, z_dim, seed)
    low, high = draw(G1, G2, phi, z)
    side = real.shape[-1]

    def look(x: torch.Tensor) -> tuple[torch.Tensor, np.ndarray, dict[str, np.ndarray] | None]:
        """Each image set is encoded and read once: (embeddings, features, probabilities)."""
        v = enc.encode_images(x)
        if reader is None:
            return v, v.double().numpy(), None
        return (v, *reader.read(x))

    def features(x: torch.Tensor) -> np.ndarray:
        return reader.read(x)[0] if reader is not None else enc.encode_images(x).double().numpy()

    real_looks = look(real)
    real_feats = real_looks[1]
    floor = features(torch.from_numpy(split.train.images[:n]))
    scores: dict[str, Any] = {
        "stage1": image_scores(look(resize(low, side)), phi, attrs, real_feats, phi),
        "stage2": image_scores(look(resize(high, side)), phi, attrs, real_feats, phi)
        if high is not None
        else None,
        # the real row's FID/KID: the training images against the test images
        "real": image_scores((real_looks[0], floor, real_looks[2]), phi, attrs, real_feats, phi),
    }
    scores["examples"] = {"captions": captions[:8], "stage1": resize(low[:8], side),
                          "stage2": resize(high[:8], side) if high is not None else None, "real": real[:8]}  # fmt: skip
    scores["protocol"] = {"test_captions": n, "features": "attribute classifier" if reader else "matching image encoder",
                          "reader": reader.info if reader else None, "text_encoder": enc.info}  # fmt: skip
    return scores
