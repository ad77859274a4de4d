"""Unconditional GAN family: networks, tricks as layers and state, the phases, unrolling."""

import pytest
import torch

from ganflow.models.config import ConfigError
from ganflow.models.engine import run_phases
from ganflow.models.gan.config import GANConfig
from ganflow.models.gan.nets import build_models
from ganflow.models.gan.objective import build_training
from ganflow.models.gan.sampling import sampler
from ganflow.models.gan.unrolled import unrolled_parameters
from ganflow.models.layers import MinibatchStd, SelfAttention
from ganflow.models.regularizers import ImagePool, instance_noise_std
from ganflow.tasks.data import toy

TINY_MLP = dict(arch="mlp", z_dim=4, width=16, depth=2, g_batchnorm=False, batch_size=8)


def _training(cfg: GANConfig, shape=(2,), steps=10):
    m = build_models(cfg, shape, 0)
    real = lambda step: toy.sample("ring", cfg.batch_size, torch.Generator().manual_seed(step))  # noqa: E731
    if len(shape) == 3:
        real = lambda step: torch.rand(cfg.batch_size, *shape) * 2 - 1  # noqa: E731
    return m, build_training(m, cfg, real, steps, 0)


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3)])
@pytest.mark.parametrize(
    "tricks",
    [
        {},
        {
            "self_attention": True,
            "spectral_norm": True,
            "minibatch_discrimination": True,
            "pack": 2,
        },
    ],
)
def test_dcgan_shapes(size, channels, tricks):
    cfg = GANConfig(width=8, z_dim=10, batch_size=4, **tricks)
    m = build_models(cfg, (channels, size, size), 0)
    x = m["G"](torch.randn(4, 10))
    assert x.shape == (4, channels, size, size)
    logits, feats = m["D"](x)
    assert logits.shape == (4 // cfg.pack,) and feats.shape[0] == 4 // cfg.pack
    # DCGAN: no pooling and no hidden fully connected layers
    assert not any(
        isinstance(mod, torch.nn.MaxPool2d | torch.nn.AvgPool2d) for mod in m["D"].modules()
    )
    assert sum(isinstance(mod, torch.nn.Linear) for mod in m["D"].modules()) == 1


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_image_archs_refuse_sides_off_the_plan_naming_the_sides_they_take(arch):
    for side in (30, 260, 4):
        with pytest.raises(ValueError, match="multiple of 4 from 8 to 256"):
            build_models(GANConfig(arch=arch, width=8), (1, side, side), 0)


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
@pytest.mark.parametrize("side", [8, 48, 64, 128])
def test_image_archs_follow_the_side(arch, side):
    cfg = GANConfig(arch=arch, width=4, z_dim=8, self_attention=True, spectral_norm=True)
    m = build_models(cfg, (3, side, side), 0)
    x = m["G"](torch.randn(2, 8))
    assert x.shape == (2, 3, side, side) and float(x.abs().max()) <= 1.0
    logits, feats = m["D"](x)
    assert logits.shape == (2,) and feats.shape[0] == 2
    # the smallest map is 4 to 7 pixels: the networks grow by stages, not by a wider first map
    assert any(isinstance(mod, SelfAttention) for mod in m["D"].modules())


def test_the_resnet_discriminator_sees_a_collapsed_batch_through_minibatch_std():
    cfg = GANConfig(arch="resnet", width=4, z_dim=8, spectral_norm=True, minibatch_std=True)
    D = build_models(cfg, (3, 32, 32), 0)["D"].eval()  # eval: spectral norm's u stays put
    assert any(isinstance(mod, MinibatchStd) for mod in D.modules())
    varied = torch.rand(8, 3, 32, 32) * 2 - 1
    collapsed = varied[:1].expand(8, -1, -1, -1)
    # the same image scores differently alone among copies of itself than among others
    assert not torch.allclose(D(collapsed)[0][0], D(varied)[0][0])
    with pytest.raises(ConfigError, match="minibatch_std is built into arch resnet only"):
        GANConfig(arch="dcgan", minibatch_std=True).validate()


def test_dcgan_keeps_its_28_and_32_pixel_networks():
    """The stage plan gives the same layers DCGAN had at 28 (7 -> 14 -> 28, 4w then 2w) and
    32 (4 -> 8 -> 16 -> 32, 4w, 2w, w), so earlier checkpoints still load."""
    g28 = build_models(GANConfig(width=8), (1, 28, 28), 0)["G"]
    convs = [m for m in g28.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
        (100, 32, 7), (32, 16, 4), (16, 1, 4)
    ]  # fmt: skip
    d32 = build_models(GANConfig(width=8), (3, 32, 32), 0)["D"]
    convs = [m for m in d32.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 8), (8, 16), (16, 32)]


