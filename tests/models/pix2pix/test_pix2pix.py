"""pix2pix: U-Net and PatchGAN shapes at every size, the sizes resolved from the side, the
L1 and cGAN terms, and the L1-only ablation."""

import pytest
import torch
from torch import nn

from ganflow.models.config import ConfigError
from ganflow.models.patchgan import patch_layers, receptive_field
from ganflow.models.pix2pix.config import Pix2PixConfig, resolve, unet_depth
from ganflow.models.pix2pix.nets import build_models, dropout_levels
from ganflow.models.pix2pix.objective import Pix2PixObjective, build_training


@pytest.mark.parametrize(
    ("side", "depth", "patch"), [(28, 2, 16), (32, 5, 16), (64, 6, 16), (256, 8, 70)]
)
def test_shapes_and_sizes_follow_the_side(side, depth, patch):
    cfg = resolve(Pix2PixConfig(ngf=4, ndf=4), side)
    assert (cfg.depth, cfg.patch) == (depth, patch)
    m = build_models(cfg, 1, 3, seed=0)
    a = torch.rand(2, 1, side, side) * 2 - 1
    out = m["G"](a)
    assert out.shape == (2, 3, side, side) and out.abs().max() <= 1
    scores = m["D"](torch.cat([a, out], 1))
    assert scores.shape[:2] == (2, 1) and scores.shape[-1] > 1  # a map of patch logits


def test_the_paper_sizes_at_256_and_bad_sides_refused():
    assert receptive_field(3) == 70 and patch_layers(256) == 3 and unet_depth(256) == 8
    assert dropout_levels(8) == [6, 5, 4] and dropout_levels(2) == [1]
    for side in (30, 6):
        with pytest.raises(ConfigError, match="multiple of 4"):
            resolve(Pix2PixConfig(), side)
    with pytest.raises(ConfigError, match="divisible by 32"):
        resolve(Pix2PixConfig(depth=5), 28)
    with pytest.raises(ConfigError, match="both be 0"):
        Pix2PixConfig(lambda_l1=0, gan_weight=0).validate()


class Const(nn.Module):
    """Returns a fixed tensor (and has one parameter, so it can be optimised)."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out, self.w = out, nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.out + 0 * self.w


def test_g_loss_is_lambda_l1_plus_the_cgan_term_by_hand():
    a, b = torch.full((2, 1, 4, 4), 0.2), torch.full((2, 1, 4, 4), -0.4)
    G = Const(torch.full((2, 1, 4, 4), 0.1))  # |0.1 - (-0.4)| = 0.5
    D = Const(torch.zeros(2, 1, 2, 2))  # logit 0: BCE(0, 1) = log 2
    loss, terms = Pix2PixObjective(G, D, Pix2PixConfig(lambda_l1=100)).g({"a": a, "b": b}, 0)
    assert terms["l1"] == pytest.approx(0.5) and terms["adv"] == pytest.approx(0.6931, abs=1e-4)
    assert loss.item() == pytest.approx(100 * 0.5 + 0.6931, abs=1e-3)
    d_loss, _ = Pix2PixObjective(G, D, Pix2PixConfig()).d({"a": a, "b": b}, 0)
    assert d_loss.item() == pytest.approx(0.5 * 2 * 0.6931, abs=1e-4)  # D's objective halved


def test_l1_only_unet_has_no_discriminator_and_one_phase():
    cfg = resolve(Pix2PixConfig(ngf=4, gan_weight=0.0), 28)
    models = build_models(cfg, 1, 1, 0)
    assert set(models) == {"G"}
    batch = {"a": torch.rand(3, 1, 28, 28), "b": torch.rand(3, 1, 28, 28)}
    training = build_training(models, cfg, lambda step: batch, total_steps=4)
    assert [p.name for p in training.phases] == ["g"]
    loss, terms = training.phases[0].loss(batch, 0)
    assert set(terms) == {"l1"} and loss.item() == pytest.approx(100 * terms["l1"].item())
