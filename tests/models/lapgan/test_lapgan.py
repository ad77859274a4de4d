"""LAPGAN: the Laplacian pyramid inverts exactly, the coarse-to-fine sampler builds every
level, and each level's phase trains its own pair only."""

import pytest
import torch

from ganflow.models.config import ConfigError
from ganflow.models.engine import run_phases
from ganflow.models.images import down, up
from ganflow.models.lapgan.config import LAPGANConfig
from ganflow.models.lapgan.nets import build_models, sides
from ganflow.models.lapgan.objective import build_training
from ganflow.models.lapgan.pyramid import laplacian_pyramid, reconstruct
from ganflow.models.lapgan.sampling import coarse_to_fine


def test_the_pyramid_reconstructs_its_image_exactly():
    # values on a 1/256 grid: every mean of four and every difference is exact in float32
    x = torch.randint(0, 256, (2, 3, 32, 32)).float() / 128.0 - 1.0
    pyr = laplacian_pyramid(x, 4)
    assert [p.shape[-1] for p in pyr] == [32, 16, 8, 4]
    assert torch.equal(reconstruct(pyr), x)
    for h in pyr[:-1]:  # a residual carries no low frequencies: its 2x2 means are 0
        assert torch.allclose(down(h), torch.zeros_like(down(h)), atol=1e-6)
    assert torch.equal(pyr[-1], down(down(down(x))))
    y = torch.randn(1, 1, 28, 28)
    assert torch.allclose(reconstruct(laplacian_pyramid(y, 3)), y, atol=1e-6)
    with pytest.raises(ValueError, match="halved"):
        laplacian_pyramid(y, 4)  # 28 -> 14 -> 7 -> no


def test_up_and_down():
    x = torch.tensor([[[[1.0, 3.0], [5.0, 7.0]]]])
    assert down(x).item() == 4.0
    assert torch.equal(up(torch.tensor([[[[2.0]]]])), torch.full((1, 1, 2, 2), 2.0))


def test_sampler_builds_each_level_from_the_one_below():
    cfg = LAPGANConfig(levels=3, z_dim=8, hidden=16, channels=8)
    assert sides(cfg, 28) == [28, 14, 7]
    models = {k: m.eval() for k, m in build_models(cfg, (1, 28, 28), 0).items()}
    imgs = coarse_to_fine(models, cfg, 5, torch.Generator().manual_seed(0))
    assert [i.shape for i in imgs] == [(5, 1, 7, 7), (5, 1, 14, 14), (5, 1, 28, 28)]
    assert all(i.abs().max() <= 1 for i in imgs)
    # each finer image is its upsampled coarser one plus that level's residual
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    coarse = models["G2"](torch.randn(5, 8, generator=g))
    z = torch.randn(5, 1, 14, 14, generator=g)
    mid = (up(coarse) + models["G1"](z, up(coarse))).clamp(-1, 1)
    assert torch.allclose(mid, imgs[1], atol=1e-6)


def test_each_level_phase_trains_its_own_pair():
    cfg = LAPGANConfig(levels=2, z_dim=4, hidden=8, channels=4, batch_size=6)
    models = build_models(cfg, (1, 8, 8), 0)
    real = torch.rand(6, 1, 8, 8) * 2 - 1
    training = build_training(models, cfg, lambda step: real, seed=0)
    assert [p.name for p in training.phases] == ["d1", "g1", "d0", "g0"]
    batch = training.next_batch(0)
    assert torch.allclose(batch["h0"] + batch["l0"], real, atol=1e-6)
    for phase in training.phases:
        before = {k: [q.detach().clone() for q in m.parameters()] for k, m in models.items()}
        run_phases([phase], batch, 0)
        moved = {
            k
            for k, m in models.items()
            if any(not torch.equal(a, q) for a, q in zip(before[k], m.parameters(), strict=True))
        }
        assert moved == {phase.name.upper()}


def test_config_refusals():
    with pytest.raises(ConfigError, match="levels"):
        LAPGANConfig(levels=1).validate()
    with pytest.raises(ValueError, match="halved"):
        build_models(LAPGANConfig(levels=3), (1, 30, 30), 0)
