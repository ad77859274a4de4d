"""Raw image sources: each returns a RawData of uint8 arrays (N, C, H, W) and labels.

Named sources: digits (scikit-learn, built in), fashion-mnist and mnist (IDX files, or a
torchvision download when online), cifar10 and svhn (torchvision), folder (a user's
class-per-subfolder image tree).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ganflow.tasks.data.raw import DataError, RawData, SourceOptions, conform, stratified_holdout  # noqa: F401 (re-exported)
from ganflow.tasks.io import DATA_DIR

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def load_digits(opts: SourceOptions) -> RawData:
    """scikit-learn's bundled 8x8 digits (1797 images, 16 grey levels), scaled to 0..255.
    It has no official test set: a fixed stratified fraction (seed 0) is held out."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    y = d.target.astype(np.int64)
    test = stratified_holdout(y, opts.test_fraction if opts.test_fraction > 0 else 0.2)
    return RawData(x[~test], y[~test], x[test], y[test], [str(i) for i in range(10)])


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): magic 0 0 <type> <ndim>, then ndim big-endian
    int32 sizes, then the data. Raises DataError naming the file when it is malformed."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(dims)):
        raise DataError(
            f"{path} is truncated or corrupt: header says {dims}, file has {len(raw) - header} data bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def _find_idx(dirs: list[Path]) -> dict[str, Path] | None:
    for d in dirs:
        found = {}
        for key, stem in IDX_FILES.items():
            for name in (stem + ".gz", stem):
                if (d / name).is_file():
                    found[key] = d / name
                    break
        if len(found) == 4:
            return found
    return None


def _load_idx_source(name: str, tv_name: str, classes: list[str], opts: SourceOptions) -> RawData:
    default = DATA_DIR / name
    dirs = (
        [Path(opts.root), Path(opts.root) / tv_name / "raw"]
        if opts.root
        else [Path("/usr/share/datasets") / name, default, default / tv_name / "raw"]
    )
    files = _find_idx(dirs)
    if files is None and opts.download:
        import torchvision.datasets as tvd

        getattr(tvd, tv_name)(root=str(default), train=True, download=True)
        getattr(tvd, tv_name)(root=str(default), train=False, download=True)
        files = _find_idx([default / tv_name / "raw"])
    if files is None:
        looked = ", ".join(str(d) for d in dirs)
        hint = "apt-get install dataset-fashion-mnist, " if name == "fashion-mnist" else ""
        raise DataError(
            f"{name}: the four IDX files ({', '.join(IDX_FILES.values())}, optionally .gz) were not "
            f"found; looked in: {looked}. Fix: {hint}pass --data-root DIR, or --download (needs internet)."
        )
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        n_x, n_y = len(arrays[f"{split}_x"]), len(arrays[f"{split}_y"])
        if n_x != n_y:
            raise DataError(f"{name}: {split} images ({n_x}) and labels ({n_y}) differ in number")
    return RawData(
        arrays["train_x"][:, None].copy(),
        arrays["train_y"].astype(np.int64),
        arrays["test_x"][:, None].copy(),
        arrays["test_y"].astype(np.int64),
        classes,
    )


def load_fashion_mnist(opts: SourceOptions) -> RawData:
    return _load_idx_source("fashion-mnist", "FashionMNIST", FASHION_CLASSES, opts)


def load_mnist(opts: SourceOptions) -> RawData:
    return _load_idx_source("mnist", "MNIST", [str(i) for i in range(10)], opts)


def _torchvision_source(
    name: str, build: Callable[[str, bool, bool], tuple], opts: SourceOptions
) -> RawData:
    root = opts.root or str(DATA_DIR / name)
    try:
        (tx, ty, classes), (vx, vy, _) = (
            build(root, True, opts.download),
            build(root, False, opts.download),
        )
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted..."
        raise DataError(
            f"{name}: not found under {root} ({e}). Pass --download (needs internet) or --data-root DIR."
        ) from e
    return RawData(tx, ty, vx, vy, classes)


def load_cifar10(opts: SourceOptions) -> RawData:
    import torchvision.datasets as tvd

    def build(root: str, train: bool, download: bool) -> tuple:
        ds = tvd.CIFAR10(root=root, train=train, download=download)
        return (
            np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)),
            np.asarray(ds.targets, np.int64),
            list(ds.classes),
        )

    return _torchvision_source("cifar10", build, opts)


def load_svhn(opts: SourceOptions) -> RawData:
    import torchvision.datasets as tvd

    def build(root: str, train: bool, download: bool) -> tuple:
        ds = tvd.SVHN(root=root, split="train" if train else "test", download=download)
        return ds.data, np.asarray(ds.labels, np.int64), [str(i) for i in range(10)]

    return _torchvision_source("svhn", build, opts)


def load_folder(opts: SourceOptions) -> RawData:
    """A class-per-subfolder image tree (see tasks.folders)."""
    from ganflow.tasks.data.folders import load_image_folder

    return load_image_folder(opts)


SOURCES: dict[str, Callable[[SourceOptions], RawData]] = {
    "digits": load_digits,
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "svhn": load_svhn,
    "folder": load_folder,
}


def check_source(name: str, extra: tuple[str, ...] = ()) -> None:
    """A clear error for a data set name that is not a source (nor one of `extra`)."""
    if name not in SOURCES and name not in extra:
        raise DataError(
            f"unknown data set {name!r}; choose one of: {', '.join((*extra, *SOURCES))}"
        )


def load_source(name: str, opts: SourceOptions) -> RawData:
    if name not in SOURCES:
        raise DataError(f"unknown data set {name!r}; choose one of: {', '.join(SOURCES)}")
    raw = SOURCES[name](opts)
    if name == "folder":  # read at the asked side and channels already
        return raw
    return conform(raw, opts.image_size, opts.channels)
