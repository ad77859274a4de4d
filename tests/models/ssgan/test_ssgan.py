import dataclasses

import pytest
import torch
from torch import nn

from ganflow.models.layers import GaussianNoise, MinibatchDiscrimination, VBNSequential
from ganflow.models.ssgan.config import ARCH_DEFAULTS, ARCH_IMAGE_SIZE, SSGANConfig, resolve
from ganflow.models.ssgan.nets import build_models
from ganflow.models.ssgan.objective import build_baseline_training, build_training

CHANNELS = {"mlp28": 1, "mlp8": 1, "mlp8s": 1, "conv28": 1, "conv28s": 1, "conv32": 3, "conv8": 1}


@pytest.mark.parametrize("arch", sorted(ARCH_IMAGE_SIZE))
def test_shapes_of_every_architecture(arch):
    size, c = ARCH_IMAGE_SIZE[arch], CHANNELS[arch]
    cfg = resolve(SSGANConfig(arch=arch, minibatch_discrimination=True, vbn_reference_size=8), size)
    m = build_models(cfg, c, num_classes=7, seed=0)
    z = torch.rand(5, cfg.z_dim)
    x = m["G"](z)
    assert x.shape == (5, c, size, size)
    logits, feats = m["D"](x)
    assert logits.shape == (5, 7) and feats.ndim == 2 and feats.shape[0] == 5


@pytest.mark.parametrize("arch", ["conv", "convs"])
@pytest.mark.parametrize("side", [32, 64, 128])
def test_the_conv_nets_follow_the_side(arch, side):
    cfg = resolve(SSGANConfig(arch=arch, vbn_reference_size=4), side)
    m = build_models(cfg, 3, num_classes=4, seed=0, size=side)
    x = m["G"](torch.rand(2, cfg.z_dim))
    assert x.shape == (2, 3, side, side) and 0 <= float(x.min()) <= float(x.max()) <= 1
    logits, feats = m["D"](x)
    assert logits.shape == (2, 4) and feats.shape == (
        2,
        192 if arch == "conv" else 128 + 128 * (side > 32),
    )


def _has(module: nn.Module, kind: type) -> bool:
    return any(isinstance(m, kind) for m in module.modules())


def test_every_trick_switches_from_the_config():
    on = resolve(
        SSGANConfig(minibatch_discrimination=True, virtual_batch_norm=True, weight_norm=True),
        8,
    )
    off = dataclasses.replace(
        on,
        minibatch_discrimination=False,
        virtual_batch_norm=False,
        weight_norm=False,
        input_noise=0.0,
        hidden_noise=0.0,
    )
    m_on, m_off = build_models(on, 1, 10, 0), build_models(off, 1, 10, 0)
    assert _has(m_on["D"], MinibatchDiscrimination) and not _has(
        m_off["D"], MinibatchDiscrimination
    )
    assert isinstance(m_on["G"], VBNSequential) and _has(
        m_off["G"], nn.modules.batchnorm._BatchNorm
    )
    assert _has(m_on["D"], GaussianNoise) and not _has(m_off["D"], GaussianNoise)
    wn = lambda m: any("parametrizations" in n for n, _ in m.named_parameters())  # noqa: E731
    assert wn(m_on["D"]) and not wn(m_off["D"])


def test_head_noise_perturbs_the_classifier_input_in_training_only():
    """head_noise: Gaussian noise on D's features before the head (the released MNIST net);
    the features feature matching reads stay clean, and evaluation is deterministic."""
    cfg = resolve(SSGANConfig(arch="mlp28", head_noise=0.5), 28)
    D = build_models(cfg, 1, 10, 0)["D"]
    x = torch.rand(4, 1, 28, 28)
    D.body.eval()  # the body's own noise off: only the head's remains
    (a, fa), (b, fb) = D(x), D(x)
    assert torch.equal(fa, fb) and not torch.allclose(a, b)
    D.eval()
    (a, _), (b, _) = D(x), D(x)
    assert torch.equal(a, b)
    quiet = build_models(resolve(SSGANConfig(arch="mlp28"), 28), 1, 10, 0)["D"]
    quiet.body.eval()
    assert torch.equal(quiet(x)[0], quiet(x)[0])  # 0, the default: no noise there
    with pytest.raises(ValueError, match="head_noise"):
        SSGANConfig(head_noise=-1.0).validate()


