"""BigGAN's tricks (conditional batch norm from a shared embedding, hierarchical latent,
orthogonal regularisation, truncation) and LOGAN's latent step, by hand."""

import pytest
import torch
from torch import nn

from ganflow.models.config import ConfigError
from ganflow.models.engine import run_phases
from ganflow.models.gan.biggan import BigGANGenerator, ConditionalBatchNorm2d, z_chunks
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.nets import build_models
from ganflow.models.gan.objective import GANObjective, build_training
from ganflow.models.gan.sampling import truncated_normal
from ganflow.models.regularizers import orthogonal_penalty


def test_orthogonal_penalty_by_hand():
    torch.manual_seed(0)
    lin = nn.Linear(2, 3, bias=True)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]]))
    # W W^T = [[5, 11, 2], [11, 25, 4], [2, 4, 1]]: off-diagonal squares 2 (121 + 4 + 16)
    assert orthogonal_penalty(lin).item() == pytest.approx(282.0)  # tall: the small Gram
    wide = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        wide.weight.copy_(lin.weight.T)  # W^T W of the same matrix: [[10, 14], [14, 21]]
    assert orthogonal_penalty(wide).item() == pytest.approx(2 * 14.0**2)
    # a wide weight (out < fan_in) and a conv weight, against the definition
    conv = nn.Conv2d(3, 2, 3)
    w = conv.weight.reshape(2, -1)
    gram = w @ w.T
    assert orthogonal_penalty(conv).item() == pytest.approx(2 * gram[0, 1].item() ** 2, rel=1e-5)
    # orthogonal rows cost nothing; skipped modules are left out
    q = nn.Linear(4, 4, bias=False)
    nn.init.orthogonal_(q.weight)
    assert orthogonal_penalty(q).item() == pytest.approx(0.0, abs=1e-8)
    both = nn.Sequential(lin, q)
    assert orthogonal_penalty(both, skip=(lin,)).item() == pytest.approx(0.0, abs=1e-8)


def test_conditional_batch_norm_by_hand():
    cbn = ConditionalBatchNorm2d(2, 3)
    x, c = torch.randn(4, 2, 5, 5), torch.randn(4, 3)
    plain = nn.BatchNorm2d(2, affine=False)(x)
    assert torch.allclose(cbn(x, c), plain, atol=1e-6)  # starts as BN: gain 1, bias 0
    with torch.no_grad():
        cbn.gain.weight.fill_(0.5)
        cbn.bias.bias.fill_(2.0)
    g = 1 + 0.5 * c.sum(1)  # (N,): every channel's gain is 1 + 0.5 * sum(c)
    assert torch.allclose(cbn(x, c), plain * g[:, None, None, None] + 2.0, atol=1e-5)


def test_biggan_generator_reads_the_class_and_each_latent_chunk():
    cfg = GANConfig(arch="biggan", condition="projection", width=8, z_dim=12, embed_dim=4)
    assert [c.shape[1] for c in z_chunks(torch.zeros(1, 12), 2, True)] == [4, 4, 4]
    assert [c.shape[1] for c in z_chunks(torch.zeros(1, 12), 2, False)] == [12, 0, 0]
    for size, channels in ((28, 1), (32, 3)):
        G = BigGANGenerator(cfg, channels, size, 10).eval()
        z, y = torch.randn(3, 12), torch.tensor([0, 1, 2])
        assert G(z, y).shape == (3, channels, size, size)
    G = BigGANGenerator(cfg, 1, 28, 10)
    for blk in G.blocks:  # conditioning that reads its input
        nn.init.normal_(blk.cbn.gain.weight)
    G.eval()
    z = torch.randn(2, 12)
    last = z.clone()
    last[:, 8:] += 1.0  # only the last chunk: it reaches the model only through the last block
    assert not torch.allclose(G(z, torch.tensor([0, 0])), G(last, torch.tensor([0, 0])))
    assert not torch.allclose(G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 1])))
    models = build_models(cfg, (1, 28, 28), 0, 10)
    assert isinstance(models["G"], BigGANGenerator)
    with pytest.raises(ConfigError, match="projection"):
        GANConfig(arch="biggan", condition="concat").validate()


def test_truncated_normal():
    z = truncated_normal(2000, 8, 0.5, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5 and z.std() > 0.2
    plain = truncated_normal(5, 3, None, torch.Generator().manual_seed(1))
    assert torch.equal(plain, torch.randn(5, 3, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="positive"):
        truncated_normal(2, 2, 0.0)


def _linear_gan(latent_opt: str):
    """G(z) = A z + a and D(x) = w.x + b: D(G(z)) has the constant gradient A^T w in z."""
    cfg = GANConfig(arch="mlp", depth=0, width=4, z_dim=3, g_batchnorm=False, batch_size=5,
                    latent_opt=latent_opt, latent_step=0.9, latent_damping=5.0)  # fmt: skip
    models = build_models(cfg, (2,), 0)
    real = torch.randn(5, 2)
    training = build_training(models, cfg, lambda step: real, 10, 0)
    A = models["G"].net[0].weight  # (2, 3)
    w = models["D"].head.out.weight[0]  # (2,)
    return cfg, models, training, (A.T @ w).detach()


@pytest.mark.parametrize("how", ["gd", "ngd"])
def test_logan_step_moves_z_along_the_gradient_as_by_hand(how):
    cfg, models, training, g = _linear_gan(how)
    obj = GANObjective(models["G"], models["D"], cfg, 0, 10, None, None)
    batch = training.next_batch(0)
    z2, dz = obj.latent_step(batch, create_graph=False)
    expected = 0.9 * g if how == "gd" else 0.9 * g / (5.0 + g.pow(2).sum())
    assert torch.allclose(dz, expected.expand(5, 3), atol=1e-6)
    assert torch.allclose(z2, batch["z"] + expected, atol=1e-6)


def test_logan_d_phase_leaves_g_alone_and_adds_the_step_penalty():
    cfg, models, training, g = _linear_gan("ngd")
    before = [p.detach().clone() for p in models["G"].parameters()]
    logs = run_phases(training.phases[:1], training.next_batch(0), 0)
    assert all(torch.equal(a, p) for a, p in zip(before, models["G"].parameters(), strict=True))
    step = 0.9 * g / (5.0 + g.pow(2).sum())
    assert logs["d/dz_reg"] == pytest.approx(step.pow(2).sum().item(), rel=1e-5)
    assert logs["d/loss"] == pytest.approx(logs["d/adv"] + 3.0 * logs["d/dz_reg"], rel=1e-5)


def test_ortho_reg_joins_g_loss_only_when_on():
    base = {"arch": "biggan", "condition": "projection", "width": 8, "z_dim": 12}
    for beta in (0.0, 1e-2):
        cfg = GANConfig(**base, ortho_reg=beta)
        models = build_models(cfg, (1, 28, 28), 0, 10)
        x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
        training = build_training(models, cfg, lambda step, b=(x, y): b, 10, 0)
        before = orthogonal_penalty(models["G"], (models["G"].shared,)).item()
        logs = run_phases(training.phases[1:], training.next_batch(0), 0)
        assert ("g/ortho" in logs) == (beta > 0)
        if beta:  # the shared class embedding (a 2-D weight too) is left out
            assert logs["g/ortho"] == pytest.approx(before, rel=1e-4)
