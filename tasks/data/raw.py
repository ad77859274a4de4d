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

    @property
    def labelled(self) -> bool:
        return self.class_names != [UNLABELLED]


# the one class name of a folder without class folders: GANs train on it, classifiers refuse it
UNLABELLED = "(unlabelled)"
FOLDER_SIDE, FOLDER_CHANNELS = 32, 3  # a folder's images, when no side or channels are given
MAX_SIDE = 1024  # the largest image side any reader makes


@dataclass
class SourceOptions:
    root: str | None = None  # where the files are (None: the source's default places)
    download: bool = False  # allow a torchvision download (needs internet)
    # the image side: a folder's images are centre-cropped and resized to it, a built-in set's
    # resized (None: the set's own side; a folder's FOLDER_SIDE)
    image_size: int | None = None
    # 1 (greyscale) or 3 (RGB): images are converted (None: the set's own; a folder's RGB)
    channels: int | None = None
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


def check_reading(image_size: int | None, channels: int | None) -> None:
    """Refuse an image side or channel count no reader makes (DataError naming it)."""
    if image_size is not None and not 8 <= image_size <= MAX_SIDE:
        raise DataError(f"image_size must be from 8 to {MAX_SIDE} pixels, got {image_size}")
    if channels is not None and channels not in (1, 3):
        raise DataError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels}")


def conform(raw: RawData, image_size: int | None, channels: int | None) -> RawData:
    """A built-in set's images at the asked side (antialiased bilinear resize) and channels
    (grey repeated over R, G, B; colour to grey by luminance); unchanged where not asked."""
    check_reading(image_size, channels)

    def one(x: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(x)
        if channels is not None and channels != t.shape[1]:
            if channels == 3:
                t = t.expand(-1, 3, -1, -1)
            else:
                w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
                t = (t.float() * w).sum(1, keepdim=True).round().to(torch.uint8)
        if image_size is not None and image_size != t.shape[-1]:
            out = []
            for i in range(0, len(t), 4096):
                f = F.interpolate(t[i : i + 4096].float(), size=(image_size, image_size),
                                  mode="bilinear", antialias=True, align_corners=False)  # fmt: skip
                out.append(f.round().clamp(0, 255).to(torch.uint8))
            t = torch.cat(out) if out else t.new_empty((0, t.shape[1], image_size, image_size))
        return np.ascontiguousarray(t.numpy())

    if image_size is None and channels is None:
        return raw
    return RawData(one(raw.train_x), raw.train_y, one(raw.test_x), raw.test_y, raw.class_names)
