"""Sample-quality metrics against closed forms, scipy and torchmetrics."""

import numpy as np
import pytest
import scipy.linalg
import torch

from ganflow.tasks.evaluate import metrics as M


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def _gaussian(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)


# --- FID ---------------------------------------------------------------------------------


def test_fid_of_gaussians_matches_closed_form_and_is_rotation_invariant():
    # diagonal covariances commute: tr((S1 S2)^1/2) = sum sqrt(a_i b_i)
    a, b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([0.3, 2.0, 4.0, 1.0])
    mu1, mu2 = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.5, 0.0, 0.0, 2.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert M.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(
        expected, rel=1e-12
    )
    q = _rotation(4, 1)
    rotated = M.frechet_distance(q @ mu1, q @ np.diag(a) @ q.T, q @ mu2, q @ np.diag(b) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-10)


def test_fid_with_equal_covariances_is_squared_mean_distance():
    cov = np.cov(np.random.default_rng(0).normal(size=(50, 6)), rowvar=False)
    mu1, mu2 = np.arange(6.0), np.arange(6.0)[::-1]
    assert M.frechet_distance(mu1, cov, mu2, cov) == pytest.approx(
        np.sum((mu1 - mu2) ** 2), rel=1e-9
    )


def test_fid_of_identical_sets_is_zero_and_fid_is_symmetric():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 16)), rng.normal(1.0, 2.0, size=(400, 16))
    assert M.fid_from_features(x, x) == pytest.approx(0.0, abs=1e-9)
    assert M.fid_from_features(x, y) == pytest.approx(M.fid_from_features(y, x), rel=1e-10)
    q = _rotation(16, 3)
    assert M.fid_from_features(x @ q, y @ q) == pytest.approx(M.fid_from_features(x, y), rel=1e-9)


def test_fid_matches_scipy_sqrtm_route():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 32)) @ rng.normal(size=(32, 32))
    y = rng.normal(0.3, 1.0, size=(600, 32)) @ rng.normal(size=(32, 32))
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    diff = x.mean(0) - y.mean(0)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    ref = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert M.fid_from_features(x, y) == pytest.approx(ref, rel=1e-8)


