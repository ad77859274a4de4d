"""Data preparation: a named source -> label split -> a DataBundle file with a fingerprint.

The split: from the official training set a stratified validation part is held out; of the
rest, N images per class are drawn as the labelled subset (with the data seed); the
unlabelled pool is the whole remaining training set (labelled images included, as in
Salimans et al. 2016); the test set is the source's official one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.tasks.data.sources import DATA_DIR, DataError, RawData, SourceOptions, load_source
from ganflow.tasks.io import save_torch

BUNDLE_VERSION = 1


@dataclass
class DataSpec:
    name: str = "digits"  # a source name from tasks.sources.SOURCES
    labels_per_class: int = 5  # labelled images drawn per class
    seed: int = 0  # data seed: draws the labelled subset and the validation part
    val_fraction: float = 0.1  # stratified fraction of the training set held out for validation
    source: SourceOptions = field(default_factory=SourceOptions)
    # classes the data must have: 2 to classify; 1 for a GAN that draws without labels
    min_classes: int = 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d)
        return cls(source=SourceOptions(**d.pop("source", {})), **d)


@dataclass
class DataBundle:
    x_train: torch.Tensor  # (N, C, H, W) uint8: the unlabelled pool
    y_train: torch.Tensor  # (N,) int64 (never used by the unsupervised loss)
    labelled: torch.Tensor  # (K * labels_per_class,) indices into x_train
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]
    fingerprint: dict[str, Any]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def split_indices(
    y: np.ndarray, labels_per_class: int, val_fraction: float, seed: int, class_names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(labelled indices, validation indices) into y, both stratified and drawn with `seed`.
    Raises DataError naming a class that is empty or too small for the split asked."""
    if labels_per_class < 1:
        raise DataError(f"labels per class must be at least 1, got {labels_per_class}")
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"validation fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    labelled, val = [], []
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(y == c)
        n_val = round(val_fraction * len(idx)) if val_fraction > 0 else 0
        if n_val == 0 and val_fraction > 0 and len(idx) > 1:
            n_val = 1
        if len(idx) == 0:
            raise DataError(f"class '{name}' has no training images")
        if len(idx) - n_val < labels_per_class:
            raise DataError(
                f"class '{name}' has {len(idx)} training images ({n_val} held out for validation); "
                f"{labels_per_class} labelled images per class were asked for"
            )
        idx = rng.permutation(idx)
        val.append(idx[:n_val])
        labelled.append(idx[n_val : n_val + labels_per_class])
    return np.concatenate(labelled), np.concatenate(val)


def content_hash(raw: RawData) -> str:
    h = hashlib.sha256()
    for a in (raw.train_x, raw.train_y, raw.test_x, raw.test_y):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(raw.class_names).encode())
    return h.hexdigest()


def fingerprint(
    raw: RawData, spec: DataSpec, labelled: np.ndarray, val: np.ndarray
) -> dict[str, Any]:
    """Content hash of the source arrays + the split spec + a hash of the drawn indices."""
    split = {
        "labels_per_class": spec.labels_per_class,
        "seed": spec.seed,
        "val_fraction": spec.val_fraction,
    }
    idx_hash = hashlib.sha256(
        np.sort(labelled).tobytes() + b"|" + np.sort(val).tobytes()
    ).hexdigest()
    content = content_hash(raw)
    key = hashlib.sha256(
        f"{content}|{json.dumps(split, sort_keys=True)}|{idx_hash}".encode()
    ).hexdigest()
    return {
        "id": key[:16],
        "source": spec.name,
        "content_sha256": content,
        "split": split,
        "split_sha256": idx_hash,
        "reader": reader_record(spec.source),
    }


def reader_record(opts: SourceOptions) -> dict[str, Any]:
    """How the source was read (its folder, image side and channels), so that evaluate and
    export read a run's data set back as it was trained on."""
    root = str(Path(opts.root).resolve()) if opts.root else None
    return {"root": root, "image_size": opts.image_size, "channels": opts.channels}


def recorded_source(fp: dict[str, Any]) -> SourceOptions:
    """The SourceOptions a fingerprint's reader record names (the defaults where a run from an
    earlier version recorded none)."""
    r = fp.get("reader") or {}
    known = {k: r[k] for k in ("root", "image_size", "channels") if r.get(k) is not None}
    return SourceOptions(**known)


