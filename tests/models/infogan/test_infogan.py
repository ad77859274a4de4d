"""InfoGAN: the information bound against its closed form, the two phases' terms by hand,
which networks each phase trains, the traversal, and that training raises the bound and
lets the categorical code cluster digits."""

import math
from pathlib import Path

import pytest
import torch

from ganflow.models import losses
from ganflow.models.config import ConfigError
from ganflow.models.engine import run_phases
from ganflow.models.infogan.config import InfoGANConfig
from ganflow.models.infogan.nets import CodeReader, build_models
from ganflow.models.infogan.objective import (
    InfoGANObjective,
    build_training,
    code_vector,
    draw_codes,
)
from ganflow.models.infogan.sampling import traversal


def test_information_bound_against_the_closed_form_for_a_known_q():
    # Q gives the drawn value probability 0.7 (categorical, K = 3) and mean 0.5 for a
    # continuous code drawn at 0: L_I = log 3 + log 0.7 + log 2 - (0.125 + log(2 pi) / 2)
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    nll_cat = losses.categorical_code_nll(logits, torch.tensor([0]))
    nll_cont = losses.gaussian_code_nll(torch.tensor([[0.5]]), torch.tensor([[0.0]]))
    assert nll_cat.item() == pytest.approx(-math.log(0.7))
    assert nll_cont.item() == pytest.approx(0.125 + 0.5 * math.log(2 * math.pi))
    bound = losses.information_lower_bound(nll_cat, 3, nll_cont, 1)
    expected = math.log(3) + math.log(0.7) + math.log(2) - 0.125 - 0.5 * math.log(2 * math.pi)
    assert bound.item() == pytest.approx(expected)
    # a Q certain of the right value reaches the entropy of the code, log K: the bound is tight
    sure = torch.tensor([[0.0, -1e4, -1e4], [-1e4, 0.0, -1e4]])
    tight = losses.information_lower_bound(
        losses.categorical_code_nll(sure, torch.tensor([0, 1])), 3, 0.0, 0
    )
    assert tight.item() == pytest.approx(math.log(3))


