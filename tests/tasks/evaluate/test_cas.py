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
    matched_subset,
)


@pytest.fixture(scope="module")
def digits():
    raw = load_digits(SourceOptions())
    t = {k: torch.from_numpy(getattr(raw, k)) for k in ("train_x", "train_y", "test_x", "test_y")}
    return t


def test_matched_subset_copies_class_counts():
    y = np.repeat(np.arange(3), 10)
    idx = matched_subset(y, np.array([2, 0, 12]), seed=0)
    assert np.array_equal(np.bincount(y[idx], minlength=3), [2, 0, 10])  # class 2 has only 10


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
