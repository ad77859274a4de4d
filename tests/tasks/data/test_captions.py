"""Caption data: the built-in captioned set's text determines its pictures; the CUB layout
and CSV/JSONL tables load, and each bad input is named."""

import json

import numpy as np
import pytest
from PIL import Image

from ganflow.tasks.data.captions import (
    CANVAS,
    COLOURS,
    fashion_captions,
    load_caption_table,
    load_cub,
    render,
)
from ganflow.tasks.data.raw import DataError, RawData


def _img(path, value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((10, 10, 3), value, np.uint8)).save(path)


def test_rendered_item_has_its_colour_size_and_place():
    item = np.full((1, 28, 28), 255, np.uint8)
    im = render(item, "blue", "small", "top left corner")  # (3, 64, 64)
    ys, xs = np.nonzero(im.sum(0))
    assert im.shape == (3, CANVAS, CANVAS) and xs.max() < CANVAS // 2 and ys.max() < CANVAS // 2
    assert tuple(im[:, ys[0], xs[0]]) == COLOURS["blue"]
    big = render(item, "red", "large", "centre")
    assert np.count_nonzero(big.sum(0)) > 3 * np.count_nonzero(im.sum(0))


def test_built_in_captions_name_the_attributes_drawn():
    x = np.full((6, 1, 28, 28), 200, np.uint8)
    fashion = RawData(
        x, np.arange(6) % 2, x[:2], np.zeros(2, np.int64), ["T-shirt/top", "Ankle boot"]
    )
    d = fashion_captions(fashion, seed=3)
    assert d.images.shape == (6, 3, CANVAS, CANVAS) and len(d.captions[0]) >= 3
    for i in range(6):
        words = [d.vocab[a][d.attributes[a][i]] for a in ("class", "colour", "size", "position")]
        assert all(all(w in c for w in words) for c in d.captions[i]), (words, d.captions[i])
    assert "ankle boot" in d.captions[1][0] and "t-shirt" in d.captions[0][0]


def test_cub_layout_and_its_errors(tmp_path):
    _img(tmp_path / "images" / "001.Bird" / "a.jpg")
    (tmp_path / "text" / "001.Bird").mkdir(parents=True)
    (tmp_path / "text" / "001.Bird" / "a.txt").write_text("a small bird\n\nwith red wings\n")
    d = load_cub(tmp_path, 8)
    assert d.images.shape == (1, 3, 8, 8) and d.captions == [["a small bird", "with red wings"]]
    (tmp_path / "text" / "001.Bird" / "a.txt").write_text("\n")
    with pytest.raises(DataError, match="is empty"):
        load_cub(tmp_path, 8)
    (tmp_path / "text" / "001.Bird" / "a.txt").write_text("a bird\n")
    _img(tmp_path / "images" / "001.Bird" / "b.jpg")
    with pytest.raises(DataError, match="has no caption file"):
        load_cub(tmp_path, 8)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"image": "../outside.png", "caption": "x"}], "outside the data root"),
        ([{"image": "missing.png", "caption": "x"}], "does not exist"),
        ([{"image": "a.png", "caption": "  "}], "is empty"),
    ],
)
def test_caption_table_errors(tmp_path, rows, message):
    root = tmp_path / "data"
    _img(root / "a.png")
    _img(tmp_path / "outside.png")
    (root / "caps.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError, match=message):
        load_caption_table(root / "caps.jsonl", 8)


def test_caption_csv_groups_captions_by_image(tmp_path):
    _img(tmp_path / "a.png")
    _img(tmp_path / "b.png", 50)
    (tmp_path / "caps.csv").write_text("image,caption\na.png,one\nb.png,two\na.png,three\n")
    d = load_caption_table(tmp_path / "caps.csv", 8)
    assert d.captions == [["one", "three"], ["two"]]
    (tmp_path / "bad.csv").write_text("file,text\na.png,one\n")
    with pytest.raises(DataError, match="'image' and 'caption' columns"):
        load_caption_table(tmp_path / "bad.csv", 8)
