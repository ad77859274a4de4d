"""The K+1 GAN's neighbour table: found among PCA projections of the training images and
kept beside the bundle under the name the adversarial autoencoder's table has."""

import shutil

import torch

from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import load_bundle
from ganflow.tasks.data.neighbours import neighbour_cache
from ganflow.tasks.train.ssgan import neighbours


def test_the_table_is_cached_beside_the_bundle_and_read_back(digits_bundle, tmp_path):
    path = tmp_path / "bundle.npz"
    shutil.copy(digits_bundle["path"], path)
    bundle, cfg = load_bundle(path), SSGANConfig(neighbour_k=3, neighbour_dims=20)
    table = neighbours(bundle, cfg, path)
    n = len(bundle.x_train)
    assert table.shape == (n, 3) and table.dtype == torch.long
    assert not (table == torch.arange(n)[:, None]).any()  # never the image itself
    cache = neighbour_cache(path, 3, "d20")
    assert torch.equal(torch.load(cache, weights_only=True), table)
    planted = torch.roll(table, 1, 0)  # a table in the cache is used, not recomputed
    torch.save(planted, cache)
    assert torch.equal(neighbours(bundle, cfg, path), planted)
    assert torch.equal(neighbours(bundle, cfg), table)  # without a path: computed, uncached
