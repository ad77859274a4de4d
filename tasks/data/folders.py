"""Image folders: the `folder` source (a class-per-subfolder tree, or train/ and test/ trees)
and folders of generated samples to evaluate. Every image is converted to the asked channels
and size by one resize policy (decode.py); a file that cannot be read raises DataError
naming it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from ganflow.tasks.data.decode import cached_decode
from ganflow.tasks.data.raw import (
    FOLDER_CHANNELS,
    FOLDER_SIDE,
    UNLABELLED,
    DataError,
    RawData,
    SourceOptions,
    check_reading,
    stratified_holdout,
)
from ganflow.tasks.data.safefiles import (
    IMAGE_EXTENSIONS,
    check_tree,
    list_images,
    subfolders,
)
from ganflow.tasks.io import DATA_DIR


def _class_dirs(root: Path) -> list[Path]:
    return subfolders(root)


def image_files(folder: Path, root: Path | None = None) -> list[Path]:
    """Every image under folder (recursively, hidden files left out), sorted; a file or
    folder linking out of root (default: folder) is refused."""
    return list_images(Path(folder), Path(root) if root else None)


def read_images(
    files: list[Path], image_size: int, channels: int, what: str = "", cache: bool = True
) -> np.ndarray:
    """uint8 (N, channels, size, size): each image converted, centre-cropped to a square and
    resized (antialiased) by the one resize policy (decode.py), decoded by a pool of threads
    and cached by the files' content (unless not `cache`); a file that cannot be read raises
    DataError naming it."""
    where = DATA_DIR / "cache" / "decoded" if cache else None
    return cached_decode(files, image_size, channels, where, what)


def _read_image_tree(
    root: Path, classes: list[str], opts: SourceOptions
) -> tuple[np.ndarray, np.ndarray]:
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        imgs = image_files(root / name, root)
        if not imgs:
            raise DataError(
                f"class folder {root / name} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        files += [(p, label) for p in imgs]
    side, channels = opts.image_size or FOLDER_SIDE, opts.channels or FOLDER_CHANNELS
    x = read_images([p for p, _ in files], side, channels, str(root))
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
    check_tree(root)
    sub = _class_dirs(root)
    if not sub:
        files = image_files(root)
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


def _unlabelled(root: Path, train_root: Path, split_trees: bool, opts: SourceOptions) -> RawData:
    """A folder of images without class folders (root/*.jpg, or one subfolder of them such
    as CelebA's images/, or train/ and test/ such folders): one class, UNLABELLED, that the
    unconditional GANs and the sample metrics take and the classifiers refuse."""
    side, channels = opts.image_size or FOLDER_SIDE, opts.channels or FOLDER_CHANNELS
    files = image_files(train_root, root)
    if not files:
        raise DataError(
            f"{train_root} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) and no class folders"
        )
    x = read_images(files, side, channels, str(train_root))
    y = np.zeros(len(x), dtype=np.int64)
    if split_trees:
        test_files = image_files(root / "test", root)
        if not test_files:
            raise DataError(f"{root / 'test'} holds no images")
        tx = read_images(test_files, side, channels, str(root / "test"))
        return RawData(x, y, tx, np.zeros(len(tx), dtype=np.int64), [UNLABELLED])
    test = stratified_holdout(y, opts.test_fraction)
    return RawData(x[~test], y[~test], x[test], y[test], [UNLABELLED])


def load_image_folder(opts: SourceOptions) -> RawData:
    """A class-per-subfolder image tree (root/<class>/*.png), or root/train/<class>/ and
    root/test/<class>/; a folder without class folders is read as unlabelled (_unlabelled).
    Images of any size and mode are converted, centre-cropped and resized."""
    if not opts.root:
        raise DataError(
            "the folder source needs --data-root DIR (a folder with one subfolder per class)"
        )
    check_reading(opts.image_size, opts.channels)
    root = Path(opts.root)
    if root.exists() and not root.is_dir():
        raise DataError(f"--data-root {root} is a file, not a folder of images")
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    check_tree(root)
    split_trees = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if split_trees else root
    classes = [p.name for p in _class_dirs(train_root)]
    if len(classes) < 2:
        return _unlabelled(root, train_root, split_trees, opts)
    x, y = _read_image_tree(train_root, classes, opts)
    if split_trees:
        test_classes = [p.name for p in _class_dirs(root / "test")]
        if set(test_classes) - set(classes):
            raise DataError(
                f"{root / 'test'} has classes not in {train_root}: {sorted(set(test_classes) - set(classes))}"
            )
        present = [c for c in classes if c in test_classes]
        if len(present) < len(classes):
            missing = [c for c in classes if c not in test_classes]
            print(f"warning: {root / 'test'} has no folder for {len(missing)} class(es) of "
                  f"{train_root}: {', '.join(missing)}; their test accuracy cannot be measured",
                  file=sys.stderr, flush=True)  # fmt: skip
        tx, ty_local = _read_image_tree(root / "test", present, opts)
        ty = np.array([classes.index(c) for c in present], dtype=np.int64)[ty_local]
        return RawData(x, y, tx, ty, classes)
    test = stratified_holdout(y, opts.test_fraction)
    return RawData(x[~test], y[~test], x[test], y[test], classes)
