"""Data for image-to-image translation: two domains A and B, paired (pix2pix) or not
(CycleGAN), from users' folders in the layouts of the reference data sets, or built in.

Folders (images of any size and mode, converted to `channels` and resized):
  paired    root/A/ and root/B/ with the same file names (optionally each with train/ and
            test/ inside), or side-by-side A|B images (pix2pix's facades, edges2shoes):
            root/train/*.jpg and root/test/ (or val/), or root/*.jpg
  unpaired  root/trainA/ root/trainB/ [root/testA/ root/testB/] (CycleGAN's horse2zebra)
Without a test split a fixed tenth of the training images is held out.

Built in (offline, from Fashion-MNIST, with a measurable answer):
  edges2fashion      A: the item's edge map (Sobel magnitude > a fixed threshold), B: the
                     item; paired, so the ground truth is known
  fashion2fashion-m  A: the item in grey; B: "Fashion-MNIST-M", other items blended into a
                     random colour texture (as MNIST-M is made from MNIST, Ganin et al. 2016;
                     here as a dark silhouette, texture * (1 - item)); A and B use disjoint
                     items, so no pair exists
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganflow.tasks.data.decode import square_array
from ganflow.tasks.data.raw import DataError, RawData, SourceOptions
from ganflow.tasks.data.safefiles import IMAGE_EXTENSIONS, check_tree, list_images, open_image

BUILT_IN = ("edges2fashion", "fashion2fashion-m")
TASKS = (*BUILT_IN, "folder")
# Sobel magnitude (of images in [0, 1]) above which a pixel is an edge
EDGE_THRESHOLD = 0.5


@dataclass
class TranslationData:
    """Both domains as uint8 (N, C, S, S) arrays; labels where the source has them."""

    name: str
    paired: bool
    train_a: np.ndarray
    train_b: np.ndarray
    test_a: np.ndarray
    test_b: np.ndarray
    class_names: list[str] = field(default_factory=list)
    # (N,) int64 labels of train_a, train_b, test_a, test_b, where the source has them
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    # name the target domain's classifier is cached under
    target_name: str = ""

    @property
    def target(self) -> RawData | None:
        """The real target domain B as a classification data set (its domain classifier
        gives the FID features and the content score); None without B's labels."""
        if "train_b" not in self.labels or "test_b" not in self.labels:
            return None
        lab = self.labels
        return RawData(self.train_b, lab["train_b"], self.test_b, lab["test_b"], self.class_names)

    def swapped(self) -> TranslationData:
        """The same task the other way round: B is the input, A the target (pix2pix's
        --direction BtoA, facades' label maps to photos)."""
        lab = {f"{split}_{'b' if side == 'a' else 'a'}": v for key, v in self.labels.items()
               for split, side in [key.rsplit("_", 1)]}  # fmt: skip
        return TranslationData(
            self.name, self.paired, self.train_b, self.train_a, self.test_b, self.test_a,
            list(self.class_names), lab, f"{self.target_name}-a" if self.target_name else "",
        )  # fmt: skip

    def with_test_side(self, side: int) -> TranslationData:
        """The test images resized (antialiased) to the side the networks see, where the
        training images are stored larger for the random crop (pix2pix's 286 -> 256): the
        papers test on whole images at that side, not on crops."""
        if self.test_a.shape[-1] == side and self.test_b.shape[-1] == side:
            return self
        return replace(self, test_a=resize_array(self.test_a, side),
                       test_b=resize_array(self.test_b, side))  # fmt: skip

    @property
    def image_size(self) -> int:
        return int(self.train_a.shape[-1])

    @property
    def channels(self) -> tuple[int, int]:
        return int(self.train_a.shape[1]), int(self.train_b.shape[1])

    @property
    def fingerprint(self) -> dict[str, Any]:
        h = hashlib.sha256()
        for a in (self.train_a, self.train_b, self.test_a, self.test_b):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return {"id": f"{self.name}-{h.hexdigest()[:16]}", "source": self.name,
                "paired": self.paired, "sizes": {k: len(getattr(self, k)) for k in
                ("train_a", "train_b", "test_a", "test_b")}}  # fmt: skip


