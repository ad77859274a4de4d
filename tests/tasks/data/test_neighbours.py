import pytest
import torch

from ganflow.tasks.data import neighbours as cluster
from ganflow.tasks.data.neighbours import nearest_neighbours, neighbour_table, spectral_partition


def _images(n: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)


def test_neighbour_table_finds_the_nearest_other_images():
    g = torch.Generator().manual_seed(1)
    centres = torch.randint(0, 256, (4, 1, 8, 8), generator=g)
    jitter = torch.randint(-3, 4, (40, 1, 8, 8), generator=g)
    x = (
        (centres.repeat(10, 1, 1, 1) + jitter).clamp(0, 255).to(torch.uint8)
    )  # image i is of group i % 4
    nb = neighbour_table(x, 3, dims=8, block=7)  # blocks that do not divide N
    assert nb.shape == (40, 3)
    assert (nb != torch.arange(40)[:, None]).all()  # never itself
    assert (nb % 4 == torch.arange(40)[:, None] % 4).all()  # always its own group
    flat = x.reshape(40, -1).float()
    d = torch.cdist(flat, flat) + torch.diag(torch.full((40,), float("inf")))
    full = neighbour_table(x, 3, dims=64)  # every principal component: exact pixel distances
    assert torch.equal(full[:, 0], d.argmin(1))
    with pytest.raises(ValueError, match="more than k"):
        neighbour_table(x[:3], 3)


def test_neighbour_table_is_cached_and_a_bad_cache_is_recomputed(tmp_path, monkeypatch):
    x = _images()
    cache = tmp_path / "bundle.neighbours-k5-d50.pt"
    first = cluster.cached_neighbour_table(x, 5, 50, cache)
    assert cache.exists() and torch.equal(first, neighbour_table(x, 5))

    def no_search(*a, **k):
        raise AssertionError("searched again despite a good cache")

    monkeypatch.setattr(cluster, "neighbour_table", no_search)
    assert torch.equal(cluster.cached_neighbour_table(x, 5, 50, cache), first)
    monkeypatch.undo()
    cache.write_bytes(b"not a tensor")
    assert torch.equal(cluster.cached_neighbour_table(x, 5, 50, cache), first)
    torch.save(first[:, :3], cache)  # a table for another k
    assert torch.equal(cluster.cached_neighbour_table(x, 5, 50, cache), first)


@pytest.mark.parametrize("per_group", [30, 700])  # dense eigh, then sparse eigsh (> 2000 images)
def test_spectral_partition_finds_separate_groups(per_group):
    g = torch.Generator().manual_seed(0)
    centres = 10 * torch.eye(5)[:3]
    points = (centres[:, None] + torch.randn(3, per_group, 5, generator=g)).reshape(-1, 5)
    labels = spectral_partition(nearest_neighbours(points, 8), 3, seed=0)
    groups = labels.reshape(3, per_group)
    assert labels.dtype == torch.long and labels.shape == (3 * per_group,)
    assert all(len(set(row.tolist())) == 1 for row in groups)  # each group one part ...
    assert len(set(groups[:, 0].tolist())) == 3  # ... and no two groups share one
    with pytest.raises(ValueError, match="clusters"):
        spectral_partition(nearest_neighbours(points, 8), 1)
