"""Clustering accuracy, NMI, L1, PSNR and SSIM on hand-computed cases and torchmetrics."""

import numpy as np
import pytest
import torch

from ganflow.tasks.evaluate import clustering as C
from ganflow.tasks.evaluate import reconstruction as R
from ganflow.tasks.evaluate.clustering import majority_mapping


def test_cluster_accuracy_majority_and_hungarian_by_hand():
    clusters = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 0])
    # contingency rows: c0 = (2, 1, 0), c1 = (0, 2, 0), c2 = (1, 0, 2)
    assert C.majority_accuracy(clusters, labels) == pytest.approx(6 / 8)
    assert C.hungarian_accuracy(clusters, labels) == pytest.approx(6 / 8)
    # two clusters of one class: majority maps both to it, Hungarian matches only one
    assert C.majority_accuracy([0, 0, 1, 1], [5, 5, 5, 5]) == 1.0
    assert C.hungarian_accuracy([0, 0, 1, 1], [5, 5, 5, 5]) == 0.5


def test_cluster_metrics_ignore_cluster_names():
    labels = np.repeat(np.arange(4), 25)
    permuted = np.array([7, 3, 9, 1])[labels]  # the same partition under other ids
    m = C.clustering_metrics(permuted, labels)
    assert m == {
        C.CLUSTER_ACC_MAJORITY: 1.0,
        C.CLUSTER_ACC_HUNGARIAN: 1.0,
        C.NMI: pytest.approx(1.0),
    }
    rng = np.random.default_rng(0)
    assert C.nmi(rng.integers(0, 4, 20_000), rng.integers(0, 4, 20_000)) < 0.01
    with pytest.raises(ValueError, match="labels"):
        C.contingency([0, 1], [0])


def test_l1_psnr_ssim_of_identical_and_shifted_images():
    x = torch.rand(4, 3, 16, 16, dtype=torch.float64) * 0.8
    assert R.l1(x, x) == 0.0 and R.psnr(x, x) == float("inf")
    assert R.ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    assert R.l1(x, x + 0.1) == pytest.approx(0.1)
    assert R.psnr(x, x + 0.1) == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    u8 = (x * 255).round().to(torch.uint8)
    assert R.l1(u8, u8) == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        R.l1(x, x[:, :1])


def test_ssim_matches_torchmetrics():
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 28, 28, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.rand(6, 3, 28, 28, generator=g, dtype=torch.float64)).clamp(0, 1)
    ref = float(tm_ssim(y, x, data_range=1.0))
    # torchmetrics averages the SSIM map over the reflect-padded image; ours averages over the
    # valid part (Wang et al.'s MATLAB code): the same map on padded inputs must agree
    pad = lambda t: torch.nn.functional.pad(t, (5, 5, 5, 5), mode="reflect")  # noqa: E731
    assert R.ssim(pad(y), pad(x)) == pytest.approx(ref, rel=1e-9)
    assert R.ssim_window(8) == 7  # an 8x8 digit gets the largest odd window that fits
    assert 0 < R.ssim(y[:, :, :8, :8], x[:, :, :8, :8]) < 1


def test_majority_mapping_is_fitted_per_cluster():
    clusters = np.array([0, 0, 0, 1, 1, 3])
    labels = np.array([2, 2, 1, 0, 0, 1])
    assert majority_mapping(clusters, labels, k=4, num_classes=3).tolist() == [2, 0, -1, 1]
