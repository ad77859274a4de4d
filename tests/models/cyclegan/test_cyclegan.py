"""CycleGAN: generator and discriminator shapes, the loss terms by hand, the replay pool in
the discriminators' phases, and the constant-then-linear learning rate."""

import pytest
import torch
from torch import nn

from ganflow.models.cyclegan.config import CycleGANConfig, resolve
from ganflow.models.cyclegan.nets import build_models
from ganflow.models.cyclegan.objective import CycleGANObjective, build_training
from ganflow.models.engine import linear_decay, run_phases
from ganflow.models.regularizers import ImagePool


@pytest.mark.parametrize(("side", "blocks"), [(28, 6), (32, 6), (64, 6), (256, 9)])
def test_shapes_at_every_size(side, blocks):
    cfg = resolve(CycleGANConfig(ngf=2, ndf=2), side)
    assert cfg.blocks == blocks
    m = build_models(cfg, 1, 3, seed=0)
    a = torch.rand(1, 1, side, side) * 2 - 1
    fake_b = m["G_ab"](a)
    assert fake_b.shape == (1, 3, side, side) and m["G_ba"](fake_b).shape == a.shape
    assert m["D_b"](fake_b).shape[:2] == (1, 1) and m["D_a"](a).shape[:2] == (1, 1)


@pytest.mark.parametrize("down", [0, 1, 2])
def test_generator_depth_follows_down(down):
    cfg = resolve(CycleGANConfig(ngf=4, ndf=2, down=down, blocks=1), 28)
    g = build_models(cfg, 1, 3, seed=0)["G_ab"]
    assert g(torch.rand(2, 1, 28, 28) * 2 - 1).shape == (2, 3, 28, 28)
    strided = [m for m in g.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == down
    assert max(m.out_channels for m in g.modules() if isinstance(m, nn.Conv2d)) == 4 * 2**down


def test_resize_upsampling_has_no_checkerboard():
    """A flat map upsampled: the transposed conv's uneven overlap stamps a period-2 pattern
    on it (Odena et al. 2016), nearest 2x then a conv keeps it flat away from the border."""
    from ganflow.models.config import ConfigError
    from ganflow.models.cyclegan.nets import _upsample

    torch.manual_seed(0)
    flat = torch.ones(1, 4, 8, 8)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    for how, checkered in (("deconv", True), ("resize", False)):
        up = nn.Sequential(*_upsample(4, 3, how))
        y = up(flat)[inner]
        assert y.shape[-1] == 12  # 16 before the border is cut
        spread = (y - y[..., :1, :1]).abs().amax().item()
        assert (spread > 1e-3) == checkered, how
    cfg = resolve(CycleGANConfig(ngf=2, ndf=2, upsample="resize"), 32)
    g = build_models(cfg, 3, 3, seed=0)["G_ab"]
    assert g(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    with pytest.raises(ConfigError, match="upsample must be one of"):
        CycleGANConfig(upsample="bilinear").validate()


def test_down_must_divide_the_side():
    from ganflow.models.config import ConfigError

    with pytest.raises(ConfigError, match="not divisible by 8"):
        resolve(CycleGANConfig(down=3), 28)


class Affine(nn.Module):
    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale, self.shift, self.w = scale, shift, nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x * self.scale + self.shift + 0 * self.w


class Zeros(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return torch.zeros(x.shape[0], 1, 2, 2) + 0 * self.w


def _hand_models():
    # G(x) = x + 0.1, F(x) = 0.5 x; both discriminators say 0 everywhere
    return {"G_ab": Affine(1.0, 0.1), "G_ba": Affine(0.5, 0.0), "D_a": Zeros(), "D_b": Zeros()}


def test_generator_loss_terms_by_hand():
    a, b = torch.full((2, 1, 4, 4), 0.2), torch.full((2, 1, 4, 4), -0.4)
    cfg = CycleGANConfig(lambda_cycle=10.0, lambda_identity=0.5)
    obj = CycleGANObjective(_hand_models(), cfg, {s: ImagePool(0) for s in "ab"})
    loss, t = obj.g({"a": a, "b": b}, 0)
    # adv: (0 - 1)^2 for each direction = 2
    # cycle: |F(G(a)) - a| = |0.15 - 0.2| = 0.05, |G(F(b)) - b| = |-0.1 + 0.4| = 0.3
    # identity: |G(b) - b| = 0.1, |F(a) - a| = 0.1
    assert t["adv"].item() == pytest.approx(2.0)
    assert t["cycle"].item() == pytest.approx(0.35)
    assert t["identity"].item() == pytest.approx(0.2)
    assert loss.item() == pytest.approx(2.0 + 10 * 0.35 + 0.5 * 10 * 0.2)
    d_loss, _ = obj.d_b({"a": a, "b": b}, 0)  # 1/2 (0 - 1)^2 + 1/2 0^2
    assert d_loss.item() == pytest.approx(0.5)


def test_cycle_noise_is_added_before_the_translation_back():
    a, b = torch.full((2, 1, 4, 4), 0.2), torch.full((2, 1, 4, 4), -0.4)
    cfg = CycleGANConfig(lambda_cycle=10.0, lambda_identity=0.0, cycle_noise=0.3)
    obj = CycleGANObjective(_hand_models(), cfg, {s: ImagePool(0) for s in "ab"})
    torch.manual_seed(5)
    _, t = obj.g({"a": a, "b": b}, 0)
    torch.manual_seed(5)
    n_b, n_a = 0.3 * torch.randn(2, 1, 4, 4), 0.3 * torch.randn(2, 1, 4, 4)
    # F(G(a) + n) = 0.5 (0.3 + n), G(F(b) + n) = -0.2 + n + 0.1
    back_a, back_b = 0.5 * (a + 0.1 + n_b), b * 0.5 + n_a + 0.1
    expected = (back_a - a).abs().mean() + (back_b - b).abs().mean()
    assert t["cycle"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert abs(t["cycle"].item() - 0.35) > 1e-3  # not the noiseless value


def test_discriminators_judge_fakes_through_the_replay_pool():
    cfg = resolve(CycleGANConfig(ngf=2, ndf=2, blocks=1, pool_size=4), 8)
    models = build_models(cfg, 1, 1, seed=0)
    batch = {"a": torch.rand(2, 1, 8, 8), "b": torch.rand(2, 1, 8, 8)}
    training = build_training(models, cfg, lambda step: batch, total_steps=10, seed=0)
    pools = (training.stateful["pool_a"], training.stateful["pool_b"])
    for step in range(3):
        run_phases(training.phases, batch, step)
    assert all(p.count == 4 for p in pools)  # filled by the d phases' fakes, up to its size
    assert [p.name for p in training.phases] == ["g", "d_a", "d_b"]


def test_learning_rate_is_constant_then_linear_to_zero():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_decay(opt, total_steps=10, start=0.5)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2])


def test_identity_loss_needs_the_same_channels():
    from ganflow.models.config import ConfigError
    from ganflow.tasks.data.translation import TranslationData
    from ganflow.tasks.train.trainer import RunConfig
    from ganflow.tasks.train.translation import model_config, setup

    x1, x3 = torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    data = TranslationData("folder", False, x1.numpy(), x3.numpy(), x1.numpy(), x3.numpy())
    with pytest.raises(ConfigError, match="lambda_identity=0"):
        setup(data, "cyclegan", model_config("cyclegan", {}, 8), RunConfig(), torch.device("cpu"))
