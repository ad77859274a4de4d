"""The one resize policy, the decoded-folder cache, unlabelled folders and resized built-in sets."""

import os

import numpy as np
import pytest
from PIL import Image

import ganflow.tasks.data.decode as D
from ganflow.tasks.data.bundle import DataSpec, build_bundle
from ganflow.tasks.data.folders import load_image_folder, read_images
from ganflow.tasks.data.raw import UNLABELLED, DataError, RawData, conform
from ganflow.tasks.data.sources import SourceOptions, load_source


def _stripes(path, w=90, h=30):
    """A non-square image: red left third, green middle, blue right."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 3, 0] = a[:, w // 3 : 2 * w // 3, 1] = a[:, 2 * w // 3 :, 2] = 255
    Image.fromarray(a).save(path)
    return path


def test_non_square_images_keep_their_middle_not_a_squashed_whole(tmp_path):
    x = read_images([_stripes(tmp_path / "s.png")], 16, 3, cache=False)
    assert x.shape == (1, 3, 16, 16)
    # the centre crop is the green third: no red or blue in the middle of the result
    assert x[0, 1, 4:12, 4:12].min() == 255 and x[0, 0].max() < 40 and x[0, 2].max() < 40


def test_grey_in_a_colour_run_and_colour_in_a_grey_run_are_converted(tmp_path):
    Image.fromarray(np.full((20, 20), 200, np.uint8), "L").save(tmp_path / "g.png")
    Image.fromarray(np.full((40, 30, 3), (255, 0, 0), np.uint8)).save(tmp_path / "c.jpg")
    rgb = read_images([tmp_path / "g.png", tmp_path / "c.jpg"], 8, 3, cache=False)
    assert rgb.shape == (2, 3, 8, 8) and (rgb[0] == 200).all()
    grey = read_images([tmp_path / "c.jpg"], 8, 1, cache=False)
    assert grey.shape == (1, 1, 8, 8) and abs(int(grey.mean()) - 76) <= 3  # 0.299 * 255


def test_a_large_jpeg_decodes_at_a_reduced_scale_to_the_same_picture(tmp_path):
    a = np.zeros((512, 512, 3), np.uint8)
    a[:, :256] = (250, 250, 250)
    Image.fromarray(a).save(tmp_path / "big.jpg", quality=95)
    x = read_images([tmp_path / "big.jpg"], 32, 3, cache=False)
    assert x[0, :, :, :14].min() > 235 and x[0, :, :, 18:].max() < 20


def test_the_cache_is_read_back_and_follows_the_files(tmp_path, monkeypatch):
    files = [_stripes(tmp_path / f"{i}.png", 40 + i, 30) for i in range(3)]
    calls = []
    real = D.decode_files
    monkeypatch.setattr(D, "decode_files", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = D.cached_decode(files, 16, 3, tmp_path / "cache")
    again = D.cached_decode(files, 16, 3, tmp_path / "cache")
    assert len(calls) == 1 and np.array_equal(first, again)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    # another side, a changed file and an added file each decode again
    D.cached_decode(files, 8, 3, tmp_path / "cache")
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(files[0])
    os.utime(files[0], ns=(1, 1))
    changed = D.cached_decode(files, 16, 3, tmp_path / "cache")
    assert len(calls) == 3 and changed[0].max() == 0
    # a damaged cache file is decoded again, not trusted
    for f in (tmp_path / "cache").glob("*.npy"):
        f.write_bytes(b"not an array")
    assert np.array_equal(D.cached_decode(files, 16, 3, tmp_path / "cache"), changed)


def test_decoding_in_threads_gives_the_images_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "CHUNK", 2)
    files = []
    for i in range(7):
        Image.fromarray(np.full((9, 9), i * 30, np.uint8), "L").save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    x = D.decode_files(files, 4, 1)
    assert [int(v) for v in x[:, 0, 0, 0]] == [i * 30 for i in range(7)]


def test_an_undecodable_file_is_named(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        _stripes(tmp_path / d / "ok.png")
    (tmp_path / "b" / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataError, match=r"corrupt or unreadable image .*bad\.jpg"):
        load_image_folder(SourceOptions(root=str(tmp_path), image_size=16, channels=3))


def test_a_folder_without_class_folders_is_unlabelled_and_refused_for_classification(tmp_path):
    (tmp_path / "images").mkdir()
    for i in range(10):
        _stripes(tmp_path / "images" / f"{i}.jpg", 50 + i, 40)
    raw = load_image_folder(SourceOptions(root=str(tmp_path), image_size=16, channels=3))
    assert raw.class_names == [UNLABELLED] and not raw.labelled
    assert len(raw.train_x) + len(raw.test_x) == 10 and raw.train_x.shape[1:] == (3, 16, 16)
    spec = DataSpec("folder", 1, 0, 0.0, SourceOptions(root=str(tmp_path)))
    with pytest.raises(DataError, match="has no class folders"):
        build_bundle(raw, spec)
    spec.min_classes = 1
    assert build_bundle(raw, spec).class_names == [UNLABELLED]


def test_built_in_sets_are_resized_and_converted_when_asked():
    raw = load_source("digits", SourceOptions(image_size=32, channels=3))
    assert raw.train_x.shape[1:] == (3, 32, 32) and raw.test_x.shape[1:] == (3, 32, 32)
    own = load_source("digits", SourceOptions())
    assert own.train_x.shape[1:] == (1, 8, 8)
    # the resize is an interpolation of the same picture: the means agree
    assert abs(float(raw.train_x[:50, 0].mean()) - float(own.train_x[:50].mean())) < 2.0
    # an empty split keeps its place at the new side
    empty = conform(
        RawData(own.train_x, own.train_y, own.test_x[:0], own.test_y[:0], own.class_names), 32, 3
    )
    assert empty.test_x.shape == (0, 3, 32, 32)
    with pytest.raises(DataError, match="channels must be 1"):
        conform(own, None, 2)
    with pytest.raises(DataError, match="image_size must be from 8 to 1024"):
        conform(own, 4, None)


def test_a_file_as_data_root_and_a_test_tree_missing_a_class_are_said(tmp_path, capsys):
    f = tmp_path / "file.png"
    f.write_bytes(b"x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_image_folder(SourceOptions(root=str(f)))
    for split, classes in (("train", "abc"), ("test", "ab")):
        for c in classes:
            (tmp_path / "t" / split / c).mkdir(parents=True)
            _stripes(tmp_path / "t" / split / c / "0.png")
    raw = load_image_folder(SourceOptions(root=str(tmp_path / "t"), image_size=8))
    assert raw.class_names == ["a", "b", "c"] and sorted(set(raw.test_y.tolist())) == [0, 1]
    assert "has no folder for 1 class(es)" in capsys.readouterr().err
