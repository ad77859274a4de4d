"""Raw image sources: each returns a RawData of uint8 arrays (N, C, H, W) and labels.

Named sources: digits (scikit-learn, built in), fashion-mnist and mnist (IDX files, or a
torchvision download when online), cifar10 and svhn (torchvision), folder (a user's
class-per-subfolder image tree).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(os.environ.get("GANFLOW_DATA", Path(__file__).resolve().parent.parent / "data"))
IMAGE_EXTENSIONS = {
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
}


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


def _stratified_holdout(y: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of a stratified held-out part; a fixed seed, so 'the test set' of a source
    without an official one never changes with the label split."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        mask[idx[: max(1, round(fraction * len(idx)))]] = True
    return mask


def load_digits(opts: SourceOptions) -> RawData:
    """scikit-learn's bundled 8x8 digits (1797 images, 16 grey levels), scaled to 0..255.
    It has no official test set: a fixed stratified fraction (seed 0) is held out."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    y = d.target.astype(np.int64)
    test = _stratified_holdout(y, opts.test_fraction if opts.test_fraction > 0 else 0.2)
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
    dirs = [Path(opts.root), Path(opts.root) / tv_name / "raw"] if opts.root else [
        Path("/usr/share/datasets") / name, default, default / tv_name / "raw"]  # fmt: skip
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
        arrays["train_x"][:, None].copy(), arrays["train_y"].astype(np.int64),
        arrays["test_x"][:, None].copy(), arrays["test_y"].astype(np.int64), classes,
    )  # fmt: skip


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


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def read_images(files: list[Path], image_size: int, channels: int) -> np.ndarray:
    """uint8 (N, channels, size, size), each image converted and resized (bilinear); a file
    that cannot be read raises DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    mode = "L" if channels == 1 else "RGB"
    x = np.empty((len(files), channels, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                im = im.convert(mode).resize((image_size, image_size), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise DataError(f"corrupt or unreadable image {path}: {e}") from e
        x[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return x


def _read_image_tree(
    root: Path, classes: list[str], opts: SourceOptions
) -> tuple[np.ndarray, np.ndarray]:
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        imgs = _image_files(root / name)
        if not imgs:
            raise DataError(
                f"class folder {root / name} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        files += [(p, label) for p in imgs]
    x = read_images([p for p, _ in files], opts.image_size, opts.channels)
    return x, np.array([lbl for _, lbl in files], dtype=np.int64)


def read_sample_folder(
    root: str | Path, class_names: list[str], image_size: int, channels: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Generated images to evaluate: either one subfolder per class, named as the reference
    data's classes (labels come from the folder), or images with no class folders (no
    labels). Images are converted to the reference's channels and size."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"sample folder {root} does not exist")
    sub = _class_dirs(root)
    if not sub:
        files = _image_files(root)
        if not files:
            raise DataError(f"sample folder {root} holds no images")
        return read_images(files, image_size, channels), None
    index = {class_folder_name(c): i for i, c in enumerate(class_names)}
    index.update({c: i for i, c in enumerate(class_names)})
    unknown = sorted(p.name for p in sub if p.name not in index)
    if unknown:
        raise DataError(
            f"sample folder {root} has class folders {unknown} that are not classes of the reference data "
            f"({', '.join(class_folder_name(c) for c in class_names)})"
        )
    names = [p.name for p in sub]
    x, local = _read_image_tree(
        root, names, SourceOptions(image_size=image_size, channels=channels)
    )
    return x, np.array([index[n] for n in names], dtype=np.int64)[local]


def class_folder_name(name: str) -> str:
    """A class name made safe as a folder name ('T-shirt/top' -> 'T-shirt_top')."""
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "class"


def load_folder(opts: SourceOptions) -> RawData:
    """A class-per-subfolder image tree (root/<class>/*.png), or root/train/<class>/ and
    root/test/<class>/. Images of any size and mode are converted and resized."""
    if not opts.root:
        raise DataError(
            "the folder source needs --data-root DIR (a folder with one subfolder per class)"
        )
    if opts.channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {opts.channels}")
    root = Path(opts.root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    split_trees = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if split_trees else root
    classes = [p.name for p in _class_dirs(train_root)]
    if len(classes) < 2:
        raise DataError(
            f"{train_root} has {len(classes)} class folder(s); semi-supervised classification needs at least 2"
        )
    x, y = _read_image_tree(train_root, classes, opts)
    if split_trees:
        test_classes = [p.name for p in _class_dirs(root / "test")]
        if set(test_classes) - set(classes):
            raise DataError(
                f"{root / 'test'} has classes not in {train_root}: {sorted(set(test_classes) - set(classes))}"
            )
        present = [c for c in classes if c in test_classes]
        tx, ty_local = _read_image_tree(root / "test", present, opts)
        ty = np.array([classes.index(c) for c in present], dtype=np.int64)[ty_local]
        return RawData(x, y, tx, ty, classes)
    test = _stratified_holdout(y, opts.test_fraction)
    return RawData(x[~test], y[~test], x[test], y[test], classes)


SOURCES: dict[str, Callable[[SourceOptions], RawData]] = {
    "digits": load_digits,
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "svhn": load_svhn,
    "folder": load_folder,
}


def load_source(name: str, opts: SourceOptions) -> RawData:
    if name not in SOURCES:
        raise DataError(f"unknown data set {name!r}; choose one of: {', '.join(SOURCES)}")
    return SOURCES[name](opts)
