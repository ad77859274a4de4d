"""IDX files (MNIST's format) for tests that make tiny MNIST-like fixtures."""

import gzip
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    """A gzipped IDX file of `array` as unsigned bytes (type 0x08), its shape in the header."""
    array = np.asarray(array)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())
