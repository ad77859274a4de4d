"""Image-caption data for text-to-image models (StackGAN): users' data in the StackGAN/CUB
layout or as a CSV/JSONL of (image, caption), and a built-in offline captioned set.

  CUB layout  root/images/<any/path>.jpg and root/text/<same path>.txt, one caption a line
  CSV         a header with `image` and `caption` columns; JSONL: {"image": ..., "caption": ...}
              per line; paths relative to the file's folder, and never outside it
  built in    fashion-captions: Fashion-MNIST items on a 64x64 black canvas, in a colour, a
              size and a position drawn from small vocabularies, with captions made from the
              class and those attributes in several phrasings ("a small red sandal in the top
              left corner"), so the text truly determines the image (in the spirit of
              Mansimov et al. 2016's captioned MNIST)

Every bad input (a path outside the data root, a missing image, an empty caption file, an
image with no caption) raises DataError naming it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.tasks.data.folders import read_images
from ganflow.tasks.data.raw import DataError, RawData
from ganflow.tasks.data.safefiles import check_tree, list_images
from ganflow.tasks.io import digest, load_arrays, save_arrays

CANVAS = 64
COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
    "yellow": (240, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 220, 230),
    "white": (245, 245, 245),
    "orange": (245, 140, 30),
}
# item side on the canvas
SIZES = {"small": 24, "large": 44}
# centre of the item as a share of the canvas side (x, y)
POSITIONS = {
    "top left corner": (0.3, 0.3),
    "top right corner": (0.7, 0.3),
    "bottom left corner": (0.3, 0.7),
    "bottom right corner": (0.7, 0.7),
    "centre": (0.5, 0.5),
}
ATTRIBUTES = ("class", "colour", "size", "position")
PHRASINGS = (
    "a {size} {colour} {item} in the {position}",
    "{size} {colour} {item}, {position}",
    "there is a {colour} {item} in the {position}, and it is {size}",
    "the {position} holds a {size} {item} in {colour}",
)


@dataclass
class Captioned:
    """Images uint8 (N, C, S, S) with one or more captions each; for the built-in set also
    the attribute labels each caption was made from ({attribute: (N,) int64})."""

    name: str
    images: np.ndarray
    captions: list[list[str]]
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    vocab: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.images) != len(self.captions):
            raise DataError(f"{len(self.images)} images but {len(self.captions)} caption lists")

    def flat(self) -> tuple[list[str], torch.Tensor]:
        """(every caption, image by image; offsets (N + 1,) of each image's first caption)."""
        counts = torch.tensor([len(c) for c in self.captions], dtype=torch.long)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        return [c for caps in self.captions for c in caps], offsets


def pick_captions(offsets: torch.Tensor, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One caption of each image in idx (N,), drawn uniformly with g: indices (N,) into the
    flat caption list whose offsets (see Captioned.flat) are given."""
    counts = offsets[idx + 1] - offsets[idx]
    return offsets[idx] + (torch.rand(len(idx), generator=g) * counts).long()


def item_name(class_name: str) -> str:
    """'T-shirt/top' -> 't-shirt', 'Ankle boot' -> 'ankle boot'."""
    return class_name.split("/")[0].lower()


def render(item: np.ndarray, colour: str, size: str, position: str) -> np.ndarray:
    """One 28x28 grey item (1, 28, 28) tinted and placed on the canvas: uint8 (3, 64, 64)."""
    side = SIZES[size]
    t = torch.from_numpy(item).float()[None] / 255.0  # (1, 1, 28, 28)
    t = torch.nn.functional.interpolate(t, size=(side, side), mode="bilinear", align_corners=False)[
        0
    ]
    cx, cy = POSITIONS[position]
    left = int(round(cx * CANVAS - side / 2))
    top = int(round(cy * CANVAS - side / 2))
    left, top = min(max(0, left), CANVAS - side), min(max(0, top), CANVAS - side)
    canvas = torch.zeros(3, CANVAS, CANVAS)
    rgb = torch.tensor(COLOURS[colour], dtype=torch.float32).view(3, 1, 1) / 255.0
    canvas[:, top : top + side, left : left + side] = t.clamp(0, 1) * rgb
    return (canvas * 255).round().to(torch.uint8).numpy()


def fashion_captions(
    fashion: RawData, train: bool = True, seed: int = 0, n: int | None = None
) -> Captioned:
    """The built-in captioned set from Fashion-MNIST's training (or test) images: attributes
    drawn with `seed`, every image with all the phrasings of its caption."""
    x, y = (fashion.train_x, fashion.train_y) if train else (fashion.test_x, fashion.test_y)
    n = len(x) if n is None else min(n, len(x))
    rng = np.random.default_rng(seed)
    colours, sizes, positions = list(COLOURS), list(SIZES), list(POSITIONS)
    attrs = {
        "class": y[:n].astype(np.int64),
        "colour": rng.integers(0, len(colours), n),
        "size": rng.integers(0, len(sizes), n),
        "position": rng.integers(0, len(positions), n),
    }
    images = np.empty((n, 3, CANVAS, CANVAS), np.uint8)
    captions = []
    for i in range(n):
        words = {"item": item_name(fashion.class_names[attrs["class"][i]]),
                 "colour": colours[attrs["colour"][i]], "size": sizes[attrs["size"][i]],
                 "position": positions[attrs["position"][i]]}  # fmt: skip
        images[i] = render(x[i], words["colour"], words["size"], words["position"])
        captions.append([p.format(**words) for p in PHRASINGS])
    vocab = {"class": [item_name(c) for c in fashion.class_names], "colour": colours,
             "size": sizes, "position": positions}  # fmt: skip
    return Captioned("fashion-captions", images, captions, attrs, vocab)


def _inside(root: Path, rel: str, source: Path, line: int) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DataError(f"{source}:{line}: image path {rel!r} is outside the data root {root}")
    if not path.is_file():
        raise DataError(f"{source}:{line}: image {rel!r} does not exist under {root}")
    return path


def _rows(path: Path) -> list[tuple[int, str, str]]:
    """(line, image, caption) of a CSV or JSONL file (UTF-8 text)."""
    try:
        return _read_rows(path)
    except UnicodeDecodeError as e:
        raise DataError(
            f"caption file {path} is not UTF-8 text ({e.reason} at byte {e.start})"
        ) from e


def _read_rows(path: Path) -> list[tuple[int, str, str]]:
    rows = []
    if path.suffix.lower() == ".jsonl":
        for i, text in enumerate(path.read_text().splitlines(), 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
                rows.append((i, str(obj["image"]), str(obj["caption"])))
            except (ValueError, KeyError, TypeError) as e:
                raise DataError(
                    f"{path}:{i}: not a JSON object with 'image' and 'caption' ({e})"
                ) from e
        return rows
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"image", "caption"} <= set(reader.fieldnames):
            raise DataError(
                f"{path}: the header needs 'image' and 'caption' columns, got {reader.fieldnames}"
            )
        rows = [(i, r["image"], r["caption"]) for i, r in enumerate(reader, 2)]
    return rows


def load_caption_table(path: str | Path, image_size: int) -> Captioned:
    """A CSV or JSONL of (image, caption); several rows of one image are several captions."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"caption file {path} does not exist")
    root = path.parent
    by_image: dict[Path, list[str]] = {}
    for line, image, caption in _rows(path):
        if not caption.strip():
            raise DataError(f"{path}:{line}: the caption of {image!r} is empty")
        by_image.setdefault(_inside(root, image, path, line), []).append(caption.strip())
    if not by_image:
        raise DataError(f"caption file {path} has no rows")
    files = sorted(by_image)
    return Captioned(path.stem, read_images(files, image_size, 3), [by_image[f] for f in files])


def load_cub(root: str | Path, image_size: int) -> Captioned:
    """The StackGAN/CUB layout: images/<path>.jpg with text/<path>.txt beside, one caption a
    line; an image without its text file, or an empty one, is an error."""
    root = Path(root)
    if not (root / "images").is_dir() or not (root / "text").is_dir():
        raise DataError(f"{root} needs images/ and text/ (the StackGAN/CUB layout)")
    check_tree(root)
    files = list_images(root / "images", root)
    if not files:
        raise DataError(f"{root / 'images'} holds no images")
    captions = []
    for f in files:
        txt = (root / "text" / f.relative_to(root / "images")).with_suffix(".txt")
        if not txt.is_file():
            raise DataError(f"image {f} has no caption file ({txt} is missing)")
        try:
            lines = [t.strip() for t in txt.read_text().splitlines() if t.strip()]
        except UnicodeDecodeError as e:
            raise DataError(f"caption file {txt} is not UTF-8 text ({e.reason})") from e
        if not lines:
            raise DataError(f"caption file {txt} is empty")
        captions.append(lines)
    return Captioned(root.name, read_images(files, image_size, 3), captions)


# --- prepared files: what the flow's steps hand each other ------------------------------

CAPTION_SOURCES = ("fashion-captions", "cub", "table")


@dataclass
class CaptionSplit:
    """A captioned data set's training and test parts, with its fingerprint."""

    train: Captioned
    test: Captioned

    @property
    def fingerprint(self) -> dict[str, Any]:
        parts = []
        for part in (self.train, self.test):
            parts += [part.images, json.dumps(part.captions)]
        key = digest(*parts)
        return {"id": f"{self.train.name}-{key[:16]}", "source": self.train.name,
                "sizes": {"train": len(self.train.images), "test": len(self.test.images)},
                "image_size": int(self.train.images.shape[-1])}  # fmt: skip


def save_split(split: CaptionSplit, path: str | Path) -> Path:
    """Both parts in one uncompressed .npz (captions and vocabularies as JSON), atomically."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"name": split.train.name, "vocab": split.train.vocab}
    for key, part in (("train", split.train), ("test", split.test)):
        arrays[f"{key}_images"] = part.images
        meta[f"{key}_captions"] = part.captions
        arrays.update({f"{key}_attr_{a}": v for a, v in part.attributes.items()})
    return save_arrays(path, meta, arrays)


def read_split(path: str | Path) -> CaptionSplit:
    meta, z = load_arrays(path)

    def part(key: str) -> Captioned:
        attrs = {k.split("_attr_", 1)[1]: v for k, v in z.items() if k.startswith(f"{key}_attr_")}
        return Captioned(meta["name"], z[f"{key}_images"], meta[f"{key}_captions"], attrs,
                         meta["vocab"])  # fmt: skip

    return CaptionSplit(part("train"), part("test"))


def _holdout_split(data: Captioned, fraction: float = 0.1, seed: int = 0) -> CaptionSplit:
    """A user's set split into training and test parts (a fixed seed: the same test set on
    every run); at least one image on each side."""
    n = len(data.images)
    if n < 2:
        raise DataError(f"{data.name}: {n} captioned image(s); at least 2 are needed")
    perm = np.random.default_rng(seed).permutation(n)
    k = min(n - 1, max(1, round(fraction * n)))
    te, tr = np.sort(perm[:k]), np.sort(perm[k:])

    def pick(idx: np.ndarray) -> Captioned:
        return Captioned(data.name, data.images[idx], [data.captions[i] for i in idx])

    return CaptionSplit(pick(tr), pick(te))


def load_captions(
    source: str,
    root: str | None = None,
    image_size: int = CANVAS,
    train_images: int | None = None,
    test_images: int | None = None,
) -> CaptionSplit:
    """fashion-captions (root: the Fashion-MNIST files; train_images / test_images of its
    training / test images), cub (root: the StackGAN/CUB folder) or table (root: the CSV or
    JSONL file); users' sets are resized to image_size and split 90/10."""
    if source == "fashion-captions":
        from ganflow.tasks.data.raw import SourceOptions
        from ganflow.tasks.data.sources import load_fashion_mnist

        if image_size != CANVAS:
            raise DataError(f"fashion-captions is drawn at {CANVAS}x{CANVAS}, not {image_size}")
        fashion = load_fashion_mnist(SourceOptions(root=root))
        return CaptionSplit(
            fashion_captions(fashion, True, seed=0, n=train_images),
            fashion_captions(fashion, False, seed=1, n=test_images),
        )
    if source not in CAPTION_SOURCES:
        raise DataError(
            f"unknown caption source {source!r}; choose one of: {', '.join(CAPTION_SOURCES)}"
        )
    if not root:
        raise DataError(f"the {source} source needs --data-root (a folder or a caption file)")
    data = load_cub(root, image_size) if source == "cub" else load_caption_table(root, image_size)
    split = _holdout_split(data)
    if train_images is not None:
        split.train = _first(split.train, train_images)
    if test_images is not None:
        split.test = _first(split.test, test_images)
    return split


def _first(part: Captioned, n: int) -> Captioned:
    return Captioned(part.name, part.images[:n], part.captions[:n],
                     {k: v[:n] for k, v in part.attributes.items()}, part.vocab)  # fmt: skip


def prepare_captions(
    source: str,
    root: str | None = None,
    image_size: int = CANVAS,
    train_images: int | None = None,
    test_images: int | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Load the set once and keep it as a file: the flow's steps pass its path.
    Returns {'path', 'fingerprint'}."""
    from ganflow.tasks.io import DATA_DIR

    split = load_captions(source, root, image_size, train_images, test_images)
    fp = split.fingerprint
    path = Path(cache_dir or DATA_DIR / "cache" / "captions") / f"{fp['id']}.npz"
    if not path.exists():
        save_split(split, path)
    return {"path": str(path), "fingerprint": fp}