def test_mlp_needs_vectors():
    with pytest.raises(ValueError, match="vectors"):
        build_models(GANConfig(**TINY_MLP), (1, 28, 28), 0)


@pytest.mark.parametrize(
    "bad,msg",
    [
        ({"loss": "nope"}, "loss must be"),
        ({"pack": 3}, "multiple of pack"),
        ({"loss": "hinge", "label_smoothing": 0.1}, "no meaning"),
        ({"d_optimizer": "rmsprop"}, "d_optimizer"),
        ({"replay_p": 1.5}, "replay_p"),
        ({"label_flip": 1.0}, "label_flip"),
        ({"loss": "ebgan", "arch": "resnet"}, "ebgan takes arch mlp or dcgan"),
        ({"loss": "ebgan", "condition": "projection"}, "ebgan cannot be combined"),
        ({"loss": "ebgan", "margin": 0.0}, "margin must be positive"),
        ({"pt_weight": -0.1}, "pt_weight must not be negative"),
    ],
)
def test_config_errors_are_named(bad, msg):
    with pytest.raises(ValueError, match=msg):
        GANConfig(**{**TINY_MLP, **bad}).validate()


def test_batchnorm_in_d_is_off_with_a_gradient_penalty_or_spectral_norm():
    assert GANConfig().d_uses_batchnorm()
    assert not GANConfig(loss="wgan-gp").d_uses_batchnorm()
    assert not GANConfig(spectral_norm=True).d_uses_batchnorm()


def test_spectral_norm_makes_the_largest_singular_value_one():
    cfg = GANConfig(**{**TINY_MLP, "width": 32}, spectral_norm=True)
    D = build_models(cfg, (2,), 0)["D"]
    layer = D.body[2]  # the second hidden Linear, (32, 32)
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(5.0)  # a raw weight far from norm 1
        for _ in range(30):  # each training-mode forward runs one power iteration
            D(torch.randn(8, 2))
    sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.02)
    raw = torch.linalg.matrix_norm(layer.parametrizations.weight.original.detach(), ord=2)
    assert raw.item() > 4.0  # the raw weight is not itself normalised


def test_self_attention_starts_as_identity_and_mixes_positions_later():
    a = SelfAttention(16)
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(a(x), x)
    with torch.no_grad():
        a.gamma.fill_(1.0)
    y = a(x)
    x2 = x.clone()
    x2[:, :, 0, 0] += 1.0  # changing one position changes the output elsewhere
    assert not torch.allclose(a(x2)[:, :, 3, 3], y[:, :, 3, 3])


@pytest.mark.parametrize(
    "loss", ["minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp", "dragan", "hinge", "ebgan"]
)
def test_each_phase_changes_only_its_own_network(loss):
    cfg = GANConfig(**TINY_MLP, loss=loss)
    m, tr = _training(cfg)
    d_phase, g_phase = tr.phases
    for phase, changed, fixed in ((d_phase, "D", "G"), (g_phase, "G", "D")):
        start = {k: [p.detach().clone() for p in net.parameters()] for k, net in m.items()}
        logs = run_phases([phase], tr.next_batch(0), 0)
        assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
        assert any(
            not torch.equal(a, b)
            for a, b in zip(start[changed], m[changed].parameters(), strict=True)
        )
        assert all(
            torch.equal(a, b) for a, b in zip(start[fixed], m[fixed].parameters(), strict=True)
        )
    if loss == "wgan":  # weight clipping keeps D inside [-c, c]
        assert all(p.abs().max() <= cfg.clip + 1e-7 for p in m["D"].parameters())


