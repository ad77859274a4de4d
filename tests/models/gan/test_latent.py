"""Walks in a GAN's latent space against hand values: exact end points, slerp on the great
circle with the norm kept, the class embedding walked linearly; the nearest-neighbour search
and the arithmetic's groups."""

import math

import pytest
import torch

from ganflow.models.config import ConfigError
from ganflow.models.gan.latent import lerp, slerp, walk
from ganflow.tasks.evaluate import explore as X


def test_end_points_are_the_two_points_exactly():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, generator=g) * 3.3, torch.randn(64, generator=g) * 0.7
    t = torch.linspace(0, 1, 7)
    for move in (lerp, slerp):
        w = move(a, b, t)
        assert torch.equal(w[0], a) and torch.equal(w[-1], b)


def test_slerp_keeps_the_norm_and_follows_the_great_circle():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(100, generator=g), torch.randn(100, generator=g)
    b = b / b.norm() * a.norm()  # one norm
    w = slerp(a, b, torch.linspace(0, 1, 11))
    assert torch.allclose(w.norm(dim=1), a.norm().expand(11), rtol=1e-5)
    # the straight line cuts inside the sphere
    assert lerp(a, b, torch.tensor([0.5]))[0].norm() < 0.8 * a.norm()
    # orthogonal unit vectors: halfway is (a + b) / sqrt 2, a third of the way cos/sin 30 deg
    e1, e2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    mid, third = slerp(e1, e2, torch.tensor([0.5, 1 / 3]))
    assert torch.allclose(mid, (e1 + e2) / math.sqrt(2), atol=1e-6)
    assert torch.allclose(third, torch.tensor([math.cos(math.pi / 6), 0.5, 0.0]), atol=1e-6)
    # different norms: the length moves linearly between them
    w = slerp(2 * e1, 4 * e2, torch.tensor([0.25]))
    assert w.norm().item() == pytest.approx(2.5)
    # parallel points do not divide by zero
    assert torch.allclose(slerp(e1, 3 * e1, torch.tensor([0.5]))[0], 2 * e1)


def test_walk_moves_z_by_mode_and_the_class_embedding_linearly():
    a = torch.tensor([1.0, 0.0, 10.0, 0.0])  # z = (1, 0), e = (10, 0)
    b = torch.tensor([0.0, 1.0, 0.0, 10.0])
    w = walk(a, b, 3, "spherical", z_dim=2)
    assert torch.allclose(w[1, :2], torch.tensor([1.0, 1.0]) / math.sqrt(2), atol=1e-6)
    assert torch.allclose(w[1, 2:], torch.tensor([5.0, 5.0]))
    assert torch.allclose(walk(a, b, 3, "linear", 2)[1, :2], torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="mode"):
        walk(a, b, 3, "cubic", 2)


def test_nearest_finds_the_k_closest_across_chunks():
    bank = torch.tensor([[0.0, 0.0], [10.0, 0.0], [1.0, 0.0], [0.0, 3.0], [5.0, 5.0]])
    q = torch.tensor([[0.9, 0.0], [9.0, 1.0]])
    d, i = X.nearest(q, bank, 2, chunk=2)  # chunks of 2 rows: the best carried across
    assert i.tolist() == [[2, 0], [1, 4]]
    assert d[0].tolist() == pytest.approx([0.1, 0.9])
    assert d[1, 0].item() == pytest.approx(math.sqrt(2))


def test_arithmetic_groups_by_number_and_by_class():
    bank = X.Bank(torch.zeros(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]), torch.zeros(6, 1, 2, 2))
    names = ["T-shirt/top", "Ankle boot", "Bag"]
    terms = X.parse_arithmetic("T-shirt/top - 1 4 + Ankle boot", bank, names)
    assert [(t.sign, t.indices) for t in terms] == [(1, [0, 3]), (-1, [1, 4]), (1, [1, 4])]
    for bad, says in (("3 - 9", "sample 9 is not in the bank"), ("3", "one group"),
                      ("3 - Shoe", "neither sample numbers nor a class")):  # fmt: skip
        with pytest.raises(ConfigError, match=says):
            X.parse_arithmetic(bad, bank, names)
    plain = X.Bank(torch.zeros(6, 3), None, torch.zeros(6, 1, 2, 2))
    with pytest.raises(ConfigError, match="unconditional"):
        X.parse_arithmetic("Bag - 1", plain, names)
