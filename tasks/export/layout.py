"""The layout of a published data set, its names and its options (writer.py writes one,
reader.py reads one):

    <root>/<name>/v<N>/images/<NN>_<class>/<id>.png, labels.csv, manifest.json[, arrays.npz]
    <root>/<name>/latest -> v<N>, the newest
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ganflow.tasks.io import DATA_DIR

# 1: labels.csv with the LABEL_COLUMNS (and a caption); 2: also, where a classifier labelled
# the images, each one's class probabilities (PROBABILITIES_COLUMN). Both are read.
SCHEMA_VERSION = 2
DATASETS_DIR = DATA_DIR / "datasets"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
VERSION_RE = re.compile(r"^v(\d+)$")
TMP_PREFIX = ".tmp-"
LABEL_COLUMNS = ("file", "label", "class_name", "source", "generator", "condition", "confidence")
# a text-to-image export adds the caption each image was drawn for
CAPTION_COLUMN = "caption"
# an export labelled by a classifier: each image's K class probabilities, space-separated
PROBABILITIES_COLUMN = "probabilities"
BALANCES = ("equal", "natural")
# which of the drawn images are kept: drawn (as they come), confident (the most confident of
# `oversample` times as many), coverage (as many spread over each class as they can be:
# farthest-point picks among `oversample` times as many, not only the easiest)
SELECTIONS = ("drawn", "confident", "coverage")


class ExportError(ValueError):
    """A bad export request or a failed export; nothing was published."""


@dataclass
class ExportOptions:
    per_class: int = 100  # images per class (balance=equal), or per_class * classes in total
    classes: list[str] | None = None  # class names (or indices) to export; None: all
    balance: str = "equal"  # equal: per_class of each | natural: as the generator's labels fall
    min_confidence: float = 0.0  # keep samples whose label confidence is at least this
    seed: int = 0  # noise seed: the same seed and checkpoint give the same images
    batch_size: int = 500  # images generated and written per batch
    arrays: bool = False  # also write arrays.npz
    max_draws: int = 50  # give up after drawing this many times the images asked for
    metric_samples: int = 10_000  # at most this many exported images are kept for metrics
    select: str = "drawn"  # drawn | confident | coverage (SELECTIONS)
    oversample: int = 4  # confident / coverage: choose among this many times the images kept

    def validate(self) -> None:
        if self.per_class < 1:
            raise ExportError(f"per_class must be at least 1, got {self.per_class}")
        if self.balance not in BALANCES:
            raise ExportError(f"balance must be one of {BALANCES}, got {self.balance!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ExportError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.batch_size < 1 or self.max_draws < 1:
            raise ExportError("batch_size and max_draws must be at least 1")
        if self.select not in SELECTIONS:
            raise ExportError(f"select must be one of {SELECTIONS}, got {self.select!r}")
        if self.oversample < 1:
            raise ExportError(f"oversample must be at least 1, got {self.oversample}")


def valid_name(name: str) -> bool:
    """A data set name is one path component: letters, digits, '.', '_', '-'; no '..'."""
    return bool(NAME_RE.match(name or "")) and ".." not in name


def check_name(name: str) -> str:
    if not valid_name(name):
        raise ExportError(
            f"data set name {name!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "(no path separators, no '..', at most 100 characters)"
        )
    return name


def class_dir(index: int, name: str) -> str:
    """'03_Dress'; a class name with characters a file name cannot carry is cleaned:
    'T-shirt/top' -> '00_T-shirt_top'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "class"
    return f"{index:02d}_{safe}"


def versions(root: Path, name: str) -> list[int]:
    d = root / check_name(name)
    if not d.is_dir():
        return []
    return sorted(
        int(m.group(1)) for p in d.iterdir() if (m := VERSION_RE.match(p.name)) and p.is_dir()
    )


def resolve_classes(requested: list[str] | None, class_names: list[str]) -> list[int]:
    """Class indices from names or index strings; an unknown class is an error naming it."""
    if not requested:
        return list(range(len(class_names)))
    out = []
    for c in requested:
        if c in class_names:
            out.append(class_names.index(c))
        elif str(c).isdigit() and int(c) < len(class_names):
            out.append(int(c))
        else:
            raise ExportError(f"class {c!r} is not one the generator knows: {class_names}")
    return sorted(set(out))