def build_bundle(raw: RawData, spec: DataSpec) -> DataBundle:
    if raw.train_x.ndim != 4 or raw.train_x.dtype != np.uint8:
        raise DataError(
            f"{spec.name}: expected uint8 images shaped (N, C, H, W), got {raw.train_x.dtype} {raw.train_x.shape}"
        )
    if raw.train_x.shape[1:] != raw.test_x.shape[1:]:
        raise DataError(
            f"{spec.name}: train images {raw.train_x.shape[1:]} and test images {raw.test_x.shape[1:]} differ in shape"
        )
    if len(raw.test_y) == 0:
        raise DataError(f"{spec.name}: the test set is empty")
    k = len(raw.class_names)
    present = np.unique(raw.train_y)
    if not raw.labelled and spec.min_classes > 1:
        raise DataError(
            f"{spec.source.root or spec.name} has no class folders (one subfolder per class); "
            "classification needs at least 2 classes (an unlabelled folder suits train-gan, "
            "evaluate and translate)"
        )
    if len(present) < spec.min_classes:
        raise DataError(
            f"{spec.name}: the training set has {len(present)} class(es); at least {spec.min_classes} are needed"
        )
    if present.min() < 0 or present.max() >= k:
        raise DataError(
            f"{spec.name}: labels must lie in 0..{k - 1}, found {present.min()}..{present.max()}"
        )
    labelled, val = split_indices(
        raw.train_y, spec.labels_per_class, spec.val_fraction, spec.seed, raw.class_names
    )
    keep = np.ones(len(raw.train_y), dtype=bool)
    keep[val] = False
    new_index = np.cumsum(keep) - 1  # position of each kept image in the pool
    return DataBundle(
        x_train=torch.from_numpy(raw.train_x[keep]),
        y_train=torch.from_numpy(raw.train_y[keep]),
        labelled=torch.from_numpy(new_index[labelled]),
        x_val=torch.from_numpy(raw.train_x[val]),
        y_val=torch.from_numpy(raw.train_y[val]),
        x_test=torch.from_numpy(np.ascontiguousarray(raw.test_x)),
        y_test=torch.from_numpy(raw.test_y),
        class_names=list(raw.class_names),
        fingerprint=fingerprint(raw, spec, labelled, val),
    )


def save_bundle(bundle: DataBundle, path: Path) -> None:
    """Atomic: written to a temporary file, then renamed."""
    state = {f.name: getattr(bundle, f.name) for f in dataclasses.fields(bundle)}
    state["version"] = BUNDLE_VERSION
    save_torch(path, state)


def load_bundle(path: str | Path) -> DataBundle:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise DataError(f"data bundle {path} does not exist") from e
    if state.pop("version", None) != BUNDLE_VERSION:
        raise DataError(
            f"data bundle {path} has an unsupported format version; prepare the data again"
        )
    return DataBundle(**state)


def prepare(spec: DataSpec, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Load the source, draw the split, write the bundle (once per fingerprint) and return
    {'path', 'fingerprint', 'num_classes', 'image_shape', 'counts'}: small and JSON-able."""
    raw = load_source(spec.name, spec.source)
    bundle = build_bundle(raw, spec)
    cache = Path(cache_dir) if cache_dir else DATA_DIR / "cache"
    path = cache / f"{spec.name}-{bundle.fingerprint['id']}.pt"
    if not path.exists():
        save_bundle(bundle, path)
    return {
        "path": str(path),
        "fingerprint": bundle.fingerprint,
        "num_classes": bundle.num_classes,
        "class_names": bundle.class_names,
        "image_shape": list(bundle.image_shape),
        "counts": {
            "train": len(bundle.y_train),
            "labelled": len(bundle.labelled),
            "val": len(bundle.y_val),
            "test": len(bundle.y_test),
        },
    }


def labelled_folds(y: torch.Tensor, folds: int) -> list[torch.Tensor]:
    """Stratified folds of the positions 0..L-1 of labels y (L,): each class's positions dealt
    round the folds in a fixed shuffled order, so every fold holds each class about equally
    and every position is in exactly one fold. [] where a class has fewer than 2 labels (a
    fold would hold its only one out) or folds < 2."""
    counts = torch.bincount(y)
    if folds < 2 or int(counts[counts > 0].min()) < 2:
        return []
    folds = min(folds, int(counts[counts > 0].min()))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(len(y)))
    out: list[list[int]] = [[] for _ in range(folds)]
    dealt = torch.zeros(int(y.max()) + 1, dtype=torch.long)
    for i in order.tolist():
        c = int(y[i])
        out[int(dealt[c]) % folds].append(i)
        dealt[c] += 1
    return [torch.tensor(sorted(f)) for f in out]
