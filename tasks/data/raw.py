"""The raw data every source gives: uint8 image arrays with labels and class names, the
options a source reads, and the error a bad input raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DataError(ValueError):
    """Bad or missing input data; the message names the problem and how to fix it."""


@dataclass
class RawData:
    train_x: np.ndarray  # (N, C, H, W) uint8
    train_y: np.ndarray  # (N,) int64
    test_x: np.ndarray  # (M, C, H, W) uint8
    test_y: np.ndarray  # (M,) int64
    class_names: list[str]


@dataclass
class SourceOptions:
    root: str | None = None  # where the files are (None: the source's default places)
    download: bool = False  # allow a torchvision download (needs internet)
    image_size: int = 32  # folder source: images are resized to image_size x image_size
    channels: int = 3  # folder source: 1 (greyscale) or 3 (RGB)
    test_fraction: float = 0.2  # folder/digits without a separate test set: held-out fraction


def stratified_holdout(y: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of a stratified held-out part; a fixed seed, so 'the test set' of a source
    without an official one never changes with the label split."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        mask[idx[: max(1, round(fraction * len(idx)))]] = True
    return mask
