"""One data set version as it is written: images (PNG, and optionally raw arrays streamed to
disk), labels.csv rows and the checksum of every file, in the version's temporary directory."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganflow.tasks.export.generators import GeneratorSource
from ganflow.tasks.export.layout import (
    CAPTION_COLUMN,
    LABEL_COLUMNS,
    PROBABILITIES_COLUMN,
    ExportOptions,
    class_dir,
)
from ganflow.tasks.io import file_sha256


class NpyStream:
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
            {
                "descr": np.lib.format.dtype_to_descr(self.dtype),
                "fortran_order": False,
                "shape": (self.n, *self.shape),
            },
        )
        with zf.open(name, "w", force_zip64=True) as out, open(self.path, "rb") as f:
            out.write(header.getvalue())
            shutil.copyfileobj(f, out, 1 << 20)
        self.path.unlink()


class VersionWriter:
    """Writes images, labels.csv and arrays into a temporary version directory."""

    def __init__(
        self,
        tmp: Path,
        src: GeneratorSource,
        opts: ExportOptions,
        source_run: str,
        probabilities: bool = False,
    ) -> None:
        self.tmp, self.src, self.opts, self.source_run = tmp, src, opts, source_run
        (tmp / "images").mkdir(parents=True)
        self.files: dict[str, str] = {}  # relative path -> SHA-256
        self.counts = [0] * len(src.class_names)
        self.csv_file = open(tmp / "labels.csv", "w", newline="")  # noqa: SIM115 (closed in finish/close)
        self.csv = csv.writer(self.csv_file)
        # a text-to-image source: each image's caption in labels.csv and the manifest
        self.captioned = bool(getattr(src, "captioned", False))
        self.captions: dict[str, str] = {}
        # labelled by a classifier: each image's class probabilities too
        self.probabilities = probabilities
        header = [*LABEL_COLUMNS, *([CAPTION_COLUMN] if self.captioned else [])]
        self.csv.writerow([*header, *([PROBABILITIES_COLUMN] if probabilities else [])])
        self.keep_x: list[torch.Tensor] = []
        self.keep_y: list[torch.Tensor] = []
        self.kept = 0
        self.arrays = None
        if opts.arrays:
            self.arrays = {
                "images": NpyStream(tmp / ".images.raw", np.uint8, src.shape),
                "labels": NpyStream(tmp / ".labels.raw", np.int64, ()),
                "confidence": NpyStream(tmp / ".confidence.raw", np.float32, ()),
            }
            if probabilities:
                k = len(src.class_names)
                self.arrays["probabilities"] = NpyStream(tmp / ".probs.raw", np.float32, (k,))

    @property
    def total(self) -> int:
        return sum(self.counts)

    def add(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        conf: torch.Tensor | None,
        captions: list[str] | None = None,
        probs: torch.Tensor | None = None,
    ) -> None:
        src = self.src
        if self.captioned != (captions is not None):
            raise ValueError("a captioned source gives one caption per image, others none")
        if self.probabilities != (probs is not None):
            raise ValueError("a labelled export gives each image's probabilities, others none")
        for img, label, c, caption, p in zip(
            x.numpy(),
            y.tolist(),
            conf.tolist() if conf is not None else [None] * len(y),
            captions if captions is not None else [None] * len(y),
            probs.tolist() if probs is not None else [None] * len(y),
            strict=True,
        ):
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
            row = [
                rel,
                label,
                src.class_names[label],
                self.source_run,
                src.kind,
                condition,
                "" if c is None else f"{c:.4f}",
            ]
            if caption is not None:
                row.append(caption)
                self.captions[rel] = caption
            if p is not None:
                row.append(" ".join(f"{v:.4f}" for v in p))
            self.csv.writerow(row)
            self.counts[label] += 1
        if self.arrays is not None:
            self.arrays["images"].append(x.numpy())
            self.arrays["labels"].append(y.numpy())
            c = conf.numpy() if conf is not None else np.full(len(y), np.nan)
            self.arrays["confidence"].append(c)
            if probs is not None:
                self.arrays["probabilities"].append(probs.numpy())
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
        """Close every open file (after a failure, before the directory is removed); a file
        whose last flush fails (a full disk) is closed all the same."""
        files = [self.csv_file, *(stream.f for stream in (self.arrays or {}).values())]
        for f in files:
            with contextlib.suppress(OSError):
                f.close()

    def kept_sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat(self.keep_x), torch.cat(self.keep_y)
