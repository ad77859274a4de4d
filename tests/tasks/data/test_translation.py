"""Paired and unpaired translation folders in the reference data sets' layouts, each bad
input as a clear error, the built-in tasks' construction, and the jittered batches."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganflow.models.image_batches import Jitter, paired_batches
from ganflow.tasks.data.raw import DataError, RawData
from ganflow.tasks.data.translation import (
    blend_over_texture,
    edge_map,
    fashion2fashion_m,
    load_paired_folder,
    load_unpaired_folder,
    read_translation,
    save_translation,
)


def _img(path, size=(12, 12), value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def test_paired_a_b_folders_match_by_name(tmp_path):
    for i in range(10):
        _img(tmp_path / "A" / f"{i}.png", value=10 * i)
        _img(tmp_path / "B" / f"{i}.jpg", value=10 * i + 5)
    d = load_paired_folder(tmp_path, 8, 1)
    assert d.paired and d.train_a.shape == (9, 1, 8, 8) and d.test_a.shape == (1, 1, 8, 8)
    # the same items on both sides: B is A + 5 everywhere (up to JPEG rounding)
    assert np.abs(d.train_b.astype(int) - d.train_a.astype(int) - 5).max() <= 2


def test_side_by_side_images_split_into_halves(tmp_path):
    im = np.zeros((8, 16, 3), np.uint8)
    im[:, 8:] = 200  # B, the right half
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        for i in range(3):
            Image.fromarray(im).save(tmp_path / split / f"{i}.png")
    d = load_paired_folder(tmp_path, 8, 3)
    assert d.train_a.shape == (3, 3, 8, 8) and d.test_b.shape == (3, 3, 8, 8)
    assert d.train_a.max() == 0 and d.train_b.min() == 200


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: (_img(r / "A" / "1.png"), _img(r / "B" / "2.png")), "do not match"),
        (lambda r: _img(r / "A" / "1.png"), "has A/ but no B/"),
        (
            lambda r: (_img(r / "A" / "1.png", (12, 12)), _img(r / "B" / "1.png", (16, 12))),
            "two sizes",
        ),
        (lambda r: ((r / "A").mkdir(), (r / "B").mkdir()), "holds no images"),
        (lambda r: _img(r / "1.png", (15, 8)), "even width"),
        (lambda r: (r / "notes").mkdir(), "neither A/ and B/"),
    ],
)
def test_bad_paired_folders_are_named(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(DataError, match=message):
        load_paired_folder(tmp_path, 8, 3)


def test_unpaired_layout_and_its_errors(tmp_path):
    for d, n in (("trainA", 5), ("trainB", 7), ("testA", 2), ("testB", 3)):
        for i in range(n):
            _img(tmp_path / d / f"{i}.png")
    data = load_unpaired_folder(tmp_path, 8, 3)
    assert not data.paired and (len(data.train_a), len(data.train_b), len(data.test_b)) == (5, 7, 3)
    for f in (tmp_path / "testB").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="testB.* holds no images"):
        load_unpaired_folder(tmp_path, 8, 3)
    (tmp_path / "testB").rmdir()
    with pytest.raises(DataError, match="only one of testA/ and testB/"):
        load_unpaired_folder(tmp_path, 8, 3)
    for f in (tmp_path / "trainB").iterdir():
        f.unlink()
    (tmp_path / "trainB").rmdir()
    with pytest.raises(DataError, match="lacks trainB/ "):
        load_unpaired_folder(tmp_path, 8, 3)


def test_built_in_tasks_have_their_answers(tmp_path):
    x = np.zeros((4, 1, 8, 8), np.uint8)
    x[:, :, 2:6, 2:6] = 255  # a bright square: edges on its border only
    e = edge_map(x)
    assert e[0, 0, 4, 4] == 0 and e[0, 0, 2, 4] == 255 and set(np.unique(e)) <= {0, 255}
    b = blend_over_texture(x, seed=0)
    assert b.shape == (4, 3, 8, 8) and not np.array_equal(b[0], b[1])  # each its own texture
    fashion = RawData(np.repeat(x, 3, 0), np.arange(12) % 3, x, np.arange(4) % 3, ["a", "b", "c"])
    d = fashion2fashion_m(fashion)
    assert len(d.train_a) + len(d.train_b) == 12 and d.channels == (3, 3)  # disjoint halves
    assert d.target is not None and len(d.target.train_y) == len(d.train_b)
    back = read_translation(save_translation(d, tmp_path / "d.npz"))
    assert np.array_equal(back.train_b, d.train_b) and back.labels.keys() == d.labels.keys()


def test_jitter_crops_and_flips_both_sides_alike_and_is_step_pure():
    a = torch.arange(2 * 10 * 10, dtype=torch.uint8).view(2, 1, 10, 10)
    batches = paired_batches(a, a.clone(), 2, seed=0, jitter=Jitter(8, True, 0, 5))
    first = batches(3)
    assert first["a"].shape == (2, 1, 8, 8) and torch.equal(first["a"], first["b"])
    assert torch.equal(batches(3)["a"], first["a"])  # batch t depends only on (seed, t)
    seen = {tuple(batches(t)["a"][0].flatten()[:3].tolist()) for t in range(20)}
    assert len(seen) > 1  # the crop moves


def test_crop_flip_is_each_image_cropped_and_mirrored_alone():
    from ganflow.models.image_batches import crop_flip

    x = torch.arange(2 * 1 * 4 * 4).reshape(2, 1, 4, 4)
    got = crop_flip(x, torch.tensor([[0, 1], [2, 0]]), torch.tensor([False, True]), 2)
    assert torch.equal(got[0, 0], x[0, 0, 0:2, 1:3])
    assert torch.equal(got[1, 0], x[1, 0, 2:4, 0:2].flip(-1))


def test_shift_moves_each_image_by_at_most_the_shift_and_is_step_pure():
    from ganflow.models.image_batches import Shift

    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3, 3] = 1.0  # one bright pixel
    shift = Shift(2, flip=False, seed=0, salt=1)
    out = shift(x, step=5)
    assert out.shape == x.shape and torch.equal(out, shift(x, step=5))
    assert not torch.equal(out, shift(x, step=6))
    pos = out[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 8, pos % 8
    assert out.sum() == 64  # the pixel is never shifted out of an 8x8 image from (3, 3)
    assert ((rows - 3).abs() <= 2).all() and ((cols - 3).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # it does move
    flipped = Shift(0, flip=True, seed=0, salt=1)(x, step=0)
    assert {int(p) % 8 for p in flipped[:, 0].flatten(1).argmax(1)} == {3, 4}  # mirror: 7 - 3


def test_b2a_swaps_the_domains_and_test_images_come_at_the_network_side(tmp_path):
    from ganflow.tasks.data.raw import SourceOptions
    from ganflow.tasks.data.translation import prepare_translation

    im = np.zeros((24, 48, 3), np.uint8)
    im[:, 24:] = 200  # B, the right half (a label map in facades)
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        for i in range(3):
            Image.fromarray(im).save(tmp_path / split / f"{i}.png")
    opts = SourceOptions(root=str(tmp_path), image_size=12, channels=3)
    info = prepare_translation("folder", True, opts, tmp_path / "cache", "b2a", test_side=8)
    d = read_translation(info["path"])
    assert d.train_a.shape == (3, 3, 12, 12) and d.test_a.shape == (3, 3, 8, 8)
    assert d.train_a.min() == 200 and d.train_b.max() == 0  # B is the input now
    assert d.test_a.min() == 200 and d.test_b.max() == 0
    plain = read_translation(prepare_translation("folder", True, opts, tmp_path / "cache")["path"])
    assert plain.train_a.max() == 0 and plain.test_a.shape == (3, 3, 12, 12)
    with pytest.raises(DataError, match="direction"):
        prepare_translation("folder", True, opts, tmp_path / "cache", "sideways")


def test_swapped_carries_the_labels_with_their_domain():
    from ganflow.tasks.data.translation import TranslationData

    a, b = np.zeros((2, 1, 4, 4), np.uint8), np.ones((3, 1, 4, 4), np.uint8)
    d = TranslationData("t", False, a, b, a[:1], b[:1], ["x", "y"],
                        {"train_a": np.array([0, 1]), "train_b": np.array([1, 1, 0])}, "t-b")  # fmt: skip
    s = d.swapped()
    assert s.train_a is b and np.array_equal(s.test_b, a[:1])
    assert s.labels["train_a"].tolist() == [1, 1, 0] and s.labels["train_b"].tolist() == [0, 1]
    assert s.target_name == "t-b-a" and s.swapped().train_a is a


def test_greyscale_and_any_size_jpegs_load_in_a_colour_run(tmp_path):
    """CycleGAN's own sets hold greyscale JPEGs among the colour ones, and users' photos come
    at any size: each is converted to RGB (grey repeated) and centre-cropped to the side."""
    rng = np.random.default_rng(0)

    def photo(path, w, h, mode):
        path.parent.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
        Image.fromarray(arr, mode).save(path, quality=90)

    sizes = [(37, 23, "L"), (64, 48, "RGB"), (20, 31, "L"), (50, 50, "RGB")]
    for d in ("trainA", "trainB", "testA", "testB"):
        for i, (w, h, mode) in enumerate(sizes):
            photo(tmp_path / "unpaired" / d / f"{i}.jpg", w, h, mode)
    u = load_unpaired_folder(tmp_path / "unpaired", 16, 3)
    assert u.train_a.shape == (4, 3, 16, 16) and u.test_b.shape == (4, 3, 16, 16)
    grey = u.train_a[0]  # a grey JPEG: the same values on R, G and B
    assert np.array_equal(grey[0], grey[1]) and np.array_equal(grey[1], grey[2])
    assert not np.array_equal(u.train_a[1][0], u.train_a[1][1])  # colour stays colour
    for split in ("train", "test"):  # side-by-side photo | map of any even width, some grey
        for i, (w, h, mode) in enumerate(sizes):
            photo(tmp_path / "paired" / split / f"{i}.jpg", 2 * w, h, mode)
    p = load_paired_folder(tmp_path / "paired", 16, 3)
    assert p.train_a.shape == (4, 3, 16, 16) and p.train_b.shape == (4, 3, 16, 16)
    assert np.array_equal(p.train_a[0][0], p.train_a[0][2])
