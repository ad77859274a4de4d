"""Progressive growing: fade-in at alpha 0 and 1 equals the lower and the higher resolution
paths, the schedule, minibatch standard deviation and the equalised learning rate by hand."""

import math

import pytest
import torch

from ganflow.models.engine import run_phases
from ganflow.models.images import down, up
from ganflow.models.layers import EqualizedConv2d, EqualizedLinear, MinibatchStd, PixelNorm
from ganflow.models.progan.config import ProGANConfig
from ganflow.models.progan.nets import build_models, resolutions
from ganflow.models.progan.objective import build_training, real_at, schedule

CFG = ProGANConfig(z_dim=8, channels=8, group=2)


def test_resolutions():
    assert resolutions(32) == [4, 8, 16, 32]
    assert resolutions(28) == [7, 14, 28]
    assert resolutions(8) == [4, 8]


def test_generator_fade_in_at_alpha_0_and_1():
    G = build_models(CFG, (1, 32, 32), 0)["G"].eval()
    z = torch.randn(3, 8)
    for s in (1, 2, 3):
        assert G(z, s, 0.0).shape == (3, 1, 4 * 2**s, 4 * 2**s)
        # alpha 0: the stage below, upsampled
        assert torch.allclose(G(z, s, 0.0), up(G(z, s - 1, 1.0)), atol=1e-6)
        # alpha 1: the new block and its toRGB alone
        new = G.to_rgb[s](G.blocks[s - 1](G.features(z, s - 1)))
        assert torch.allclose(G(z, s, 1.0), new, atol=1e-6)
        mid = G(z, s, 0.3)
        assert torch.allclose(mid, 0.7 * G(z, s, 0.0) + 0.3 * G(z, s, 1.0), atol=1e-5)


def test_discriminator_fade_in_at_alpha_0_and_1():
    D = build_models(CFG, (1, 32, 32), 0)["D"].eval()
    for s in (1, 2, 3):
        x = torch.randn(4, 1, 4 * 2**s, 4 * 2**s)
        # alpha 0: the image downsampled through the stage below
        assert torch.allclose(D(x, s, 0.0)[0], D(down(x), s - 1, 1.0)[0], atol=1e-5)
        # alpha 1: the lower fromRGB plays no part
        before = D(x, s, 1.0)[0]
        with torch.no_grad():
            D.from_rgb[s - 1][0].weight.add_(1.0)
        assert torch.allclose(D(x, s, 1.0)[0], before)


def test_schedule_and_the_faded_real_batch():
    # 4 stages over 400 steps: 100 each, the first 50 of a later stage fading
    assert schedule(0, 400, 4, 0.5) == (0, 1.0)
    assert schedule(99, 400, 4, 0.5) == (0, 1.0)
    assert schedule(100, 400, 4, 0.5) == (1, 0.0)
    assert schedule(125, 400, 4, 0.5) == (1, 0.5)
    assert schedule(160, 400, 4, 0.5) == (1, 1.0)
    assert schedule(399, 400, 4, 0.5) == (3, 1.0)
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(real_at(x, 3, 4, 1.0), x)
    assert torch.allclose(real_at(x, 2, 4, 0.0), up(down(down(x))), atol=1e-6)
    assert torch.allclose(real_at(x, 1, 4, 1.0), down(down(x)), atol=1e-6)


def test_minibatch_stddev_by_hand():
    x = torch.tensor([1.0, 3.0, 2.0, 2.0]).view(4, 1, 1, 1)
    out = MinibatchStd(group=2)(x)
    # groups are samples (0, 2) and (1, 3): stds |1 - 2| / 2 = 0.5 and |3 - 2| / 2 = 0.5
    assert out.shape == (4, 2, 1, 1)
    assert torch.allclose(out[:, 1, 0, 0], torch.full((4,), 0.5), atol=1e-4)
    y = torch.tensor([0.0, 0.0, 4.0, 0.0]).view(4, 1, 1, 1)
    s = MinibatchStd(group=2)(y)[:, 1, 0, 0]
    assert torch.allclose(s, torch.tensor([2.0, 0.0, 2.0, 0.0]), atol=1e-3)
    # feature vectors (N, C): one more feature; 3 samples, group 2 -> the largest divisor, 1
    v = MinibatchStd(group=2)(torch.tensor([[1.0, 5.0], [3.0, 5.0], [2.0, 9.0]]))
    assert v.shape == (3, 3) and torch.allclose(v[:, 2], torch.full((3,), 1e-4), atol=1e-4)
    w = MinibatchStd(group=4)(torch.tensor([[1.0, 5.0], [3.0, 9.0]]))  # one group of 2
    assert torch.allclose(w[:, 2], torch.full((2,), 1.5), atol=1e-4)  # (1 + 2) / 2


def test_equalized_layers_and_pixel_norm_by_hand():
    lin = EqualizedLinear(4, 3)
    x = torch.randn(2, 4)
    w = lin.weight * math.sqrt(2 / 4)
    assert torch.allclose(lin(x), x @ w.T + lin.bias)
    conv = EqualizedConv2d(2, 3, 3)
    img = torch.randn(1, 2, 5, 5)
    ref = torch.nn.functional.conv2d(img, conv.weight * math.sqrt(2 / 18), conv.bias, padding=1)
    assert torch.allclose(conv(img), ref, atol=1e-6)
    a = torch.tensor([[3.0, 4.0]]).view(1, 2, 1, 1)
    assert torch.allclose(PixelNorm()(a).flatten(), torch.tensor([3.0, 4.0]) / math.sqrt(12.5))


def test_phases_train_at_the_scheduled_stage():
    cfg = ProGANConfig(z_dim=8, channels=4, group=2, batch_size=4, loss="nonsaturating")
    models = build_models(cfg, (1, 8, 8), 0)
    real = torch.rand(4, 1, 8, 8) * 2 - 1
    training = build_training(models, cfg, lambda step: real, 10, 0)
    logs = run_phases(training.phases, training.next_batch(0), 0)
    assert logs["d/stage"] == 0 and logs["d/alpha"] == 1.0
    before = models["G"].blocks[0].net[0].weight.detach().clone()
    logs = run_phases(training.phases, training.next_batch(7), 7)
    assert logs["d/stage"] == 1 and logs["d/alpha"] == pytest.approx(0.8)
    assert not torch.equal(before, models["G"].blocks[0].net[0].weight)  # the new block trains
