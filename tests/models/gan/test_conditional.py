"""Class-conditional GAN: shapes for 8x8 (MLP), 28x28 and 32x32 (DCGAN), the projection
logit against its formula, the auxiliary loss, phase isolation, bad settings."""

import pytest
import torch

from ganflow.models.gan.conditional import ConditionalDiscriminator
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.nets import build_models
from ganflow.models.gan.objective import build_training
from ganflow.models.gan.sampling import generate

K = 4


def _build(condition: str, shape: tuple, arch: str, **kw):
    cfg = GANConfig(
        arch=arch, condition=condition, z_dim=8, width=8, depth=2, embed_dim=4, batch_size=8, **kw
    )
    return cfg, build_models(cfg, shape, seed=0, num_classes=K)


@pytest.mark.parametrize("condition", ["concat", "projection", "acgan"])
@pytest.mark.parametrize(
    "arch,shape", [("mlp", (64,)), ("dcgan", (1, 28, 28)), ("dcgan", (3, 32, 32))]
)
def test_shapes(condition, arch, shape):
    cfg, m = _build(condition, shape, arch)
    z, y = torch.randn(6, cfg.z_dim), torch.randint(0, K, (6,))
    x = m["G"](z, y)
    assert x.shape == (6, *shape)
    logits, f, cls = m["D"](x, y)
    assert logits.shape == (6,) and f.shape[0] == 6
    assert (cls is None) == (condition != "acgan")
    if cls is not None:
        assert cls.shape == (6, K)


def test_projection_logit_is_base_plus_inner_product():
    _, m = _build("projection", (64,), "mlp")
    D: ConditionalDiscriminator = m["D"]
    x, y = torch.randn(5, 64), torch.tensor([0, 1, 2, 3, 1])
    base_logits, f = D.base(x)
    expected = base_logits + (D.embed.weight[y] * f).sum(1)
    assert torch.allclose(D(x, y)[0], expected, atol=1e-6)
    # the label changes the logit (and only through the projection term)
    assert not torch.allclose(D(x, y)[0], D(x, (y + 1) % K)[0])


def test_generator_depends_on_the_label():
    cfg, m = _build("projection", (64,), "mlp")
    m["G"].eval()
    z = torch.randn(3, cfg.z_dim)
    a, b = m["G"](z, torch.zeros(3, dtype=torch.long)), m["G"](z, torch.ones(3, dtype=torch.long))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("condition", ["concat", "projection", "acgan"])
@pytest.mark.parametrize(
    "loss,unrolled", [("nonsaturating", 0), ("wgan-gp", 0), ("nonsaturating", 2)]
)
def test_each_phase_changes_only_its_network(condition, loss, unrolled):
    cfg, m = _build(condition, (64,), "mlp", loss=loss, unrolled_steps=unrolled)
    x, y = torch.randn(8, 64), torch.randint(0, K, (8,))
    t = build_training(m, cfg, lambda step: (x, y), 10, seed=0)
    batch = t.next_batch(0)
    assert batch["y_fake"].shape == (8,) and int(batch["y_fake"].max()) < K
    for phase, trained, frozen in ((t.phases[0], "D", "G"), (t.phases[1], "G", "D")):
        before = {
            k: {n: p.detach().clone() for n, p in m[k].named_parameters()} for k in ("G", "D")
        }
        loss_value, terms = phase.loss(batch, 0)
        phase.optimizer.zero_grad()
        loss_value.backward()
        phase.optimizer.step()
        assert any(not torch.equal(before[trained][n], p) for n, p in m[trained].named_parameters())
        assert all(torch.equal(before[frozen][n], p) for n, p in m[frozen].named_parameters())
        assert ("aux" in terms) == (condition == "acgan")


def test_acgan_aux_term_is_the_cross_entropy():
    cfg, m = _build("acgan", (64,), "mlp")
    x, y = torch.randn(8, 64), torch.randint(0, K, (8,))
    t = build_training(m, cfg, lambda step: (x, y), 10, seed=0)
    batch = t.next_batch(0)
    _, terms = t.phases[1].loss(batch, 0)
    with torch.no_grad():
        cls = m["D"](m["G"](batch["z"], batch["y_fake"]), batch["y_fake"])[2]
    assert float(terms["aux"]) == pytest.approx(
        float(torch.nn.functional.cross_entropy(cls, batch["y_fake"])), rel=1e-4
    )


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="condition must be one of"):
        GANConfig(condition="labels").validate()
    with pytest.raises(ValueError, match="pack > 1 and replay"):
        GANConfig(condition="projection", pack=2, batch_size=64).validate()
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_models(GANConfig(arch="mlp", condition="projection"), (64,), 0, num_classes=0)
    cfg, m = _build("projection", (64,), "mlp")
    t = build_training(m, cfg, lambda step: torch.randn(8, 64), 10, seed=0)
    with pytest.raises(ValueError, match="labelled real batches"):
        t.next_batch(0)
    with pytest.raises(ValueError, match="one label per sample"):
        generate(m["G"], 4, cfg.z_dim, 0)
