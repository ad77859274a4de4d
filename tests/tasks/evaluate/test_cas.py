"""Train-on-synthetic-test-on-real on digits: real images as 'synthetic' ones score like real
data, images with shuffled labels score near chance."""

import numpy as np
import pytest
import torch

from ganflow.tasks.data.sources import SourceOptions, load_digits
from ganflow.tasks.evaluate.cas import (
    CAS_ACCURACY,
    REAL_ACCURACY,
    classification_accuracy_score,
)
from ganflow.tasks.evaluate.extractors import stratified_subset


@pytest.fixture(scope="module")
def digits():
    raw = load_digits(SourceOptions())
    t = {k: torch.from_numpy(getattr(raw, k)) for k in ("train_x", "train_y", "test_x", "test_y")}
    return t


def test_stratified_subset_keeps_the_class_mix():
    y = np.repeat(np.arange(3), [10, 20, 30])
    idx = stratified_subset(y, 30, seed=0)
    assert np.array_equal(np.bincount(y[idx], minlength=3), [5, 10, 15])
    assert len(np.unique(idx)) == 30 and np.array_equal(idx, np.sort(idx))
    assert len(stratified_subset(y, 31, seed=0)) == 31  # the remainder handed out
    assert np.array_equal(stratified_subset(y, 100, seed=0), np.arange(60))
    assert not np.array_equal(idx, stratified_subset(y, 30, seed=1))


def test_a_scored_set_is_read_from_the_cache_and_a_changed_one_is_trained(digits, tmp_path):
    from ganflow.models.classifiers import ClassifierTraining
    from ganflow.tasks.evaluate.cas import accuracy_of_trained

    x, y = digits["train_x"][:300], digits["train_y"][:300]
    recipe = ClassifierTraining(epochs=2, min_steps=20)
    args = (digits["test_x"], digits["test_y"], 10, recipe, "cpu")
    first, again, changed = {}, {}, {}
    a = accuracy_of_trained(x, y, *args, first, tmp_path)
    b = accuracy_of_trained(x, y, *args, again, tmp_path)
    y2 = y.clone()
    y2[:5] = (y2[:5] + 1) % 10
    accuracy_of_trained(x, y2, *args, changed, tmp_path)
    assert first["cached"] is False and again["cached"] and a == b
    assert again["steps"] == first["steps"]
    assert changed["cached"] is False and len(list(tmp_path.glob("*.json"))) == 2


def test_cas_of_real_images_matches_real_accuracy_and_shuffled_labels_fail(digits):
    syn_x, syn_y = digits["train_x"][:500], digits["train_y"][:500]
    pool_x, pool_y = digits["train_x"][500:], digits["train_y"][500:]
    args = (digits["test_x"], digits["test_y"], 10)
    good = classification_accuracy_score(syn_x, syn_y, pool_x, pool_y, *args, min_steps=300)
    assert good[CAS_ACCURACY] > 0.85 and good[REAL_ACCURACY] > 0.85
    assert abs(good[CAS_ACCURACY] - good[REAL_ACCURACY]) < 0.08
    assert (
        good["protocol"]["real_count"] == 500
        and sum(good["protocol"]["synthetic_per_class"]) == 500
    )
    shuffled = syn_y[torch.randperm(500, generator=torch.Generator().manual_seed(0))]
    bad = classification_accuracy_score(
        syn_x, shuffled, pool_x, pool_y, *args, min_steps=300, real_baseline=False
    )
    assert bad[CAS_ACCURACY] < 0.35 and bad[REAL_ACCURACY] == bad[CAS_ACCURACY]