def test_codes_and_the_code_vector():
    cfg = InfoGANConfig(z_dim=4, categorical=3, continuous=2)
    codes = draw_codes(cfg, 500, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert codes["z"].shape == (500, 4) and codes["c"].shape == (500, 5)
    assert set(codes["cat"].tolist()) == {0, 1, 2}
    assert codes["cont"].min() >= -1 and codes["cont"].max() <= 1
    assert torch.equal(codes["c"], code_vector(cfg, codes["cat"], codes["cont"]))
    assert torch.equal(codes["c"][:, :3].argmax(1), codes["cat"])


@pytest.mark.parametrize(
    ("shape", "arch"), [((1, 8, 8), "mlp"), ((1, 28, 28), "conv"), ((3, 32, 32), "conv")]
)
def test_shapes(shape, arch):
    cfg = InfoGANConfig(width=8, fc=32, categorical=4, continuous=1)
    assert cfg.network(shape[1]) == arch
    m = build_models(cfg, shape, 0)
    codes = draw_codes(cfg, 6, torch.Generator().manual_seed(1), torch.device("cpu"))
    x = m["G"](codes["z"], codes["c"])
    assert x.shape == (6, *shape) and x.abs().max() <= 1
    logits, f = m["D"](x)
    cat, cont = m["Q"](f)
    assert logits.shape == (6,) and cat.shape == (6, 4) and cont.shape == (6, 1)
    cat2, _ = CodeReader(m["D"], m["Q"])((x + 1) / 2)
    assert torch.allclose(cat, cat2, atol=1e-5)


def test_config_refusals():
    for bad in (
        {"categorical": 1},
        {"categorical": 0, "continuous": 0},
        {"arch": "resnet"},
        {"info_weight": -1.0},
        {"z_dim": 0},
        {"partition_weight": -1.0},
        {"partition_weight": 1.0, "categorical": 0},
    ):
        with pytest.raises(ConfigError):
            InfoGANConfig().with_overrides(bad)
    with pytest.raises(ValueError, match="divisible by 4"):
        build_models(InfoGANConfig(arch="conv"), (1, 30, 30), 0)


def _setup(cfg, n=64):
    torch.manual_seed(0)
    real = torch.rand(n, 1, 8, 8) * 2 - 1
    models = build_models(cfg, (1, 8, 8), 0)
    training = build_training(models, cfg, lambda step: real[:16], seed=0)
    return models, training


def test_phase_losses_are_the_gan_terms_plus_the_weighted_information_terms():
    cfg = InfoGANConfig(
        width=8, categorical=3, continuous=2, info_weight=2.0, continuous_weight=0.3
    )
    models, training = _setup(cfg)
    G, D, Q = models["G"], models["D"], models["Q"]
    obj = InfoGANObjective(G, D, Q, cfg)
    batch = training.next_batch(0)
    torch.manual_seed(0)
    loss_d, terms_d = obj.d(batch, 0)
    loss_g, terms_g = obj.g(batch, 0)
    # by hand, from the same networks in the same (train) mode
    fake = G(batch["z"], batch["c"])
    out_r, _ = D(batch["real"])
    out_f, f_f = D(fake)
    cat, mean = Q(f_f)
    nll_cat = torch.nn.functional.cross_entropy(cat, batch["cat"])
    nll_cont = (0.5 * (batch["cont"] - mean) ** 2 + 0.5 * math.log(2 * math.pi)).sum(1).mean()
    info = 2.0 * nll_cat + 0.3 * nll_cont
    d_adv = torch.nn.functional.softplus(-out_r).mean() + torch.nn.functional.softplus(out_f).mean()
    g_adv = torch.nn.functional.softplus(-out_f).mean()
    assert loss_d.item() == pytest.approx((d_adv + info).item(), rel=1e-5)
    assert loss_g.item() == pytest.approx((g_adv + info).item(), rel=1e-5)
    mi = math.log(3) + 2 * math.log(2) - nll_cat.item() - nll_cont.item()
    assert terms_g["mi"].item() == pytest.approx(mi, rel=1e-5)


def test_the_graph_prior_adds_q_s_cross_entropy_to_the_parts_on_the_real_images():
    cfg = InfoGANConfig(width=8, categorical=3, continuous=1, partition_weight=0.7)
    torch.manual_seed(0)
    real, parts = torch.rand(16, 1, 8, 8) * 2 - 1, torch.randint(0, 3, (16,))
    models = build_models(cfg, (1, 8, 8), 0)
    training = build_training(models, cfg, lambda step: (real, parts), seed=0)
    batch = training.next_batch(0)
    assert torch.equal(batch["part"], parts) and torch.equal(batch["real"], real)
    G, D, Q = models["G"], models["D"], models["Q"]
    obj = InfoGANObjective(G, D, Q, cfg)
    torch.manual_seed(0)
    loss, terms = obj.d(batch, 0)
    plain, _ = obj.d({k: v for k, v in batch.items() if k != "part"}, 0)
    part = torch.nn.functional.cross_entropy(Q(D(real)[1])[0], parts)
    assert terms["part"].item() == pytest.approx(part.item(), rel=1e-5)
    assert loss.item() == pytest.approx(plain.item() + 0.7 * part.item(), rel=1e-5)
    # the g phase does not see the parts: G learns them only through Q's reading of c
    assert "part" not in obj.g(batch, 0)[1]


def test_the_real_batches_carry_their_part_of_the_cached_graph_partition(
    digits_bundle, tmp_path, monkeypatch
):
    from ganflow.models.engine import IndexStream
    from ganflow.tasks.data import neighbours
    from ganflow.tasks.data.bundle import load_bundle
    from ganflow.tasks.train.infogan import setup
    from ganflow.tasks.train.trainer import RunConfig

    source = Path(digits_bundle["path"])  # a copy: its caches are this test's alone
    bundle_path = tmp_path / source.name
    bundle_path.write_bytes(source.read_bytes())
    bundle = load_bundle(bundle_path)
    cfg = InfoGANConfig(width=8, categorical=10, continuous=1, partition_weight=1.0)
    s = setup(bundle, cfg, RunConfig(epochs=1), torch.device("cpu"), bundle_path)
    parts = neighbours.graph_partition(bundle.x_train, bundle_path, 10, 0)
    assert parts.shape == (len(bundle.x_train),) and set(parts.tolist()) == set(range(10))
    idx = IndexStream(len(bundle.x_train), cfg.batch_size, 0)(3)
    assert torch.equal(s.training.next_batch(3)["part"], parts[idx])
    # the parts follow the classes far above chance: the graph is of scattering features
    y = bundle.y_train
    agree = sum(torch.bincount(y[parts == p]).max().item() for p in range(10)) / len(y)
    assert agree > 0.6
    # computed once: a second setup reads the cached front end, table and partition
    monkeypatch.setattr(neighbours, "spectral_partition", None)
    monkeypatch.setattr(neighbours, "nearest_neighbours", None)
    again = setup(bundle, cfg, RunConfig(epochs=1), torch.device("cpu"), bundle_path)
    assert torch.equal(again.training.next_batch(3)["part"], parts[idx])


def test_d_phase_trains_d_and_q_and_g_phase_trains_only_g():
    cfg = InfoGANConfig(width=8, categorical=3, continuous=1)
    models, training = _setup(cfg)
    d_phase, g_phase = training.phases

    def snap():
        return {k: [p.detach().clone() for p in m.parameters()] for k, m in models.items()}

    def changed(before):
        return {
            k
            for k, m in models.items()
            if any(not torch.equal(a, p) for a, p in zip(before[k], m.parameters(), strict=True))
        }

    before = snap()
    run_phases([d_phase], training.next_batch(0), 0)
    assert changed(before) == {"D", "Q"}
    before = snap()
    run_phases([g_phase], training.next_batch(1), 1)
    assert changed(before) == {"G"}


def test_g_gets_a_gradient_from_the_information_term_alone():
    """With D's head zeroed G's adversarial gradient vanishes; the information term still
    reaches it (a no-op info term would fail here)."""
    cfg = InfoGANConfig(width=8, categorical=3, continuous=1)
    models, training = _setup(cfg)
    torch.nn.init.zeros_(models["D"].head.weight)
    obj = InfoGANObjective(models["G"], models["D"], models["Q"], cfg)
    loss, _ = obj.g(training.next_batch(0), 0)
    adv = losses.g_nonsaturating(
        models["D"](models["G"](*(training.next_batch(0)[k] for k in ("z", "c"))))[0]
    )
    g_info = torch.autograd.grad(loss - adv, list(models["G"].parameters()), allow_unused=True)
    assert sum(float(g.abs().sum()) for g in g_info if g is not None) > 0


def test_traversal_rows_are_code_values_and_columns_vary_one_code():
    cfg = InfoGANConfig(width=8, categorical=3, continuous=2)
    G = build_models(cfg, (1, 8, 8), 0)["G"]
    x = traversal(G, cfg, 1, columns=5)
    assert x.shape == (15, 1, 8, 8)
    rows = x.view(3, 5, -1)
    assert not torch.allclose(rows[0], rows[1])  # another categorical value
    assert not torch.allclose(rows[0, 0], rows[0, -1])  # the code varied along the row
    with pytest.raises(ValueError, match="does not exist"):
        traversal(G, cfg, 2)


def test_training_raises_the_bound_and_the_code_clusters_digits(digits_bundle, tmp_path):
    from ganflow.tasks.evaluate.clustering import score_clusters
    from ganflow.tasks.train.infogan import train_infogan
    from ganflow.tasks.train.trainer import RunConfig

    cfg = InfoGANConfig(width=32, categorical=10, continuous=1)
    out = train_infogan(digits_bundle["path"], cfg, RunConfig(epochs=40, log_every=10), tmp_path)
    hist = torch.load(out["checkpoint"], weights_only=True)["history"]
    mi = [h["g/mi"] for h in hist if "g/mi" in h]
    assert sum(mi[-5:]) / 5 > sum(mi[:3]) / 3 + 0.5  # Q learns to read the code from G's images
    s = score_clusters(out["checkpoint"], digits_bundle["path"])
    # chance is about 0.1; an untrained code reads far less than this
    assert s["hungarian_accuracy"] > 0.4 and len(s["cluster_sizes"]) == 10


def test_the_graph_partition_takes_small_sets_and_refuses_too_small_ones(tmp_path):
    from ganflow.tasks.data.neighbours import graph_partition

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (30, 1, 8, 8), generator=g, dtype=torch.uint8)
    parts = graph_partition(x, tmp_path / "b.pt", 3, 0)  # fewer neighbours and dims than 20, 100
    assert parts.shape == (30,) and set(parts.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="more than 20 training images, got 15"):
        graph_partition(x[:15], tmp_path / "c.pt", 10, 0)