def test_resolve_fills_arch_defaults_and_rejects_mismatches():
    cfg = resolve(SSGANConfig(), 28)
    assert cfg.arch == "mlp28" and cfg.input_noise == ARCH_DEFAULTS["mlp28"]["input_noise"]
    assert resolve(SSGANConfig(), 8).arch == "mlp8"
    assert resolve(SSGANConfig(input_noise=0.0), 28).input_noise == 0.0
    with pytest.raises(ValueError, match="takes 28x28"):
        resolve(SSGANConfig(arch="mlp28"), 32)
    # other sides take the conv nets that follow the side: the narrow one on a CPU
    assert resolve(SSGANConfig(), 64).arch == "scat" and resolve(SSGANConfig(), 12).arch == "convs"
    assert resolve(SSGANConfig(), 64, accelerated=True).arch == "conv"
    assert resolve(SSGANConfig(), 32, accelerated=True).arch == "conv32"
    with pytest.raises(ValueError, match="multiple of 4 from 8 to 256; got 66"):
        resolve(SSGANConfig(), 66)
    with pytest.raises(ValueError, match=r"unknown SSGANConfig key\(s\) \[.learning_rate.\]"):
        SSGANConfig.from_dict({"learning_rate": 1})


def _tiny_training(**over):
    torch.manual_seed(0)
    over.setdefault("graph_weight", 0.0)  # its tests give data["graph"] themselves
    cfg = resolve(SSGANConfig(batch_size=8, labelled_batch_size=6, vbn_reference_size=4, **over), 8)
    models = build_models(cfg, 1, 3, seed=0)
    data = {
        "x_lab": torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8),
        "y_lab": torch.tensor([0, 1, 2, 0, 1, 2]),
        "x_unl": torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8),
    }
    return models, cfg, data


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"feature_matching": False, "minibatch_discrimination": True},
        {"historical_averaging": 0.01, "label_smoothing": 0.1},
    ],
)
def test_each_gan_phase_changes_only_its_own_player(over):
    models, cfg, data = _tiny_training(**over)
    training = build_training(models, cfg, data, total_steps=10, seed=0)
    d_phase, g_phase = training.phases
    batch = training.next_batch(0)
    for phase, changed, fixed in ((d_phase, "D", "G"), (g_phase, "G", "D")):
        before = {k: {n: p.clone() for n, p in m.state_dict().items()} for k, m in models.items()}
        from ganflow.models.engine import run_phases

        run_phases([phase], batch, 0)
        after = {k: m.state_dict() for k, m in models.items()}
        assert any(not torch.equal(before[changed][n], after[changed][n]) for n in after[changed])
        assert all(
            torch.equal(before[fixed][n], after[fixed][n])
            for n in after[fixed]
            if "running" not in n and "num_batches" not in n
        )


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("kind", ["gan", "baseline"])
def test_frozen_scales_keep_the_hidden_layers_weight_norm_scales(frozen, kind):
    """frozen_scales: the optimiser never moves the weight-norm scales g of D's body (the
    released MNIST code's train_scale=False); the head's scale and the directions train."""
    from ganflow.models.engine import run_phases

    models, cfg, data = _tiny_training(frozen_scales=frozen)
    build = build_training if kind == "gan" else build_baseline_training
    training = build(models, cfg, data, total_steps=10, seed=0)
    D = models["D"]
    before = {n: p.clone() for n, p in D.named_parameters()}
    for step in range(3):
        run_phases(training.phases, training.next_batch(step), step)
    moved = {n for n, p in D.named_parameters() if not torch.equal(p, before[n])}
    scales = {n for n in before if n.startswith("body.") and n.endswith("original0")}
    assert scales and "head.parametrizations.weight.original0" in moved
    assert any(n.endswith("original1") for n in moved)
    assert (scales & moved == set()) if frozen else scales <= moved