class _Identity(torch.nn.Module):
    """Features in, features out: lets torchmetrics score precomputed features."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.num_features = d

    def forward(self, x):
        return x


def test_fid_and_kid_match_torchmetrics():
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(400, 12)), rng.normal(0.2, 1.3, size=(300, 12))
    fid = FrechetInceptionDistance(feature=_Identity(12))
    fid.update(torch.from_numpy(x), real=True)
    fid.update(torch.from_numpy(y), real=False)
    assert M.fid_from_features(x, y) == pytest.approx(float(fid.compute()), rel=1e-6)
    # one subset holding every sample: no random draw, so both must agree exactly
    kid = KernelInceptionDistance(feature=_Identity(12), subsets=1, subset_size=300)
    kid.update(torch.from_numpy(x[:300]), real=True)
    kid.update(torch.from_numpy(y), real=False)
    ours, _ = M.kernel_inception_distance(x[:300], y, subsets=1, subset_size=300)
    assert ours == pytest.approx(float(kid.compute()[0]), rel=1e-6)


def test_streaming_stats_equal_batch_stats_for_any_batch_sizes():
    x = np.random.default_rng(4).normal(3.0, 2.0, size=(1000, 8))
    stats = M.FeatureStats(8)
    for i, j in [(0, 1), (1, 250), (250, 251), (251, 900), (900, 1000)]:
        stats.update(torch.from_numpy(x[i:j]))
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="features shaped"):
        stats.update(np.zeros((3, 5)))


# --- KID ---------------------------------------------------------------------------------


def test_kid_matches_gaussian_moment_formula():
    # zero means: E k(x, y) = 1 + 3 tr(S_x S_y) / d^2 for k = (x.y/d + 1)^3, so
    # MMD^2 = 3 ||S1 - S2||_F^2 / d^2, which the unbiased estimator hits in expectation
    d = 4
    s1, s2 = np.diag([1.0, 1.0, 1.0, 1.0]), np.diag([3.0, 0.5, 2.0, 1.0])
    expected = 3 * np.sum((s1 - s2) ** 2) / d**2
    x, y = _gaussian(20_000, np.zeros(d), s1, 0), _gaussian(20_000, np.zeros(d), s2, 1)
    mean, std = M.kernel_inception_distance(x, y, subsets=100, subset_size=1000)
    assert mean == pytest.approx(expected, rel=0.05)
    assert 0 < std < expected
    same_mean, _ = M.kernel_inception_distance(x[:10_000], x[10_000:], subsets=50)
    assert abs(same_mean) < 0.02 * expected


def test_kid_is_seeded_and_rejects_tiny_sets():
    x, y = np.random.default_rng(0).normal(size=(2, 50, 5))
    assert M.kernel_inception_distance(x, y, 10, 20, seed=3) == M.kernel_inception_distance(
        x, y, 10, 20, seed=3
    )
    with pytest.raises(ValueError, match="at least 2"):
        M.kernel_inception_distance(x[:1], y)


# --- IS ----------------------------------------------------------------------------------


def test_inception_score_of_one_hot_and_constant_predictions():
    k = 10
    one_hot = np.eye(k)[np.arange(10_000) % k]
    assert M.inception_score(one_hot, splits=1)[0] == pytest.approx(k, rel=1e-12)
    mean, std = M.inception_score(one_hot, splits=10)
    assert mean == pytest.approx(k, rel=0.02) and std < 0.2
    constant = np.tile(np.random.default_rng(0).dirichlet(np.ones(k)), (1000, 1))
    assert M.inception_score(constant)[0] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="probabilities"):
        M.inception_score(np.random.default_rng(0).normal(size=(100, k)))


# --- precision / recall / density / coverage ---------------------------------------------


def test_manifold_metrics_on_a_hand_computed_example():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    fake = np.array([[0.5], [5.0], [20.0]])
    # real radii (k=1): 1 1 1 1 7; fake radii: 4.5 4.5 15
    pr = M.precision_recall(real, fake, k=1)
    assert pr[M.PRECISION] == pytest.approx(2 / 3) and pr[M.RECALL] == 1.0
    dc = M.density_coverage(real, fake, k=1)
    assert dc[M.DENSITY] == pytest.approx(1.0) and dc[M.COVERAGE] == pytest.approx(0.6)


def test_precision_recall_identical_and_far_sets():
    x = np.random.default_rng(0).normal(size=(200, 8))
    assert M.precision_recall(x, x) == {M.PRECISION: 1.0, M.RECALL: 1.0}
    assert M.density_coverage(x, x)[M.COVERAGE] == 1.0
    far = M.precision_recall(x, x + 100.0)
    assert far == {M.PRECISION: 0.0, M.RECALL: 0.0}
    assert M.density_coverage(x, x + 100.0) == {M.DENSITY: 0.0, M.COVERAGE: 0.0}


def test_coverage_and_density_of_identical_distributions_match_expectation():
    # Naeem et al. 2020: E[coverage] = 1 - prod_{i<k} (N-1-i)/(M+N-1-i) -> 1 - 2^-k, E[density] = 1
    n, k = 2000, 5
    x, y = np.random.default_rng(0).normal(size=(2, n, 16))
    expected = 1 - np.prod([(n - 1 - i) / (2 * n - 1 - i) for i in range(k)])
    dc = M.density_coverage(x, y, k=k)
    assert dc[M.COVERAGE] == pytest.approx(expected, abs=0.015)
    assert dc[M.DENSITY] == pytest.approx(1.0, abs=0.1)


def test_blocked_distances_do_not_change_results(monkeypatch):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(120, 6)), rng.normal(0.3, 1.0, size=(90, 6))
    whole = {**M.precision_recall(x, y), **M.density_coverage(x, y)}
    monkeypatch.setattr(M, "BLOCK_NUMBERS", 7)  # one row per block
    M._RADII.clear()  # the radii are remembered by content: compute them again, blocked
    assert {**M.precision_recall(x, y), **M.density_coverage(x, y)} == whole


def test_one_pass_manifold_metrics_match_their_definitions_with_two_ks():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(60, 4)), rng.normal(0.5, 1.2, size=(45, 4))

    def radii(a, k):  # distance to the k-th neighbour, itself excluded
        d = np.linalg.norm(a[:, None] - a[None], axis=2)
        return np.sort(d, axis=1)[:, k]

    d = np.linalg.norm(fake[:, None] - real[None], axis=2)  # (fake, real)
    want = {
        M.PRECISION: (d <= radii(real, 3)[None]).any(1).mean(),
        M.RECALL: (d <= radii(fake, 3)[:, None]).any(0).mean(),
        M.DENSITY: (d <= radii(real, 5)[None]).sum() / (5 * len(fake)),
        M.COVERAGE: (d.min(0) <= radii(real, 5)).mean(),
    }
    got = M.manifold_metrics(real, fake, k_pr=3, k_dc=5)
    assert got == pytest.approx(want, abs=1e-12)


def test_radii_kept_on_disk_are_read_back_by_the_next_process(tmp_path, monkeypatch):
    x = np.random.default_rng(4).normal(size=(50, 3))
    first = M.knn_radii(x, (3, 5), tmp_path)
    M._RADII.clear()  # a new process: nothing in memory
    monkeypatch.setattr(M.torch, "cdist", lambda *a: pytest.fail("recomputed"))
    again = M.knn_radii(x, (3, 5), tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    assert all(np.array_equal(first[k], again[k]) for k in (3, 5))
