"""SGAN: the networks' shapes at two sides, the schedule (encoder, independent, joint), each
phase training only its own networks, and the loss terms against their formulas."""

import pytest
import torch
import torch.nn.functional as F

from ganflow.models.config import ConfigError
from ganflow.models.engine import run_phases
from ganflow.models.sgan.config import SGANConfig
from ganflow.models.sgan.nets import build_models
from ganflow.models.sgan.objective import build_training, schedule

TINY = dict(feature_dim=16, z1_dim=4, z0_dim=3, width=8, g1_hidden=16, d1_hidden=16, batch_size=6)


def _setup(shape=(1, 8, 8), total=20, **over):
    cfg = SGANConfig(**{**TINY, **over})
    m = build_models(cfg, shape, 0, num_classes=3)

    def real(step):
        g = torch.Generator().manual_seed(step)
        return torch.rand(6, *shape, generator=g) * 2 - 1, torch.randint(0, 3, (6,), generator=g)

    return cfg, m, build_training(m, cfg, real, total, 0)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_shapes(shape):
    cfg = SGANConfig(**TINY)
    m = build_models(cfg, shape, 0, num_classes=10)
    x, y = torch.rand(6, *shape) * 2 - 1, torch.arange(6)
    assert m["E"].features(x).shape == (6, 16) and m["E"](x).shape == (6, 10)
    h1 = m["G1"](y, torch.rand(6, 4))
    assert h1.shape == (6, 16) and (h1 >= 0).all()  # ReLU features, as E's are
    x_fake = m["G0"](h1, torch.rand(6, 3))
    assert x_fake.shape == (6, *shape) and x_fake.abs().max() <= 1
    logit, q = m["D0"](x_fake)
    assert logit.shape == (6,) and q.shape == (6, 3) and ((q > 0) & (q < 1)).all()
    logit, q = m["D1"](h1, y)
    assert logit.shape == (6,) and q.shape == (6, 4)


def test_schedule_encoder_then_independent_then_joint():
    cfg = SGANConfig(**TINY, encoder_steps=10, joint_share=0.25)
    assert schedule(cfg, 50) == (10, 40)
    _, _, tr = _setup(total=50, encoder_steps=10, joint_share=0.25)
    e, d, g = tr.phases
    assert [e.due(s) for s in (0, 9, 10)] == [True, True, False]
    assert [d.due(s) and g.due(s) for s in (9, 10, 49)] == [False, True, True]
    logs = run_phases(tr.phases, tr.next_batch(12), 12)
    assert logs["g/joint"] == 0.0
    assert run_phases(tr.phases, tr.next_batch(45), 45)["g/joint"] == 1.0


def test_each_phase_trains_only_its_own_networks():
    _, m, tr = _setup(encoder_steps=2)
    owned = {"e": {"E"}, "d": {"D1", "D0"}, "g": {"G1", "G0"}}
    for phase, step in zip(tr.phases, (0, 5, 5), strict=True):
        before = {k: [p.detach().clone() for p in net.parameters()] for k, net in m.items()}
        run_phases([phase], tr.next_batch(step), step)
        changed = {
            k for k, net in m.items()
            if any(not torch.equal(a, b) for a, b in zip(before[k], net.parameters(), strict=True))
        }  # fmt: skip
        assert changed == owned[phase.name], phase.name


def test_g_terms_against_their_formulas():
    cfg, m, tr = _setup(encoder_steps=2, joint_share=0.0)  # independent throughout
    obj = tr.phases[2].loss.__self__
    batch = tr.next_batch(5)
    for net in m.values():
        net.eval()  # batch norm from running statistics: the same tensors twice
    loss, terms = obj.g(batch, 5)
    with torch.no_grad():
        h1_real = m["E"].features(batch["real"])
        h1_fake = m["G1"](batch["y"], batch["z1"])
        x_fake = m["G0"](h1_real, batch["z0"])  # independent: G0 reads the encoder's h1
        logit0, q0 = m["D0"](x_fake)
        logit1, q1 = m["D1"](h1_fake, batch["y"])
    want = {
        "cond1": F.cross_entropy(m["E"].fc4(h1_fake), batch["y"]),
        "cond0": (m["E"].features(x_fake) - h1_real).pow(2).mean(),
        "ent0": (q0 - batch["z0"]).pow(2).mean(),
        "ent1": (q1 - batch["z1"]).pow(2).mean(),
        "adv0": F.softplus(-logit0).mean(),  # BCE(D(G), 1)
        "adv1": F.softplus(-logit1).mean(),
        "class0": F.cross_entropy(m["E"](x_fake), batch["y"]),
    }
    for k, v in want.items():
        assert terms[k].item() == pytest.approx(v.item(), rel=1e-5), k
    total = sum(want[k] for k in ("adv0", "adv1", "cond0", "cond1", "class0")) + 10 * (
        want["ent0"] + want["ent1"]
    )
    assert loss.item() == pytest.approx(total.item(), rel=1e-5)