def test_baseline_trains_the_classifier_on_labelled_data_only():
    models, cfg, data = _tiny_training(historical_averaging=0.5)
    training = build_baseline_training(models, cfg, data, total_steps=5, seed=0)
    assert [p.name for p in training.phases] == ["sup"]
    assert "hist_d" not in training.stateful  # historical averaging is a GAN trick
    assert set(training.next_batch(0)) == {"x_lab", "y_lab"}


def test_after_each_step_the_averages_follow_the_weights():
    """The K+1 GAN's after-step hooks: D's EMA moves to d * ema + (1 - d) * D after a d step
    (d: the warmed-up decay), and each player's historical average to the running mean of its weights."""
    from ganflow.models.engine import run_phases

    models, cfg, data = _tiny_training(historical_averaging=0.01, ema_decay=0.9)
    training = build_training(models, cfg, data, total_steps=10, seed=0)
    st = training.stateful
    D, G = models["D"], models["G"]
    shadow0 = {k: v.clone() for k, v in st["ema_d"].shadow.items()}
    hist0 = {
        name: {k: v.clone() for k, v in st[name].average.items()} for name in ("hist_d", "hist_g")
    }
    d = st["ema_d"].current_decay()
    assert d == 2 / 11  # warmed up: the first update forgets most of the initial weights
    run_phases(training.phases, training.next_batch(0), 0)
    for k, v in D.state_dict().items():
        if v.dtype.is_floating_point:
            assert torch.allclose(st["ema_d"].shadow[k], d * shadow0[k] + (1 - d) * v)
    moved = [
        k
        for k, v in D.state_dict().items()
        if v.dtype.is_floating_point and not torch.equal(v, shadow0[k])
    ]
    assert moved and all(not torch.equal(st["ema_d"].shadow[k], shadow0[k]) for k in moved)
    for name, module in (("hist_d", D), ("hist_g", G)):
        assert st[name].count == 2
        for k, q in module.named_parameters():  # the mean of the initial and the stepped weights
            assert torch.allclose(st[name].average[k], (hist0[name][k] + q.detach()) / 2, atol=1e-6)
        assert any(not torch.equal(st[name].average[k], hist0[name][k]) for k in hist0[name])


@pytest.mark.parametrize("mbd", [False, True])
def test_d_phase_scores_its_batches_as_d_scores_each_alone(mbd):
    from ganflow.models.ssgan.objective import SSGANObjective

    cfg = resolve(SSGANConfig(minibatch_discrimination=mbd), 8)
    D = build_models(cfg, 1, 10, 0)["D"].eval()  # eval: no noise, so the passes compare
    obj = SSGANObjective(D, None, cfg)
    a, b, c = torch.rand(5, 1, 8, 8), torch.rand(7, 1, 8, 8), torch.rand(3, 1, 8, 8)
    for got, x in zip(obj._d_logits(a, b, c), (a, b, c), strict=True):
        torch.testing.assert_close(got, D(x)[0])


@pytest.mark.parametrize("mbd", [False, True])
def test_g_phase_is_feature_matching_of_separate_passes(mbd):
    """However the g phase batches its passes, the loss and every gradient (G's, and D's,
    which must come from the fake batch alone) are those of D scoring each batch alone."""
    from ganflow.models.losses import feature_matching_loss
    from ganflow.models.ssgan.objective import SSGANObjective

    cfg = resolve(SSGANConfig(minibatch_discrimination=mbd, batch_size=16), 8)
    models = build_models(cfg, 1, 10, 0)
    D, G = models["D"].eval(), models["G"]  # eval: no noise, so the passes compare
    x = torch.rand(16, 1, 8, 8)

    def loss_and_grads(loss_fn):
        D.zero_grad(), G.zero_grad()
        torch.manual_seed(1)
        loss = loss_fn()
        loss.backward()
        return loss.detach(), [p.grad for m in (D, G) for p in m.parameters()]  # D's head: None

    obj = SSGANObjective(D, G, cfg)
    got = loss_and_grads(lambda: obj.g({"x_unl2": x}, 0)[0])
    want = loss_and_grads(lambda: feature_matching_loss(D(x)[1], D(obj.fake())[1]))
    torch.testing.assert_close(got[0], want[0])
    for a, b in zip(got[1], want[1], strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)