def test_n_critic_runs_g_every_nth_step():
    _, tr = _training(GANConfig(**TINY_MLP, n_critic=3))
    assert [("g/loss" in run_phases(tr.phases, tr.next_batch(s), s)) for s in range(4)] == [
        True,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize("d_optimizer", ["adam", "sgd"])
def test_unrolled_g_step_leaves_the_real_discriminator_unchanged(d_optimizer):
    cfg = GANConfig(**TINY_MLP, unrolled_steps=5, d_optimizer=d_optimizer, lr_d=1e-2)
    m, tr = _training(cfg)
    d_phase, g_phase = tr.phases
    run_phases([d_phase], tr.next_batch(0), 0)  # so that Adam has moments to unroll with
    d_state = {k: v.clone() for k, v in m["D"].state_dict().items()}
    opt_state = [
        {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
        for s in d_phase.optimizer.state.values()
    ]
    g_before = [p.detach().clone() for p in m["G"].parameters()]
    run_phases([g_phase], tr.next_batch(1), 1)
    assert all(torch.equal(v, m["D"].state_dict()[k]) for k, v in d_state.items())
    for old, new in zip(opt_state, d_phase.optimizer.state.values(), strict=False):
        assert all(
            torch.equal(v, new[k]) if torch.is_tensor(v) else v == new[k] for k, v in old.items()
        )
    assert any(not torch.equal(a, b) for a, b in zip(g_before, m["G"].parameters(), strict=True))


def test_unrolled_parameters_follow_the_optimizer_rule():
    # one SGD unroll step of a linear critic: theta_1 = theta_0 - lr * dL/dtheta
    D = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(D.parameters(), lr=0.5)
    x = torch.tensor([[1.0, 2.0]])
    loss = lambda params, buffers: torch.func.functional_call(D, (params, buffers), (x,)).sum()  # noqa: E731
    params, _ = unrolled_parameters(D, opt, loss, 1)
    assert torch.allclose(params["weight"], D.weight.detach() - 0.5 * x)
    assert torch.allclose(params["bias"], D.bias.detach() - 0.5)


def test_unrolling_changes_the_generator_gradient():
    grads = []
    for k in (0, 5):
        cfg = GANConfig(**TINY_MLP, unrolled_steps=k, lr_d=0.05)
        m, tr = _training(cfg)
        run_phases([tr.phases[0]], tr.next_batch(0), 0)
        loss, _ = tr.phases[1].loss(tr.next_batch(1), 1)
        grads.append(torch.autograd.grad(loss, list(m["G"].parameters()))[0])
    assert not torch.allclose(grads[0], grads[1])


def test_tricks_run_together_and_replay_is_checkpointed():
    cfg = GANConfig(
        **TINY_MLP,
        replay=16,
        label_flip=0.3,
        label_smoothing=0.1,
        instance_noise=0.5,
        lr_decay=True,
        minibatch_discrimination=True,
        pack=2,
        n_critic=2,
    )
    m, tr = _training(cfg, steps=6)
    for s in range(6):
        run_phases(tr.phases, tr.next_batch(s), s)
    assert {"replay", "sched_d", "sched_g"} <= set(tr.stateful)
    assert tr.phases[0].optimizer.param_groups[0]["lr"] == pytest.approx(
        0.0
    )  # decayed to 0 at the end
    assert tr.stateful["replay"].count == 16


def test_image_pool_fills_then_swaps_and_round_trips():
    pool = ImagePool(4, p=1.0, seed=0)
    a = torch.arange(4.0).view(4, 1)
    assert torch.equal(pool.query(a), a)  # filling: returned unchanged
    b = torch.arange(10.0, 14.0).view(4, 1)
    out = pool.query(b)
    # p = 1: every fake is swapped for a pooled one (which may be a fake stored earlier in this batch)
    assert not torch.equal(out, b) and set(out.view(-1).tolist()) & {0.0, 1.0, 2.0, 3.0}
    assert set(pool.buffer.view(-1).tolist()) & set(
        b.view(-1).tolist()
    )  # new fakes went into the pool
    state = pool.state_dict()
    twin = ImagePool(4, p=1.0, seed=99)
    twin.load_state_dict(state)
    assert torch.equal(twin.query(b), pool.query(b))


def test_instance_noise_anneals_linearly_to_zero():
    assert [instance_noise_std(s, 1.0, 4) for s in (0, 2, 4, 8)] == [1.0, 0.5, 0.0, 0.0]
    assert instance_noise_std(0, 0.0, 4) == 0.0


def test_batches_are_a_pure_function_of_the_step():
    _, tr1 = _training(GANConfig(**TINY_MLP))
    _, tr2 = _training(GANConfig(**TINY_MLP))
    assert torch.equal(tr1.next_batch(7)["z"], tr2.next_batch(7)["z"])
    assert not torch.equal(tr1.next_batch(7)["z"], tr1.next_batch(8)["z"])


def test_config_summary_names_the_loss_and_the_tricks_on():
    assert GANConfig().summary() == "nonsaturating"
    cfg = GANConfig(loss="hinge", spectral_norm=True, pack=2, lr_d=4e-4, lr_g=1e-4)
    assert cfg.summary() == "hinge, spectral_norm, pack=2, TTUR 0.0004/0.0001"


def test_g_ema_averages_g_after_each_g_step_and_is_what_samples_come_from():
    decay = 0.9
    cfg = GANConfig(**TINY_MLP, g_ema=decay)
    m, tr = _training(cfg)
    assert sampler(m) is m["G_ema"] and sampler({"G": m["G"]}) is m["G"]
    assert not any(p.requires_grad for p in m["G_ema"].parameters())
    avg0 = [p.clone() for p in m["G_ema"].parameters()]
    assert all(torch.equal(a, g) for a, g in zip(avg0, m["G"].parameters(), strict=True))
    d_phase, g_phase = tr.phases
    run_phases([d_phase], tr.next_batch(0), 0)  # D's step leaves the average alone
    assert all(torch.equal(a, p) for a, p in zip(avg0, m["G_ema"].parameters(), strict=True))
    run_phases([g_phase], tr.next_batch(0), 0)
    for a0, a, g in zip(avg0, m["G_ema"].parameters(), m["G"].parameters(), strict=True):
        assert not torch.equal(g, a0)  # G moved ...
        torch.testing.assert_close(a, decay * a0 + (1 - decay) * g)  # ... and the average by 1/10
    assert tr.stateful["G_ema"] is m["G_ema"]  # checkpointed with the rest
    with pytest.raises(ValueError, match="g_ema"):
        GANConfig(**TINY_MLP, g_ema=1.0).validate()


def test_r1_adds_half_gamma_times_the_squared_gradient_norm_at_the_reals():
    gamma = 4.0
    cfg = GANConfig(**TINY_MLP, r1=gamma)
    m, tr = _training(cfg)
    batch = tr.next_batch(0)
    loss, terms = tr.phases[0].loss(batch, 0)
    x = batch["real"].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(m["D"](x)[0].sum(), x)
    expected = g.pow(2).sum(1).mean()
    torch.testing.assert_close(terms["r1"], expected)
    torch.testing.assert_close(loss, terms["adv"] + 0.5 * gamma * expected)
    loss.backward()  # the penalty is differentiable in D's weights (double back-propagation)
    assert all(p.grad is not None for p in m["D"].parameters())
    plain_loss, plain_terms = _training(GANConfig(**TINY_MLP))[1].phases[0].loss(batch, 0)
    assert "r1" not in plain_terms and torch.allclose(plain_loss, terms["adv"])
    with pytest.raises(ValueError, match="r1"):
        GANConfig(**TINY_MLP, r1=-1.0).validate()
    # lazy: every 3rd step, 3 times the weight; none on the steps between
    _, lazy = _training(GANConfig(**TINY_MLP, r1=gamma, r1_every=3))
    loss0, terms0 = lazy.phases[0].loss(batch, 0)
    torch.testing.assert_close(loss0, terms0["adv"] + 0.5 * gamma * 3 * terms0["r1"])
    assert "r1" not in lazy.phases[0].loss(lazy.next_batch(1), 1)[1]


@pytest.mark.parametrize("shape", [(2,), (1, 28, 28), (3, 32, 32)])
def test_ebgan_d_is_an_autoencoder_whose_energy_is_its_reconstruction_error(shape):
    arch = {"arch": "mlp"} if len(shape) == 1 else {"arch": "dcgan", "width": 8}
    cfg = GANConfig(**{**TINY_MLP, **arch}, loss="ebgan")
    D = build_models(cfg, shape, 0)["D"].eval()
    x = torch.rand(4, *shape) * 2 - 1
    e, code = D(x)
    assert e.shape == (4,) and code.shape[0] == 4 and code.dim() == 2
    # the energy is the mean squared error of the decoder's reconstruction of the code
    rec = D.decoder(D.encoder(x))
    assert rec.shape == x.shape
    assert torch.allclose(e, (rec - x).pow(2).flatten(1).mean(1), atol=1e-6)


def test_ebgan_g_step_adds_the_weighted_pulling_away_term():
    cfg = GANConfig(**TINY_MLP, loss="ebgan", pt_weight=0.5)
    m, tr = _training(cfg)
    batch = tr.next_batch(0)
    logs = run_phases([tr.phases[1]], batch, 0)
    # G's loss is the fakes' mean energy + 0.5 * PT of their codes, before G's update moved
    assert logs["g/loss"] == pytest.approx(logs["g/fake"] + 0.5 * logs["g/pt"], rel=1e-5)
    assert 0.0 < logs["g/pt"] <= 1.0
