import gzip

import numpy as np
import pytest
from idx_files import write_idx

from ganflow.tasks.data.bundle import DataSpec, build_bundle, load_bundle, prepare, split_indices
from ganflow.tasks.data.sources import DataError, RawData, SourceOptions, load_source, read_idx


def write_image_tree(
    root, classes: dict[str, int], size: int = 12, mode: str = "RGB", seed: int = 0
):
    """root/<class>/<i>.png with `n` random images per class; returns root."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, n in classes.items():
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (size, size, 3) if mode == "RGB" else (size, size)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(d / f"{i}.png")
    return root


def test_digits_split_is_stratified_and_disjoint(digits_bundle):
    b = load_bundle(digits_bundle["path"])
    lab_y = b.y_train[b.labelled].numpy()
    assert np.bincount(lab_y, minlength=10).tolist() == [5] * 10
    assert b.image_shape == (1, 8, 8) and b.x_train.dtype.is_floating_point is False
    assert len(b.y_val) > 0 and set(np.unique(b.y_val.numpy())) == set(range(10))
    assert digits_bundle["counts"]["labelled"] == 50
    # validation images are not in the unlabelled pool: pool + val = the official training set
    assert (
        digits_bundle["counts"]["train"] + digits_bundle["counts"]["val"]
        == 1797 - digits_bundle["counts"]["test"]
    )


def test_fingerprint_is_stable_and_changes_with_the_split(tmp_path):
    a = prepare(DataSpec("digits", 5, 0), tmp_path)
    b = prepare(DataSpec("digits", 5, 0), tmp_path)
    c = prepare(DataSpec("digits", 5, 1), tmp_path)
    assert a["fingerprint"] == b["fingerprint"]
    assert a["fingerprint"]["content_sha256"] == c["fingerprint"]["content_sha256"]
    assert a["fingerprint"]["id"] != c["fingerprint"]["id"]


def test_split_errors_name_the_class():
    y = np.array([0] * 10 + [1] * 3)
    with pytest.raises(DataError, match="class 'b' has 3 training images"):
        split_indices(y, 4, 0.0, 0, ["a", "b"])
    with pytest.raises(DataError, match="class 'c' has no training images"):
        split_indices(y, 2, 0.0, 0, ["a", "b", "c"])


def test_unknown_data_name():
    with pytest.raises(DataError, match="unknown data set 'imagenet'.*digits"):
        load_source("imagenet", SourceOptions())


def _idx_dir(tmp_path, n_train=40, n_test=20):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


def test_fashion_mnist_from_idx_files(tmp_path):
    raw = load_source("fashion-mnist", SourceOptions(root=str(_idx_dir(tmp_path))))
    assert raw.train_x.shape == (40, 1, 28, 28) and raw.test_x.shape == (20, 1, 28, 28)
    assert raw.class_names[0] == "T-shirt/top" and raw.train_y.max() == 9


def test_missing_idx_files_say_where_they_were_looked_for(tmp_path):
    with pytest.raises(DataError, match=r"IDX files .* not found; looked in: .*" + str(tmp_path)):
        load_source("fashion-mnist", SourceOptions(root=str(tmp_path)))


def test_truncated_idx_file(tmp_path):
    _idx_dir(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(path)


def test_folder_tree_resized_and_split(tmp_path):
    write_image_tree(tmp_path / "imgs", {"cat": 10, "dog": 10, "owl": 10}, size=12)
    raw = load_source(
        "folder",
        SourceOptions(root=str(tmp_path / "imgs"), image_size=8, channels=1, test_fraction=0.2),
    )
    assert raw.class_names == ["cat", "dog", "owl"]
    assert raw.train_x.shape == (24, 1, 8, 8) and raw.test_x.shape == (6, 1, 8, 8)
    assert np.bincount(raw.test_y).tolist() == [2, 2, 2]


def test_folder_with_train_and_test_trees(tmp_path):
    write_image_tree(tmp_path / "train", {"a": 4, "b": 5}, mode="L")
    write_image_tree(tmp_path / "test", {"b": 2}, mode="L")
    raw = load_source("folder", SourceOptions(root=str(tmp_path), image_size=8, channels=3))
    assert raw.train_x.shape == (9, 3, 8, 8) and raw.test_y.tolist() == [1, 1]


def test_folder_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_source("folder", SourceOptions(root=str(tmp_path / "nope")))
    write_image_tree(tmp_path / "one", {"only": 3})
    # one class folder is an unlabelled folder: it loads, and a classifier refuses it
    one = load_source("folder", SourceOptions(root=str(tmp_path / "one")))
    with pytest.raises(DataError, match="has no class folders"):
        build_bundle(one, DataSpec("folder", 1, source=SourceOptions(root=str(tmp_path / "one"))))
    write_image_tree(tmp_path / "two", {"a": 3})
    (tmp_path / "two" / "b").mkdir()
    with pytest.raises(DataError, match=r"class folder .*b holds no images"):
        load_source("folder", SourceOptions(root=str(tmp_path / "two")))
    write_image_tree(tmp_path / "bad", {"a": 3, "b": 3})
    (tmp_path / "bad" / "b" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"corrupt or unreadable image .*broken\.png"):
        load_source("folder", SourceOptions(root=str(tmp_path / "bad")))


def test_too_few_images_for_the_labels_asked(tmp_path):
    write_image_tree(tmp_path / "imgs", {"a": 10, "b": 4})
    raw = load_source(
        "folder", SourceOptions(root=str(tmp_path / "imgs"), image_size=8, test_fraction=0.25)
    )
    with pytest.raises(DataError, match="class 'b' has 3 training images"):
        build_bundle(raw, DataSpec("folder", labels_per_class=5, val_fraction=0.0))


def test_single_class_training_set_is_refused():
    x = np.zeros((4, 1, 8, 8), np.uint8)
    raw = RawData(x, np.zeros(4, np.int64), x, np.zeros(4, np.int64), ["a", "b"])
    with pytest.raises(DataError, match="1 class"):
        build_bundle(raw, DataSpec("digits", 1))