def test_augment_and_consistency_settings_are_checked_and_resolved():
    from ganflow.models.config import ConfigError

    with pytest.raises(ConfigError, match="augment must be one of none, shift, shift-flip"):
        SSGANConfig().with_overrides({"augment": "rotate"})
    with pytest.raises(ConfigError, match="consistency must not be negative"):
        SSGANConfig().with_overrides({"consistency": -1.0})
    assert resolve(SSGANConfig(), 28).aug_shift == 2
    assert resolve(SSGANConfig(), 8).aug_shift == 1
    assert resolve(SSGANConfig(aug_shift=0), 8).aug_shift == 0


def test_graph_settings_are_checked_and_the_weight_resolved():
    from ganflow.models.config import ConfigError
    from ganflow.models.ssgan.config import GRAPH_WEIGHT

    bad = [
        ("graph_weight", -1.0, "must not be negative"),
        ("graph_k", 0, "must be at least 1"),
        ("graph_alpha", 1.0, r"must be in \(0, 1\)"),
        ("graph_alpha_grid", [0.95, 0.0], r"graph_alpha_grid\[1\] must be in \(0, 1\)"),
        ("graph_alpha_grid", [], "must hold at least one alpha"),
        ("graph_prior_alpha", 0.0, r"graph_prior_alpha must be in \(0, 1\)"),
        ("graph_gamma", -1.0, "must not be negative"),
    ]
    for key, value, says in bad:
        with pytest.raises(ConfigError, match=says):
            SSGANConfig().with_overrides({key: value})
    assert resolve(SSGANConfig(), 28).graph_weight == GRAPH_WEIGHT > 0
    assert resolve(SSGANConfig(), 8).graph_weight == GRAPH_WEIGHT
    assert resolve(SSGANConfig(arch="mlp28"), 28).graph_weight == GRAPH_WEIGHT
    assert resolve(SSGANConfig(graph_weight=0.0), 28).graph_weight == 0.0
    assert resolve(SSGANConfig(graph_weight=2.0), 8).graph_weight == 2.0


def test_a_training_with_a_graph_term_but_no_graph_is_refused():
    models, cfg, data = _tiny_training(graph_weight=1.0)
    with pytest.raises(ValueError, match="graph"):
        build_training(models, cfg, data, total_steps=10, seed=0)


def test_augmented_batches_shift_the_real_images_and_carry_a_second_view():
    models, cfg, data = _tiny_training()
    plain = build_training(models, cfg, data, total_steps=10, seed=0).next_batch(3)
    assert "x_unl_b" not in plain
    models, cfg, data = _tiny_training(augment="shift-flip", consistency=1.0)
    aug = build_training(models, cfg, data, total_steps=10, seed=0).next_batch(3)
    assert torch.equal(aug["y_lab"], plain["y_lab"])  # the same images, other views
    for key in ("x_lab", "x_unl"):
        assert aug[key].shape == plain[key].shape and not torch.equal(aug[key], plain[key])
    assert not torch.equal(aug["x_unl_b"], aug["x_unl"])
    assert torch.equal(aug["x_unl2"], plain["x_unl2"])  # the feature-matching target is not
    models, cfg, data = _tiny_training(consistency=1.0)  # no augmentation: the same view twice
    pi = build_training(models, cfg, data, total_steps=10, seed=0).next_batch(3)
    assert torch.equal(pi["x_unl_b"], pi["x_unl"])


def _d_phase_and_logits(models, cfg, batch, keys):
    """The d phase's loss and terms on `batch` (D in eval mode: no noise, so the passes
    compare), and D's logits of batch[key] for each key and of the fake batch the phase drew
    (the same z, from the same seed), for the expected loss by hand."""
    from ganflow.models.ssgan.objective import SSGANObjective

    D, G = models["D"].eval(), models["G"]
    torch.manual_seed(4)
    loss, terms = SSGANObjective(D, G, cfg).d(batch, 0)
    torch.manual_seed(4)
    with torch.no_grad():
        fake = G(torch.rand(cfg.batch_size, cfg.z_dim))
        logits = [D(batch[key])[0] for key in keys] + [D(fake)[0]]
    return loss, terms, logits


