"""Reading a user's folders without trusting them: every listed file and class folder stays
inside the folder it was found under (a link out of it is refused, naming it), and an image
is opened only when its declared size is within a cap (a small file can declare a huge
picture). Every error is a DataError naming the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ganflow.tasks.data.raw import DataError

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

# the most pixels an input image may declare: $GANFLOW_MAX_IMAGE_PIXELS, else 40 million
# (larger than a 6000x6000 photograph, far below what fills memory when decoded)
MAX_IMAGE_PIXELS = int(os.environ.get("GANFLOW_MAX_IMAGE_PIXELS", 40_000_000))


def inside(path: Path, root: Path) -> Path:
    """`path` resolved, refused (DataError) when it or a link on its way leads out of root."""
    real, base = path.resolve(), root.resolve()
    if not real.is_relative_to(base):
        raise DataError(
            f"{path} is a link to {real}, outside the data folder {root}: links out of the "
            "folder are not followed (copy the files in, or point at the folder they are in)"
        )
    return real


def check_tree(root: Path) -> Path:
    """root, once every link anywhere under it is checked to stay inside it (DataError
    naming the first that does not); a missing root is left to the caller to report."""
    root = Path(root)
    for here, dirs, files in os.walk(root, followlinks=False):
        for n in (*dirs, *files):
            p = Path(here) / n
            if p.is_symlink():
                inside(p, root)
    return root


def subfolders(root: Path) -> list[Path]:
    """root's visible subfolders, sorted; a link to a folder outside root is refused."""
    return sorted(
        p
        for p in root.iterdir()
        if not p.name.startswith(".") and p.is_dir() and inside(p, root) is not None
    )


def list_images(folder: Path, root: Path | None = None, recursive: bool = True) -> list[Path]:
    """The visible image files under folder (its subfolders too when recursive), sorted;
    any file or folder that links out of root (default: folder) is refused. Links that stay
    inside are read as files, never descended as folders (no loops)."""
    root = root or folder
    inside(folder, root)
    out = []
    for here, dirs, files in os.walk(folder, followlinks=False):
        d = Path(here)
        dirs[:] = sorted(n for n in dirs if not n.startswith("."))
        for n in dirs:
            if (d / n).is_symlink():
                inside(d / n, root)
        for n in files:
            p = d / n
            if n.startswith(".") or p.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            if p.is_symlink():
                inside(p, root)
            out.append(p)
        if not recursive:
            break
    return sorted(out)


def open_image(path: Path, mode: str, draft: int = 0) -> Any:
    """The image at path, decoded and converted to `mode` ('L' or 'RGB'); a file that is no
    image, is truncated, or declares more than MAX_IMAGE_PIXELS is a DataError naming it.
    draft: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale while its shorter side stays at
    least twice this (Pillow's draft mode; 0: full scale)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise DataError(
                    f"image {path} declares {w}x{h} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                    "allowed (set GANFLOW_MAX_IMAGE_PIXELS to allow more); not decoded"
                )
            if draft and im.format == "JPEG" and min(w, h) >= 4 * draft:
                im.draft(im.mode if im.mode in ("L", "RGB") else None, (2 * draft, 2 * draft))
            out = im.convert(mode)
            out.load()
            return out
    except Image.DecompressionBombError as e:
        raise DataError(
            f"image {path} declares more pixels than can be decoded safely ({e}); not decoded"
        ) from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"corrupt or unreadable image {path}: {e}") from e
