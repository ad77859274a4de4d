"""A user's folders are not trusted: links out of the data folder are refused wherever they
are (class folders, images, paired and unpaired sides, caption images, sample folders), and
an image that declares a huge size is refused before it is decoded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganflow.tasks.data.folders import load_image_folder, read_sample_folder
from ganflow.tasks.data.raw import DataError, SourceOptions
from ganflow.tasks.data.safefiles import open_image
from ganflow.tasks.data.translation import load_paired_folder, load_unpaired_folder


def png(path: Path, value: int = 128, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)
    return path


def bomb(path: Path, w: int = 20000, h: int = 20000) -> Path:
    """A PNG header declaring w x h pixels, with a few bytes of data: tiny on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))  # fmt: skip
    return path


def tree(root: Path) -> Path:
    for c in ("a", "b"):
        for i in range(3):
            png(root / c / f"{i}.png", 40 * i)
    return root


def opts(root: Path) -> SourceOptions:
    return SourceOptions(root=str(root), image_size=8, channels=1)


def test_a_class_folder_linking_out_of_the_root_is_refused(tmp_path):
    root = tree(tmp_path / "data")
    outside = tree(tmp_path / "elsewhere") / "a"
    (root / "c").symlink_to(outside, target_is_directory=True)
    with pytest.raises(
        DataError, match=r"data/c is a link to .*elsewhere/a, outside the data folder"
    ):
        load_image_folder(opts(root))
    (root / "c").unlink()
    assert load_image_folder(opts(root)).class_names == ["a", "b"]


def test_an_image_linking_out_of_the_root_is_refused_one_inside_is_read(tmp_path):
    root = tree(tmp_path / "data")
    secret = png(tmp_path / "secret.png", 255)
    (root / "a" / "inside.png").symlink_to(root / "b" / "0.png")
    raw = load_image_folder(
        SourceOptions(root=str(root), image_size=8, channels=1, test_fraction=0.2)
    )
    assert len(raw.train_x) + len(raw.test_x) == 7
    (root / "a" / "leak.png").symlink_to(secret)
    with pytest.raises(DataError, match="leak.png is a link to .*secret.png, outside"):
        load_image_folder(opts(root))


def test_translation_folders_and_sample_folders_refuse_links_out(tmp_path):
    outside = tree(tmp_path / "elsewhere")
    paired = tmp_path / "paired"
    for side in ("A", "B"):
        for i in range(3):
            png(paired / side / f"{i}.png")
    (paired / "B" / "3.png").symlink_to(outside / "a" / "0.png")
    png(paired / "A" / "3.png")
    with pytest.raises(DataError, match="3.png is a link to"):
        load_paired_folder(paired, 8, 1)
    unpaired = tmp_path / "unpaired"
    tree(unpaired / "trainA")
    (unpaired / "trainB").symlink_to(outside / "a", target_is_directory=True)
    with pytest.raises(DataError, match="trainB is a link to"):
        load_unpaired_folder(unpaired, 8, 1)
    samples = tree(tmp_path / "samples")
    (samples / "a" / "x.png").symlink_to(outside / "b" / "1.png")
    with pytest.raises(DataError, match="x.png is a link to"):
        read_sample_folder(samples, ["a", "b"], 8, 1)


def test_an_image_declaring_a_huge_size_is_refused_before_decoding(tmp_path):
    f = bomb(tmp_path / "bomb.png")
    assert f.stat().st_size < 1000
    with pytest.raises(
        DataError, match=r"bomb.png declares more pixels than can be decoded safely"
    ):
        open_image(f, "L")
    f = bomb(tmp_path / "big.png", 8000, 8000)  # under PIL's own limit, over ganflow's
    with pytest.raises(
        DataError, match=r"big.png declares 8000x8000 pixels, more than the 40,000,000"
    ):
        open_image(f, "L")
    root = tree(tmp_path / "data")
    bomb(root / "a" / "z.png")
    with pytest.raises(DataError, match="z.png declares more pixels"):
        load_image_folder(opts(root))


def test_a_corrupt_image_is_named(tmp_path):
    root = tree(tmp_path / "data")
    (root / "b" / "broken.png").write_bytes(png(tmp_path / "ok.png").read_bytes()[:40])
    with pytest.raises(DataError, match="corrupt or unreadable image .*broken.png"):
        load_image_folder(opts(root))