def test_d_phase_adds_the_consistency_and_entropy_terms_with_their_weights():
    from ganflow.models.losses import (
        consistency_loss,
        entropy_loss,
        supervised_loss,
        unsupervised_loss,
    )

    models, cfg, data = _tiny_training(augment="shift", consistency=3.0, entropy_weight=0.5)
    batch = build_training(models, cfg, data, total_steps=10, seed=0).next_batch(0)
    loss, terms, (lab, unl, unl_b, fk) = _d_phase_and_logits(
        models, cfg, batch, ["x_lab", "x_unl", "x_unl_b"]
    )
    with torch.no_grad():
        expected = (
            supervised_loss(lab, batch["y_lab"])
            + unsupervised_loss(unl, fk)
            + 3.0 * consistency_loss(unl, unl_b)
            + 0.5 * entropy_loss(unl)
        )
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["cons"], consistency_loss(unl, unl_b), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["ent"], entropy_loss(unl), rtol=1e-5, atol=1e-6)


def test_neighbour_batches_hold_one_listed_neighbour_of_each_unlabelled_image():
    models, cfg, data = _tiny_training(neighbour_weight=1.0, neighbour_k=2)
    # image i's neighbours are i+1 and i+2 (mod 20); each image is distinct (its index)
    data["x_unl"] = torch.arange(20, dtype=torch.uint8)[:, None, None, None].expand(20, 1, 8, 8)
    data["neighbours"] = torch.stack([(torch.arange(20) + d) % 20 for d in (1, 2)], 1)
    training = build_training(models, cfg, data, total_steps=10, seed=0)
    picks = []
    for step in range(4):
        b = training.next_batch(step)
        own = (b["x_unl"][:, 0, 0, 0] * 255).round().long()
        nbr = (b["x_nbr"][:, 0, 0, 0] * 255).round().long()
        offset = (nbr - own) % 20
        assert set(offset.tolist()) <= {1, 2}  # a listed neighbour, never the image itself
        picks += offset.tolist()
        assert torch.equal(b["x_nbr"], training.next_batch(step)["x_nbr"])  # (seed, step)
    assert set(picks) == {1, 2}  # both neighbours are drawn


def test_d_phase_adds_the_neighbour_consistency_with_its_weight():
    from ganflow.models.losses import consistency_loss, supervised_loss, unsupervised_loss

    models, cfg, data = _tiny_training(neighbour_weight=2.0, consistency=3.0)
    data["neighbours"] = torch.stack([(torch.arange(20) + d) % 20 for d in (1, 2, 3)], 1)
    batch = build_training(models, cfg, data, total_steps=10, seed=0).next_batch(0)
    assert not torch.equal(batch["x_nbr"], batch["x_unl"])
    loss, terms, (lab, unl, unl_b, nbr, fk) = _d_phase_and_logits(
        models, cfg, batch, ["x_lab", "x_unl", "x_unl_b", "x_nbr"]
    )
    with torch.no_grad():
        expected = (
            supervised_loss(lab, batch["y_lab"])
            + unsupervised_loss(unl, fk)
            + 3.0 * consistency_loss(unl, unl_b)
            + 2.0 * consistency_loss(unl, nbr)
        )
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["nbr"], consistency_loss(unl, nbr), rtol=1e-5, atol=1e-6)


def test_graph_batches_carry_each_unlabelled_image_s_spread_labels():
    models, cfg, data = _tiny_training(graph_weight=1.0)
    # image i is distinct (its index); its spread distribution puts i / 19 on class 0
    data["x_unl"] = torch.arange(20, dtype=torch.uint8)[:, None, None, None].expand(20, 1, 8, 8)
    p = torch.arange(20).float() / 19
    data["graph"] = torch.stack([p, 1 - p, torch.zeros(20)], 1)
    training = build_training(models, cfg, data, total_steps=10, seed=0)
    for step in range(3):
        b = training.next_batch(step)
        own = (b["x_unl"][:, 0, 0, 0] * 255).round().long()
        assert torch.equal(b["y_graph"], data["graph"][own])


