"""Reading exported data sets: list versions, show a manifest, verify checksums, and load a
version as a torch Dataset."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganflow.tasks.export.layout import (
    CAPTION_COLUMN,
    DATASETS_DIR,
    LABEL_COLUMNS,
    PROBABILITIES_COLUMN,
    SCHEMA_VERSION,
    VERSION_RE,
    ExportError,
    check_name,
    valid_name,
    versions,
)
from ganflow.tasks.io import file_sha256

MANIFEST_KEYS = (
    "schema_version",
    "name",
    "class_names",
    "image_shape",
    "count",
    "per_class",
    "files",
    "checkpoint_sha256",
    "generator",
)


def version_dir(name: str, version: str | int = "latest", root: str | Path | None = None) -> Path:
    """The directory of `version` (latest | vN | N) of data set `name`."""
    root = Path(root) if root else DATASETS_DIR
    have = versions(root, name)
    if not have:
        raise ExportError(f"no data set {name!r} under {root}")
    v = str(version)
    if v == "latest":
        link = root / name / "latest"
        m = VERSION_RE.match(link.resolve().name) if link.is_symlink() else None
        n = (
            int(m.group(1)) if m and int(m.group(1)) in have else have[-1]
        )  # a dangling link: newest
    else:
        m = VERSION_RE.match(v) or VERSION_RE.match(f"v{v}")
        if not m or int(m.group(1)) not in have:
            raise ExportError(
                f"data set {name!r} has no version {v!r}; it has {[f'v{n}' for n in have]}"
            )
        n = int(m.group(1))
    return root / check_name(name) / f"v{n}"


def read_manifest(path: Path) -> dict[str, Any]:
    """A version's manifest.json; a missing, unreadable or incomplete one is an error naming it."""
    f = Path(path) / "manifest.json"
    try:
        m = json.loads(f.read_text())
    except FileNotFoundError as e:
        raise ExportError(f"{f} is missing") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ExportError(f"{f} is corrupt (not valid JSON: {e})") from e
    missing = [k for k in MANIFEST_KEYS if not isinstance(m, dict) or k not in m]
    if missing:
        raise ExportError(f"{f} is corrupt: it lacks {missing}")
    kinds = {"files": dict, "class_names": list, "count": int, "schema_version": int}
    wrong = [k for k, kind in kinds.items() if not isinstance(m[k], kind)]
    files = m["files"] if isinstance(m["files"], dict) else {}
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in files.items()):
        wrong.append("files")
    if wrong:
        raise ExportError(f"{f} is corrupt: {', '.join(sorted(set(wrong)))} of the wrong type")
    if m["schema_version"] > SCHEMA_VERSION:
        raise ExportError(
            f"{f} has schema version {m['schema_version']}; this ganflow reads up to {SCHEMA_VERSION}"
        )
    return m