def test_joint_training_reaches_g1_through_g0():
    for share, reaches in ((0.0, False), (1.0, True)):
        cfg, m, tr = _setup(encoder_steps=0, joint_share=share, adv_weight=0.0, ent_weight=0.0)
        obj = tr.phases[2].loss.__self__
        _, terms = obj.g(tr.next_batch(3), 3)
        terms["cond0"].backward()  # the image level's term alone
        grad = sum(p.grad.abs().sum() for p in m["G1"].parameters() if p.grad is not None)
        assert (float(grad) > 0) == reaches


def _batch_dependence(D, x, *c):
    """Does sample 0's logit change when only the other samples of its batch change?"""
    with torch.no_grad():
        a = D(x, *c)[0][0]
        other = x.clone()
        other[1:] = torch.rand_like(other[1:])
        return not torch.allclose(a, D(other, *c)[0][0])


@pytest.mark.parametrize("on", [True, False])
def test_discriminators_see_the_batch_and_d1_the_class_only_when_asked(on):
    m = build_models(SGANConfig(**TINY, minibatch_discrimination=on, class_d1=on), (1, 8, 8), 0, 3)
    for net in m.values():
        net.eval()  # batch norm from running statistics: a sample sees the batch only by design
    h1, y = torch.rand(6, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    assert _batch_dependence(m["D1"], h1, y) == on
    assert _batch_dependence(m["D0"], torch.rand(6, 1, 8, 8) * 2 - 1) == on
    with torch.no_grad():  # the same features read as another class
        other_class = m["D1"](h1, (y + 1) % 3)[0]
        assert (not torch.allclose(m["D1"](h1, y)[0], other_class)) == on


def test_class_weight_zero_leaves_the_papers_terms():
    _, _, tr = _setup(encoder_steps=2, class_weight=0.0)
    _, terms = tr.phases[2].loss(tr.next_batch(5), 5)
    assert "class0" not in terms and {"adv0", "cond0", "ent0", "adv1", "cond1", "ent1"} <= set(
        terms
    )


@pytest.mark.parametrize(
    "bad", [{"joint_share": 1.5}, {"lr_g": 0.0}, {"z1_dim": 0}, {"class_weight": -1.0}]
)
def test_config_errors(bad):
    with pytest.raises(ConfigError):
        SGANConfig(**bad).validate()


def test_unlabelled_data_is_refused():
    with pytest.raises(ValueError, match="needs labelled data"):
        build_models(SGANConfig(**TINY), (1, 8, 8), 0, num_classes=1)


def test_a_run_saved_before_the_discriminator_settings_loads_as_it_trained():
    from ganflow.models.sgan.sampling import modules_for

    record = {"shape": [1, 8, 8], "seed": 0, "num_classes": 3, "model": dict(TINY)}
    cfg = SGANConfig.from_record(record["model"])
    assert not cfg.class_d1 and not cfg.minibatch_discrimination and cfg.class_weight == 0.0
    old = modules_for(cfg, record)
    assert old["D1"].embed is None and old["D1"].std is None and old["D0"].d.head.mbd is None
    record["model"] = {**TINY, "minibatch_discrimination": True, "class_d1": True}
    new = modules_for(SGANConfig.from_record(record["model"]), record)
    assert new["D1"].embed is not None and new["D0"].d.head.mbd is not None
    # a run's own settings win over ADDED, and from_dict (new runs) keeps today's defaults
    assert SGANConfig.from_record({**TINY, "class_weight": 2.0}).class_weight == 2.0
    assert SGANConfig.from_dict(dict(TINY)).class_d1