@pytest.mark.parametrize("certainty", [True, False])
def test_d_phase_adds_the_graph_label_term_with_its_weight(certainty):
    from ganflow.models.losses import graph_label_loss, supervised_loss, unsupervised_loss

    models, cfg, data = _tiny_training(graph_weight=2.5, graph_certainty=certainty)
    g = torch.Generator().manual_seed(3)
    data["graph"] = torch.rand(20, 3, generator=g).softmax(1)
    batch = build_training(models, cfg, data, total_steps=10, seed=0).next_batch(0)
    loss, terms, (lab, unl, fk) = _d_phase_and_logits(models, cfg, batch, ["x_lab", "x_unl"])
    with torch.no_grad():
        l_graph = graph_label_loss(unl, batch["y_graph"], certainty)
        expected = supervised_loss(lab, batch["y_lab"]) + unsupervised_loss(unl, fk) + 2.5 * l_graph
    assert l_graph > 0
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["graph"], l_graph, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("side", [16, 32, 64])
def test_the_hybrid_scattering_d_reads_images_and_its_own_maps_alike(channels, side):
    from ganflow.models.layers import weight_norm_data_init

    cfg = resolve(SSGANConfig(arch="scat", vbn_reference_size=4), side)
    m = build_models(cfg, channels, num_classes=4, seed=0, size=side)
    x = m["G"](torch.rand(6, cfg.z_dim)).detach()
    assert x.shape == (6, channels, side, side)
    D = m["D"].eval()
    weight_norm_data_init(D, x)
    front = D.body[0]
    assert front.side == min(side, 32) and D.body[1].std.min() != 1.0  # standardised from data
    maps = front(x)
    assert maps.shape == (6, front.out_channels, front.side // 4, front.side // 4)
    (a, fa), (b, fb) = D(x), D(maps.half().float())  # the precomputed (float16) path
    assert a.shape == (6, 4) and fa.shape == (6, 256)
    assert torch.allclose(a, b, atol=0.05) and torch.allclose(fa, fb, atol=0.05)
    assert not torch.allclose(a[0], a[1])
    # the filters are rebuilt, not saved; the standardisation is saved
    keys = D.state_dict().keys()
    assert not any("scattering" in k for k in keys) and "body.1.mean" in keys
    with pytest.raises(ValueError, match="16 pixels or more"):
        build_models(resolve(SSGANConfig(arch="scat"), 8), 1, 4, 0, 8)


def test_scat_batches_are_views_of_precomputed_maps_drawn_by_step():
    from ganflow.models.ssgan.objective import make_batches

    cfg = resolve(SSGANConfig(arch="scat", augment="shift-flip", batch_size=8, graph_weight=1.0,
                              labelled_batch_size=4, vbn_reference_size=4), 32)  # fmt: skip
    maps = torch.stack([torch.zeros(20, 83, 8, 8), torch.ones(20, 83, 8, 8)], 1).half()
    maps[:, :, 0, 0, 0] = torch.arange(20.0)[:, None]  # each image's index, in both views
    data = {"x_lab": torch.zeros(5, 3, 32, 32, dtype=torch.uint8), "y_lab": torch.arange(5),
            "x_unl": torch.zeros(20, 3, 32, 32, dtype=torch.uint8), "maps": maps,
            "maps_lab": maps[:5], "graph": torch.rand(20, 5)}  # fmt: skip
    batches = make_batches(data, cfg, seed=1, unlabelled=True)
    b = batches(7)
    assert b["x_unl"].shape == (8, 83, 8, 8) and b["x_lab"].shape == (4, 83, 8, 8)
    assert all(torch.equal(b[k], batches(7)[k]) for k in b)  # a pure function of the step
    views = torch.stack([batches(t)["x_unl"][:, 1, 0, 0] for t in range(10)])
    assert set(views.unique().tolist()) == {0.0, 1.0}  # both the image and its mirror
    j = b["x_unl"][:, 0, 0, 0].long()
    assert torch.equal(b["y_graph"], data["graph"][j])  # the labels of the images drawn
