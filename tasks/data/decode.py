"""Decoding a folder's images once: one resize policy for every family, a pool of threads,
and a cache of the decoded uint8 array keyed by the folder's content.

The resize policy: each image is converted to the asked channels (a grey image in a colour
run is repeated over R, G and B; a colour image in a grey run is converted by luminance),
centre-cropped to a square of its shorter side, then resized to side x side with Pillow's
area-aware (antialiased) bilinear filter. Non-square images keep their middle, not a squashed
whole. A JPEG much larger than the side is decoded at a reduced scale first (Pillow's draft
mode, the DCT's own downscaling), which is several times faster on photographs.

The cache: one .npy per (files, their sizes and modification times, side, channels, policy
version) under <data dir>/cache/decoded; a changed, added or removed file makes a new key.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ganflow.tasks.data.raw import DataError
from ganflow.tasks.data.safefiles import open_image
from ganflow.tasks.io import atomic_write, digest
from ganflow.tasks.progress import Progress

# the version of the resize policy; a change makes new cache keys
POLICY_VERSION = 2
# images per progress update and per task handed to the pool
CHUNK = 256


def fit_square(im: Any, side: int) -> Any:
    """A PIL image centre-cropped to a square of its shorter side and resized (antialiased
    bilinear) to side x side."""
    from PIL import Image

    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    box = (left, top, left + s, top + s)
    if s == side and (w, h) == (s, s):
        return im
    return im.resize((side, side), Image.Resampling.BILINEAR, box=box)


def square_array(im: Any, side: int) -> np.ndarray:
    """uint8 (C, side, side) of a PIL image ('L': C = 1, 'RGB': 3) by the resize policy."""
    arr = np.asarray(fit_square(im, side), dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def decode_image(path: Path, side: int, channels: int) -> np.ndarray:
    """uint8 (channels, side, side) of the image at path, by the resize policy."""
    mode = "L" if channels == 1 else "RGB"
    return square_array(open_image(path, mode, draft=side), side)


def workers() -> int:
    """Decoding threads: Pillow releases the GIL while it decodes and resizes."""
    return max(1, min(8, os.cpu_count() or 1))


def decode_files(files: list[Path], side: int, channels: int, what: str = "") -> np.ndarray:
    """uint8 (N, channels, side, side), the files decoded by a pool of threads; the first
    file that cannot be read raises DataError naming it."""
    x = np.empty((len(files), channels, side, side), dtype=np.uint8)

    def chunk(start: int) -> int:
        for i in range(start, min(start + CHUNK, len(files))):
            x[i] = decode_image(files[i], side, channels)
        return min(CHUNK, len(files) - start)

    label = f"decode {what or 'images'} ({side}x{side})"
    with Progress(label, total=len(files), unit="img") as bar, ThreadPoolExecutor(workers()) as ex:
        for n in ex.map(chunk, range(0, len(files), CHUNK)):
            bar.update(n)
    return x


def folder_key(files: list[Path], side: int, channels: int) -> str:
    """The cache key of these files at this side: their paths, sizes and modification times."""
    stats = []
    for p in files:
        try:
            st = p.stat()
        except OSError as e:
            raise DataError(f"cannot read {p}: {e.strerror or e}") from e
        stats.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    return digest(json.dumps(["decoded", POLICY_VERSION, side, channels, stats]))


def cached_decode(
    files: list[Path], side: int, channels: int, cache_dir: Path | None, what: str = ""
) -> np.ndarray:
    """decode_files, read back from cache_dir when these files were decoded at this side
    before (None: no cache)."""
    if cache_dir is None or not files:
        return decode_files(files, side, channels, what)
    path = Path(cache_dir) / f"{folder_key(files, side, channels)}.npy"
    if path.is_file():
        try:
            x = np.load(path, allow_pickle=False)
            if x.shape == (len(files), channels, side, side) and x.dtype == np.uint8:
                return x
        except (OSError, ValueError):
            pass  # a damaged cache file is decoded again and replaced
    x = decode_files(files, side, channels, what)
    try:
        with atomic_write(path) as f:
            np.save(f, x, allow_pickle=False)
    except OSError:
        pass  # a read-only or full cache costs the next run a decode, never this one
    return x
