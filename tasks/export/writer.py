"""Export of versioned synthetic data sets.

A data set is <root>/<name>/v<N>/:
    images/<NN>_<class>/<id>.png   loads directly with torchvision's ImageFolder: the NN prefix
                                   makes its sorted class order the label order
    labels.csv                     file, label, class_name, source, generator, condition, confidence
    manifest.json                  schema, ganflow version, time, source run, checkpoint SHA-256,
                                   config, data fingerprint, per-class counts, metrics, SHA-256
                                   of every file
    arrays.npz                     optional: images (N, C, H, W) uint8, labels (N,), confidence (N,)
and <root>/<name>/latest -> v<N>, the newest.

A version is written into a hidden temporary directory beside the versions and renamed into
place when complete, so a reader never sees half a data set and a kill or a full disk leaves
no visible version (the next export sweeps such leftovers). Versions are never overwritten.
Images stream through in batches: memory stays flat as N grows (the checksums and a capped
sample kept for metrics are all that accumulates).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganflow.tasks.data.sources import DATA_DIR
from ganflow.tasks.export.generators import GeneratorSource, open_generator
from ganflow.tasks.io import file_sha256

SCHEMA_VERSION = 1
DATASETS_DIR = DATA_DIR / "datasets"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
VERSION_RE = re.compile(r"^v(\d+)$")
TMP_PREFIX = ".tmp-"
LABEL_COLUMNS = ("file", "label", "class_name", "source", "generator", "condition", "confidence")
BALANCES = ("equal", "natural")


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

    def validate(self) -> None:
        if self.per_class < 1:
            raise ExportError(f"per_class must be at least 1, got {self.per_class}")
        if self.balance not in BALANCES:
            raise ExportError(f"balance must be one of {BALANCES}, got {self.balance!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ExportError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.batch_size < 1 or self.max_draws < 1:
            raise ExportError("batch_size and max_draws must be at least 1")


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


def _sweep_stale(set_dir: Path) -> None:
    """Remove what exports that died left behind (their process is gone): temporary
    version directories and `latest` links."""
    for p in set_dir.glob(f"{TMP_PREFIX}*"):
        try:
            os.kill(int(p.name[len(TMP_PREFIX) :].split("-")[0]), 0)
            continue  # still running
        except PermissionError:
            continue  # running, as another user
        except (ValueError, ProcessLookupError):
            pass
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
        else:
            shutil.rmtree(p, ignore_errors=True)


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


class _NpyStream:
    """A (N, ...) array of unknown N appended in batches to a raw file, packed into a .npy
    entry of a zip at the end without holding it in memory."""

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.shape, self.n = path, np.dtype(dtype), shape, 0
        self.f = open(path, "wb")  # noqa: SIM115 (closed by write_into or the writer's close)

    def append(self, a: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(a, dtype=self.dtype).tobytes())
        self.n += len(a)

    def write_into(self, zf: zipfile.ZipFile, name: str) -> None:
        self.f.close()
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header,
            {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
             "shape": (self.n, *self.shape)},
        )  # fmt: skip
        with zf.open(name, "w", force_zip64=True) as out, open(self.path, "rb") as f:
            out.write(header.getvalue())
            shutil.copyfileobj(f, out, 1 << 20)
        self.path.unlink()


class _VersionWriter:
    """Writes images, labels.csv and arrays into a temporary version directory."""

    def __init__(
        self, tmp: Path, src: GeneratorSource, opts: ExportOptions, source_run: str
    ) -> None:
        self.tmp, self.src, self.opts, self.source_run = tmp, src, opts, source_run
        (tmp / "images").mkdir(parents=True)
        self.files: dict[str, str] = {}  # relative path -> SHA-256
        self.counts = [0] * len(src.class_names)
        self.csv_file = open(tmp / "labels.csv", "w", newline="")  # noqa: SIM115 (closed in finish/close)
        self.csv = csv.writer(self.csv_file)
        self.csv.writerow(LABEL_COLUMNS)
        self.keep_x: list[torch.Tensor] = []
        self.keep_y: list[torch.Tensor] = []
        self.kept = 0
        self.arrays = None
        if opts.arrays:
            self.arrays = {
                "images": _NpyStream(tmp / ".images.raw", np.uint8, src.shape),
                "labels": _NpyStream(tmp / ".labels.raw", np.int64, ()),
                "confidence": _NpyStream(tmp / ".confidence.raw", np.float32, ()),
            }

    @property
    def total(self) -> int:
        return sum(self.counts)

    def add(self, x: torch.Tensor, y: torch.Tensor, conf: torch.Tensor | None) -> None:
        src = self.src
        for img, label, c in zip(x.numpy(), y.tolist(), conf.tolist() if conf is not None else [None] * len(y), strict=True):  # fmt: skip
            rel = f"images/{class_dir(label, src.class_names[label])}/{self.total:06d}.png"
            path = self.tmp / rel
            path.parent.mkdir(exist_ok=True)
            buf = io.BytesIO()
            Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)).save(
                buf, "PNG"
            )
            path.write_bytes(buf.getvalue())
            self.files[rel] = hashlib.sha256(buf.getvalue()).hexdigest()
            condition = label if src.conditional else ""
            self.csv.writerow([rel, label, src.class_names[label], self.source_run, src.kind,
                               condition, "" if c is None else f"{c:.4f}"])  # fmt: skip
            self.counts[label] += 1
        if self.arrays is not None:
            self.arrays["images"].append(x.numpy())
            self.arrays["labels"].append(y.numpy())
            c = conf.numpy() if conf is not None else np.full(len(y), np.nan)
            self.arrays["confidence"].append(c)
        room = self.opts.metric_samples - self.kept
        if room > 0:
            self.keep_x.append(x[:room].clone())
            self.keep_y.append(y[:room].clone())
            self.kept += min(room, len(x))

    def finish(self) -> None:
        self.csv_file.close()
        self.files["labels.csv"] = file_sha256(self.tmp / "labels.csv")
        if self.arrays is not None:
            with zipfile.ZipFile(self.tmp / "arrays.npz", "w", zipfile.ZIP_STORED) as zf:
                for key, stream in self.arrays.items():
                    stream.write_into(zf, f"{key}.npy")
            self.files["arrays.npz"] = file_sha256(self.tmp / "arrays.npz")

    def close(self) -> None:
        """Close every open file (after a failure, before the directory is removed)."""
        self.csv_file.close()
        for stream in (self.arrays or {}).values():
            stream.f.close()

    def kept_sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat(self.keep_x), torch.cat(self.keep_y)


def _fill(w: _VersionWriter, src: GeneratorSource, opts: ExportOptions, wanted: list[int],
          progress: Any = None) -> None:  # fmt: skip
    """Draw batches until every class has its quota (or the draw budget runs out)."""
    k = len(src.class_names)
    quota = torch.zeros(k, dtype=torch.long)
    quota[wanted] = opts.per_class
    total_wanted = opts.per_class * len(wanted)
    natural = opts.balance == "natural"
    g = torch.Generator().manual_seed(opts.seed)
    drawn, budget = 0, opts.max_draws * total_wanted
    while w.total < total_wanted and drawn < budget:
        remaining = quota - torch.tensor(w.counts)
        # a conditional source makes exactly what is still missing; another draws whole batches
        n = min(opts.batch_size, total_wanted - w.total) if src.conditional else opts.batch_size
        labels = None
        if src.conditional:  # ask for the classes still short, in proportion to the shortfall
            need = remaining.clamp(min=0) if not natural else quota.clamp(max=1)
            labels = torch.multinomial(need.float(), n, replacement=True, generator=g)
        x, y, conf = src.draw(labels, n, g)
        drawn += n
        ok = torch.isin(y, torch.tensor(wanted))
        if conf is not None:
            ok &= conf >= opts.min_confidence
        # keep, in order, at most the quota left of each class (natural: of the total)
        idx = []
        left = remaining.clone()
        room = total_wanted - w.total
        for i in torch.nonzero(ok).flatten().tolist():
            c = int(y[i])
            if len(idx) >= room or (not natural and left[c] <= 0):
                continue
            left[c] -= 1
            idx.append(i)
        if idx:
            sel = torch.tensor(idx)
            w.add(x[sel], y[sel], conf[sel] if conf is not None else None)
        if progress is not None:
            progress(w.total, total_wanted)
    if w.total < total_wanted:
        short = [f"{src.class_names[c]}: {w.counts[c]}/{opts.per_class}" for c in wanted
                 if w.counts[c] < opts.per_class]  # fmt: skip
        raise ExportError(
            f"after {drawn} draws only {w.total} of {total_wanted} images passed "
            f"(confidence >= {opts.min_confidence}); short: {', '.join(short) or 'the total'}. "
            "Lower --min-confidence, use --balance natural, or raise max_draws."
        )


def ganflow_version() -> str:
    try:
        from importlib.metadata import version

        return version("ganflow")
    except Exception:  # not installed as a distribution
        return "0+unknown"


def export_dataset(checkpoint: str | Path, name: str, opts: ExportOptions | None = None,
                   root: str | Path | None = None, device: str = "cpu",
                   metrics: Any = None, progress: Any = None) -> dict[str, Any]:  # fmt: skip
    """Export a new version of data set `name` from a trained run; returns {path, version,
    count, per_class, manifest}. `metrics(images, labels, src) -> dict` (optional) scores a
    sample of the export (e.g. CAS, FID) for the manifest."""
    opts = opts or ExportOptions()
    opts.validate()
    root = Path(root) if root else DATASETS_DIR
    set_dir = root / check_name(name)
    src = open_generator(checkpoint, device)
    wanted = resolve_classes(opts.classes, src.class_names)
    set_dir.mkdir(parents=True, exist_ok=True)
    _sweep_stale(set_dir)
    tmp = set_dir / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    t0 = time.monotonic()
    w: _VersionWriter | None = None
    try:
        w = _VersionWriter(tmp, src, opts, str(Path(checkpoint).parent))
        _fill(w, src, opts, wanted, progress)
        w.finish()
        scores = metrics(*w.kept_sample(), src) if metrics is not None else {}
        manifest = _manifest(name, src, opts, checkpoint, w, scores, time.monotonic() - t0)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        version = _publish(tmp, set_dir)
    except BaseException as e:  # a kill, a full disk, a bad batch: publish nothing
        if w is not None:
            w.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise ExportError(f"the disk under {root} is full; nothing was published") from e
        raise
    path = set_dir / f"v{version}"
    per_class = {src.class_names[c]: w.counts[c] for c in wanted}
    return {"path": str(path), "name": name, "version": version, "count": w.total,
            "per_class": per_class, "metrics": scores, "wall_s": round(time.monotonic() - t0, 2),
            "images_per_s": round(w.total / max(time.monotonic() - t0, 1e-9), 1)}  # fmt: skip


def _manifest(name: str, src: GeneratorSource, opts: ExportOptions, checkpoint: str | Path,
              w: _VersionWriter, scores: dict, wall: float) -> dict[str, Any]:  # fmt: skip
    return {
        "schema_version": SCHEMA_VERSION, "ganflow_version": ganflow_version(), "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source_run": str(Path(checkpoint).resolve().parent), "checkpoint": str(Path(checkpoint).resolve()),
        "checkpoint_sha256": file_sha256(checkpoint), "generator": src.kind, "config": src.config,
        "data": {"name": src.data_name, "fingerprint": src.data_fingerprint},
        "class_names": src.class_names, "image_shape": list(src.shape), "count": w.total,
        "per_class": {src.class_names[c]: n for c, n in enumerate(w.counts) if n},
        "class_dirs": {class_dir(c, n): c for c, n in enumerate(src.class_names)},
        "options": asdict(opts), "metrics": scores, "wall_s": round(wall, 2), "files": w.files,
    }  # fmt: skip


def _publish(tmp: Path, set_dir: Path) -> int:
    """Rename the finished directory to the next free v<N> and point `latest` at it."""
    n = (max(versions(set_dir.parent, set_dir.name), default=0)) + 1
    while True:
        try:
            os.rename(tmp, set_dir / f"v{n}")  # fails if v<N> exists: never overwrites
            break
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            n += 1  # another export took this number meanwhile
    link = set_dir / f"{TMP_PREFIX}{os.getpid()}-latest-{secrets.token_hex(3)}"
    try:
        os.symlink(f"v{n}", link)
        os.replace(link, set_dir / "latest")
    except OSError:  # a filesystem without symlinks: readers fall back to the highest v<N>
        link.unlink(missing_ok=True)
    return n