def resize_array(x: np.ndarray, side: int) -> np.ndarray:
    """uint8 (N, C, H, W) -> uint8 (N, C, side, side), bilinear with antialiasing."""
    out = np.empty((*x.shape[:2], side, side), dtype=np.uint8)
    for i in range(0, len(x), 256):
        t = torch.from_numpy(x[i : i + 256]).float()
        t = torch.nn.functional.interpolate(
            t, size=(side, side), mode="bilinear", antialias=True, align_corners=False
        )
        out[i : i + 256] = t.round().clamp(0, 255).to(torch.uint8).numpy()
    return out


# --- built-in tasks ----------------------------------------------------------------------


def edge_map(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 1, H, W) -> the binary Sobel edge map, uint8 0/255 (N, 1, H, W)."""
    t = torch.from_numpy(x).float() / 255.0
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    k = torch.stack([kx, kx.T])[:, None]  # (2, 1, 3, 3)
    g = torch.nn.functional.conv2d(torch.nn.functional.pad(t, (1, 1, 1, 1), "replicate"), k)
    mag = g.pow(2).sum(1, keepdim=True).sqrt()
    return ((mag > EDGE_THRESHOLD) * 255).to(torch.uint8).numpy()


def colour_textures(n: int, size: int, seed: int) -> np.ndarray:
    """uint8 (n, 3, size, size) random colour textures: smooth colour fields at two scales
    (4x4 and 7x7 noise, bilinearly upsampled), each image its own draw from `seed`."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    fine = torch.rand(n, 3, 7, 7, generator=g)
    up = lambda t: torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear")  # noqa: E731
    tex = 0.7 * up(coarse) + 0.3 * up(fine)
    return (tex.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def blend_over_texture(x: np.ndarray, seed: int) -> np.ndarray:
    """The item as a dark silhouette in a random colour texture: texture * (1 - item), per
    colour channel, items in [0, 1]. (N, 1, S, S) -> (N, 3, S, S). Unlike MNIST-M's
    |texture - item|, whose polarity flips with the texture's brightness, the item is always
    darker than its background, so the grey, bright-on-black items of A are far from B."""
    tex = colour_textures(len(x), x.shape[-1], seed).astype(np.float32)
    out = tex * (1.0 - x.astype(np.float32) / 255.0)
    return np.round(out).astype(np.uint8)


def _grey3(x: np.ndarray) -> np.ndarray:
    """(N, 1, S, S) -> (N, 3, S, S): the grey item on three channels, so that both domains
    have three and CycleGAN's identity loss applies."""
    return np.repeat(x, 3, axis=1)


def edges2fashion(fashion: RawData) -> TranslationData:
    return TranslationData(
        "edges2fashion", True,
        edge_map(fashion.train_x), fashion.train_x, edge_map(fashion.test_x), fashion.test_x,
        list(fashion.class_names),
        {"train_a": fashion.train_y, "train_b": fashion.train_y,
         "test_a": fashion.test_y, "test_b": fashion.test_y},
        "fashion-mnist",
    )  # fmt: skip


def fashion2fashion_m(fashion: RawData) -> TranslationData:
    """A: even-indexed items (grey), B: odd-indexed items over textures, in both splits."""
    tr, te = np.arange(len(fashion.train_y)), np.arange(len(fashion.test_y))
    a_tr, b_tr, a_te, b_te = tr[0::2], tr[1::2], te[0::2], te[1::2]
    b_train = blend_over_texture(fashion.train_x[b_tr], seed=1)
    b_test = blend_over_texture(fashion.test_x[b_te], seed=2)
    return TranslationData(
        "fashion2fashion-m", False,
        _grey3(fashion.train_x[a_tr]), b_train, _grey3(fashion.test_x[a_te]), b_test,
        list(fashion.class_names),
        {"train_a": fashion.train_y[a_tr], "train_b": fashion.train_y[b_tr],
         "test_a": fashion.test_y[a_te], "test_b": fashion.test_y[b_te]},
        "fashion-mnist-m",
    )  # fmt: skip


# --- folders -----------------------------------------------------------------------------


def _images(folder: Path) -> list[Path]:
    """The images directly in folder (the loaders check the whole tree's links first)."""
    return list_images(folder, recursive=False)


def _read(path: Path, channels: int):
    return open_image(path, "L" if channels == 1 else "RGB")


def _nonempty(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist")
    files = _images(folder)
    if not files:
        raise DataError(f"{folder} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def _read_pairs(dir_a: Path, dir_b: Path, size: int, channels: int) -> tuple[np.ndarray, ...]:
    """Pairs matched by file stem; every mismatch and every pair of two sizes is named."""
    fa, fb = _nonempty(dir_a), _nonempty(dir_b)
    sa, sb = {p.stem: p for p in fa}, {p.stem: p for p in fb}
    only_a, only_b = sorted(set(sa) - set(sb)), sorted(set(sb) - set(sa))
    if only_a or only_b:
        raise DataError(
            f"paired folders {dir_a} and {dir_b} do not match: "
            + "; ".join(
                f"{len(names)} only in {d.name}/ (e.g. {', '.join(names[:3])})"
                for names, d in ((only_a, dir_a), (only_b, dir_b))
                if names
            )
        )
    xa, xb = [], []
    for stem in sorted(sa):
        ia, ib = _read(sa[stem], channels), _read(sb[stem], channels)
        if ia.size != ib.size:
            raise DataError(
                f"pair {stem!r} has two sizes: {sa[stem]} is {ia.size[0]}x{ia.size[1]}, "
                f"{sb[stem]} is {ib.size[0]}x{ib.size[1]}"
            )
        xa.append(square_array(ia, size))
        xb.append(square_array(ib, size))
    return np.stack(xa), np.stack(xb)


def _read_side_by_side(folder: Path, size: int, channels: int) -> tuple[np.ndarray, ...]:
    """Each image is A|B: its left half A, its right half B (pix2pix's data sets)."""
    xa, xb = [], []
    for path in _nonempty(folder):
        im = _read(path, channels)
        w, h = im.size
        if w % 2:
            raise DataError(
                f"{path} is {w}x{h}: a side-by-side A|B image needs an even width (two halves)"
            )
        xa.append(square_array(im.crop((0, 0, w // 2, h)), size))
        xb.append(square_array(im.crop((w // 2, 0, w, h)), size))
    return np.stack(xa), np.stack(xb)


def _holdout(n: int, fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: max(1, round(fraction * n))]] = True
    return mask


def _split(xa: np.ndarray, xb: np.ndarray, paired: bool) -> tuple[np.ndarray, ...]:
    """A held-out tenth of each side (the same items of both sides when paired)."""
    if len(xa) < 2 or len(xb) < 2:
        raise DataError("a translation data set needs at least 2 images per side")
    ma = _holdout(len(xa))
    mb = ma if paired else _holdout(len(xb), seed=1)
    return xa[~ma], xb[~mb], xa[ma], xb[mb]


def load_paired_folder(root: str | Path, size: int, channels: int) -> TranslationData:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"paired folder {root} does not exist")
    check_tree(root)
    has_a, has_b = (root / "A").is_dir(), (root / "B").is_dir()
    if has_a != has_b:
        missing = "B" if has_a else "A"
        raise DataError(f"paired folder {root} has {'AB'.replace(missing, '')}/ but no {missing}/")
    if has_a:
        if (root / "A" / "train").is_dir():
            tra, trb = _read_pairs(root / "A" / "train", root / "B" / "train", size, channels)
            test = "test" if (root / "A" / "test").is_dir() else "val"
            if (root / "A" / test).is_dir():
                tea, teb = _read_pairs(root / "A" / test, root / "B" / test, size, channels)
                return TranslationData("folder", True, tra, trb, tea, teb)
            return TranslationData("folder", True, *_split(tra, trb, True))
        return TranslationData(
            "folder", True, *_split(*_read_pairs(root / "A", root / "B", size, channels), True)
        )
    if (root / "train").is_dir():
        tra, trb = _read_side_by_side(root / "train", size, channels)
        for test in ("test", "val"):
            if (root / test).is_dir():
                tea, teb = _read_side_by_side(root / test, size, channels)
                return TranslationData("folder", True, tra, trb, tea, teb)
        return TranslationData("folder", True, *_split(tra, trb, True))
    if not _images(root):
        raise DataError(
            f"paired folder {root} holds neither A/ and B/, nor train/, nor side-by-side A|B images"
        )
    return TranslationData("folder", True, *_split(*_read_side_by_side(root, size, channels), True))


def load_unpaired_folder(root: str | Path, size: int, channels: int) -> TranslationData:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"unpaired folder {root} does not exist")
    check_tree(root)
    missing = [d for d in ("trainA", "trainB") if not (root / d).is_dir()]
    if missing:
        raise DataError(
            f"unpaired folder {root} lacks {' and '.join(m + '/' for m in missing)} "
            "(the CycleGAN layout: trainA/ trainB/ [testA/ testB/])"
        )

    def read(d: str) -> np.ndarray:
        return np.stack([square_array(_read(p, channels), size) for p in _nonempty(root / d)])

    tra, trb = read("trainA"), read("trainB")
    if (root / "testA").is_dir() != (root / "testB").is_dir():
        raise DataError(f"unpaired folder {root} has only one of testA/ and testB/")
    if (root / "testA").is_dir():
        return TranslationData("folder", False, tra, trb, read("testA"), read("testB"))
    return TranslationData("folder", False, *_split(tra, trb, False))


ARRAYS = ("train_a", "train_b", "test_a", "test_b")


def save_translation(data: TranslationData, path: str | Path) -> Path:
    """Both domains in one uncompressed .npz (with labels and names), written atomically."""
    from ganflow.tasks.io import save_arrays

    meta = {"name": data.name, "paired": data.paired, "class_names": data.class_names,
            "target_name": data.target_name}  # fmt: skip
    arrays = {k: getattr(data, k) for k in ARRAYS}
    arrays.update({f"labels_{k}": v for k, v in data.labels.items()})
    return save_arrays(path, meta, arrays)


def read_translation(path: str | Path) -> TranslationData:
    from ganflow.tasks.io import load_arrays

    meta, z = load_arrays(path)
    labels = {k[len("labels_") :]: v for k, v in z.items() if k.startswith("labels_")}
    return TranslationData(meta["name"], meta["paired"], *(z[k] for k in ARRAYS),
                           meta["class_names"], labels, meta["target_name"])  # fmt: skip


DIRECTIONS = ("a2b", "b2a")


def prepare_translation(
    name: str,
    paired: bool,
    opts: SourceOptions | None = None,
    cache_dir: str | Path | None = None,
    direction: str = "a2b",
    test_side: int | None = None,
) -> dict[str, Any]:
    """Load (or build) the task once and keep it as a file: the flow's steps pass its path.
    direction b2a swaps the domains (B becomes the input); test_side resizes the test images
    to the side the networks see where the training images are stored larger for cropping.
    Returns {'path', 'fingerprint', 'image_size', 'channels', 'paired', 'counts'}."""
    from ganflow.tasks.io import DATA_DIR

    if direction not in DIRECTIONS:
        raise DataError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    data = load_translation(name, paired, opts)
    if direction == "b2a":
        data = data.swapped()
    if test_side is not None:
        data = data.with_test_side(test_side)
    fp = data.fingerprint
    path = Path(cache_dir or DATA_DIR / "cache" / "translation") / f"{fp['id']}.npz"
    if not path.exists():
        save_translation(data, path)
    return {"path": str(path), "fingerprint": fp, "image_size": data.image_size,
            "channels": list(data.channels), "paired": data.paired, "counts": fp["sizes"]}  # fmt: skip


def load_translation(name: str, paired: bool, opts: SourceOptions | None = None) -> TranslationData:
    """A built-in task, or a user's folder (opts.root) in the paired or unpaired layout."""
    from ganflow.tasks.data.sources import load_fashion_mnist

    opts = opts or SourceOptions()
    if name == "folder":
        if not opts.root:
            raise DataError("the folder task needs --data-root DIR")
        if opts.channels not in (1, 3):
            raise DataError(f"channels must be 1 or 3, got {opts.channels}")
        load = load_paired_folder if paired else load_unpaired_folder
        return load(opts.root, opts.image_size, opts.channels)
    if name not in BUILT_IN:
        raise DataError(f"unknown translation task {name!r}; choose one of: {', '.join(TASKS)}")
    fashion = load_fashion_mnist(SourceOptions(root=opts.root))
    data = edges2fashion(fashion) if name == "edges2fashion" else fashion2fashion_m(fashion)
    if data.paired != paired and paired:
        raise DataError(f"{name} is an unpaired task: pix2pix needs pairs (use cyclegan)")
    return data