def list_datasets(root: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per version of every data set under root (newest version last)."""
    if root is not None and not Path(root).is_dir():
        raise ExportError(f"--root {root} is not a folder of data sets (no such directory)")
    root = Path(root) if root else DATASETS_DIR
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        have = versions(root, d.name) if valid_name(d.name) else []  # not ours: skipped
        latest = version_dir(d.name, "latest", root).name if have else None
        for n in have:
            row: dict[str, Any] = {
                "name": d.name,
                "version": f"v{n}",
                "path": str(d / f"v{n}"),
                "latest": f"v{n}" == latest,
            }
            try:
                m = read_manifest(d / f"v{n}")
                row.update(
                    created=m.get("created"),
                    count=m["count"],
                    generator=m["generator"],
                    data=m.get("data", {}).get("name"),
                )
            except ExportError as e:
                row["error"] = str(e)
            rows.append(row)
    return rows


def _inside(base: Path, rel: str) -> Path:
    """base / rel, refusing a path that leaves base (absolute, '..', or a link out)."""
    p = (base / rel).resolve()
    if not p.is_relative_to(base.resolve()):
        raise ExportError(f"{rel!r} points outside the data set folder {base}")
    return p


def verify(path: str | Path) -> dict[str, Any]:
    """Re-check a version: every file's SHA-256 against the manifest, files missing, and any
    file anywhere in the version's tree that the manifest does not list (links included),
    and labels.csv against the files. {'ok', 'checked', 'problems': [...]}."""
    path = Path(path)
    problems: list[str] = []
    try:
        m = read_manifest(path)
    except ExportError as e:
        return {"ok": False, "path": str(path), "checked": 0, "problems": [str(e)]}
    files: dict[str, str] = m["files"]
    for rel, digest in files.items():
        try:
            f = _inside(path, rel)
        except ExportError as e:
            problems.append(str(e))
            continue
        if not f.is_file():
            problems.append(f"{rel} is missing")
        elif file_sha256(f) != digest:
            problems.append(f"{rel} has changed (SHA-256 differs from the manifest)")
    on_disk = {
        (Path(here) / n).relative_to(path).as_posix()
        for here, dirs, names in os.walk(path)
        for n in (*names, *(d for d in dirs if (Path(here) / d).is_symlink()))
    } - {"manifest.json"}
    problems += [f"{rel} is not in the manifest" for rel in sorted(on_disk - set(files))]
    try:
        rows = read_labels(path, len(m["class_names"]))
        if len(rows) != m["count"]:
            problems.append(f"labels.csv has {len(rows)} rows; the manifest counts {m['count']}")
    except ExportError as e:
        problems.append(str(e))
    return {"ok": not problems, "path": str(path), "checked": len(files), "problems": problems}


def read_labels(path: Path, num_classes: int | None = None) -> list[tuple[str, int, float | None]]:
    """(relative file, label, confidence) rows of labels.csv, each file checked to lie inside
    the version's folder and each label to be one of the num_classes classes (None: read
    from the manifest)."""
    return [r[:3] for r in _read_rows(path, num_classes)]


def read_probabilities(path: Path, num_classes: int | None = None) -> np.ndarray | None:
    """float32 (N, K): each image's class probabilities from labels.csv, in its row order;
    None for a version without them (hard labels only: schema 1, or a conditional source)."""
    rows = _read_rows(path, num_classes)
    if not rows or rows[0][3] is None:
        return None
    return np.array([r[3] for r in rows], dtype=np.float32)


def _read_rows(path: Path, num_classes: int | None) -> list[tuple]:
    """(file, label, confidence, probabilities or None) rows of labels.csv, checked."""
    f = path / "labels.csv"
    k = num_classes if num_classes is not None else len(read_manifest(path)["class_names"])
    headers = [
        (*LABEL_COLUMNS, *extra, *probs)
        for extra in ((), (CAPTION_COLUMN,))
        for probs in ((), (PROBABILITIES_COLUMN,))
    ]
    try:
        with open(f, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or tuple(header) not in headers:
                raise ExportError(f"{f}: the header is {header}, expected {list(LABEL_COLUMNS)}")
            with_probs = header[-1] == PROBABILITIES_COLUMN
            rows = []
            for line, r in enumerate(reader, start=2):
                if len(r) != len(header) or not r[1].lstrip("-").isdigit():
                    raise ExportError(f"{f}, line {line}: malformed row {r}")
                label = int(r[1])
                if not 0 <= label < k:
                    raise ExportError(
                        f"{f}, line {line}: label {label} is not a class (0..{k - 1})"
                    )
                _inside(path, r[0])
                probs = _probabilities(r[-1], k, f, line) if with_probs else None
                rows.append((r[0], label, float(r[6]) if r[6] else None, probs))
    except FileNotFoundError as e:
        raise ExportError(f"{f} is missing") from e
    return rows


def _probabilities(cell: str, k: int, f: Path, line: int) -> list[float]:
    try:
        p = [float(v) for v in cell.split()]
    except ValueError:
        p = []
    if len(p) != k or not all(0.0 <= v <= 1.0 for v in p) or abs(sum(p) - 1.0) > 0.01:
        raise ExportError(f"{f}, line {line}: {cell!r} is not {k} class probabilities")
    return p


class ExportedDataset(torch.utils.data.Dataset):
    """A version of an exported data set: item i is (image, label), the image a uint8 tensor
    (C, H, W) or whatever `transform` makes of the PIL image. With check (the default) the
    whole version is verified first (checksums, files the manifest does not list) and a
    version that fails is refused; check=False skips the checksums (faster on a big
    version). Either way only files the manifest lists are ever read."""

    def __init__(self, path: str | Path, transform: Any = None, check: bool = True) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if check:
            report = verify(self.path)
            if not report["ok"]:
                more = len(report["problems"]) - 1
                raise ExportError(
                    f"data set version {self.path} fails verification: {report['problems'][0]}"
                    + (f" (and {more} more problems)" if more else "")
                    + "; see `ganflow datasets verify`"
                )
        self.listed = set(self.manifest["files"])
        self.rows = read_labels(self.path, len(self.manifest["class_names"]))
        unlisted = [r for r, _, _ in self.rows if r not in self.listed]
        if unlisted:
            raise ExportError(
                f"{self.path / 'labels.csv'} names {unlisted[0]}, which the manifest does not list"
            )
        self.classes: list[str] = self.manifest["class_names"]
        self.transform = transform
        self.channels = self.manifest["image_shape"][0]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        rel, label, _ = self.rows[i]
        try:
            with Image.open(_inside(self.path, rel)) as im:
                im = im.convert("L" if self.channels == 1 else "RGB")
                im.load()
        except (FileNotFoundError, UnidentifiedImageError, OSError) as e:
            raise ExportError(f"{self.path / rel} cannot be read: {e}") from e
        if self.transform is not None:
            return self.transform(im), label
        a = np.array(im)
        return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy()), label

    def probabilities(self) -> torch.Tensor | None:
        """float32 (N, K) class probabilities of the images, in item order (from arrays.npz
        when there is one), or None for a version labelled without them."""
        npz = self.path / "arrays.npz"
        if "arrays.npz" in self.listed and npz.is_file():
            with np.load(npz) as a:
                if "probabilities" in a:
                    return torch.from_numpy(a["probabilities"])
        p = read_probabilities(self.path, len(self.classes))
        return None if p is None else torch.from_numpy(p)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (N, C, H, W) uint8 and labels (N,): from arrays.npz when there is one."""
        npz = self.path / "arrays.npz"
        if "arrays.npz" in self.listed and npz.is_file():
            with np.load(npz) as a:
                return torch.from_numpy(a["images"]), torch.from_numpy(a["labels"])
        if not self.rows:
            return torch.empty(0, *self.manifest["image_shape"], dtype=torch.uint8), torch.empty(
                0, dtype=torch.long
            )
        xs, ys = zip(*(self[i] for i in range(len(self))), strict=True)
        return torch.stack(xs), torch.tensor(ys)


def load_dataset(
    name_or_path: str | Path,
    version: str | int = "latest",
    root: str | Path | None = None,
    transform: Any = None,
    check: bool = True,
) -> ExportedDataset:
    """An exported data set as a torch Dataset: a version directory, or a name (+ version).
    The version is verified against its manifest first; check=False skips that."""
    p = Path(name_or_path)
    if (p / "manifest.json").is_file():
        return ExportedDataset(p, transform, check)
    return ExportedDataset(version_dir(str(name_or_path), version, root), transform, check)
