"""Adversarial autoencoder: shapes, priors, phase isolation, resume and cluster mapping."""

import numpy as np
import pytest
import torch

from ganflow.models.aae.config import AAEConfig
from ganflow.models.aae.nets import FrontEndEncoder, build_models
from ganflow.models.aae.objective import build_training
from ganflow.models.aae.priors import mixture_means, sample_categorical, sample_prior
from ganflow.models.engine import run_phases
from ganflow.tasks.data.neighbours import neighbour_table

SHAPE = (1, 8, 8)


def _data(n: int = 64, labelled: bool = False, front=None) -> dict[str, torch.Tensor]:
    """Random images (and their neighbours); with a scattering front end, its features."""
    g = torch.Generator().manual_seed(0)
    d = {"x": torch.randint(0, 256, (n, *SHAPE), generator=g, dtype=torch.uint8)}
    d["neighbours"] = neighbour_table(d["x"], 5)
    d["init_labels"] = torch.arange(n) % 2  # a partition for the init phase (any clusters >= 2)
    if labelled:
        d.update(x_lab=d["x"][:20], y_lab=torch.arange(20) % 10)
    if front is not None:
        d["f"] = front.fit(d["x"])
        if labelled:
            d["f_lab"] = d["f"][:20]
    return d


def _cfg(**kw) -> AAEConfig:
    kw.setdefault("neighbours", 5)
    kw.setdefault("frontend", "pixels")
    return AAEConfig(hidden=32, batch_size=16, labelled_batch_size=10, **kw)


def test_networks_and_priors_have_the_right_shapes():
    cfg = _cfg(clusters=16, z_dim=5)
    m = build_models(SHAPE, cfg, 10, seed=0)
    logits, z = m["E"](torch.rand(4, *SHAPE))
    assert logits.shape == (4, 16) and z.shape == (4, 5)
    assert m["Dec"](logits.softmax(1), z).shape == (4, *SHAPE)
    assert m["D_y"](torch.rand(4, 16)).shape == (4, 1) and m["D_z"](z).shape == (4, 1)
    y = sample_categorical(1000, 16, torch.Generator().manual_seed(0))
    assert torch.equal(y.sum(1), torch.ones(1000)) and set(y.argmax(1).tolist()) == set(range(16))
    soft = sample_categorical(5, 16, bound=5.0)
    assert torch.allclose(soft.sum(1), torch.ones(5)) and (soft.max(1).values < 1).all()
    mix = AAEConfig(clusters=0, z_dim=2, prior="mixture")
    z = sample_prior(2000, mix, labels=torch.full((2000,), 3))
    assert torch.allclose(
        z.mean(0), mixture_means()[3], atol=0.05
    )  # labelled draws sit on their component
    with pytest.raises(ValueError, match="2-D"):
        AAEConfig(z_dim=3, prior="mixture").validate()
    with pytest.raises(ValueError, match="clusters"):
        AAEConfig(clusters=1).validate()


@pytest.mark.parametrize(
    "semi,frontend",
    [(False, "pixels"), (True, "pixels"), (False, "scattering"), (True, "scattering")],
)
def test_each_phase_changes_only_its_own_modules(semi, frontend):
    cfg = _cfg(clusters=10 if semi else 16, frontend=frontend, frontend_dims=8)
    models = build_models(SHAPE, cfg, 10, seed=0)
    front = models["E"].front if frontend == "scattering" else None
    training = build_training(models, cfg, _data(labelled=semi, front=front), seed=0, num_labels=10)
    owners = {
        "recon": {"E", "Dec"},
        "disc": {"D_z", "D_y"},
        "gen": {"E"},
        "sup": {"E"},
        "nbr": {"E"},
        "init": {"E"},
    }
    assert [p.name for p in training.phases] == ["init"] + [
        "recon",
        "disc",
        "gen",
    ] + (["sup"] if semi else []) + ["nbr"]
    batch = training.next_batch(0)
    for phase in training.phases:
        before = {k: {n: v.clone() for n, v in m.state_dict().items()} for k, m in models.items()}
        run_phases([phase], batch, 0)
        for k, m in models.items():
            changed = any(not torch.equal(before[k][n], v) for n, v in m.state_dict().items())
            assert changed == (k in owners[phase.name]), (phase.name, k)


def test_neighbour_phase_makes_neighbours_share_a_cluster_and_needs_the_table():
    cfg = _cfg(clusters=4, consistency_weight=1.0, balance_weight=1.0, lr_recon=3e-3)
    models = build_models(SHAPE, cfg, 10, seed=0)
    data = _data()
    with pytest.raises(ValueError, match="neighbours"):
        build_training(models, cfg, {"x": data["x"]}, seed=0)
    tr = build_training(models, cfg, data, seed=0)
    nbr = [p for p in tr.phases if p.name == "nbr"]
    first = [run_phases(nbr, tr.next_batch(s), s)["nbr/consistency"] for s in range(3)]
    last = [run_phases(nbr, tr.next_batch(s), s)["nbr/consistency"] for s in range(3, 150)][-3:]
    assert max(last) < 0.5 * min(first)
    assert "nbr" not in [
        p.name
        for p in build_training(
            models, _cfg(clusters=4, neighbours=0), {"x": data["x"]}, seed=0
        ).phases
    ]


def test_init_phase_teaches_the_head_its_partition_then_stops():
    cfg = _cfg(clusters=4, head_init_epochs=1.0, lr_recon=3e-3, input_noise=0.0)
    models = build_models(SHAPE, cfg, 10, seed=0)
    data = _data()
    data["x"][::2] //= 4  # even images dark, odd ones bright: the partition to learn
    data["init_labels"] = torch.arange(len(data["x"])) % 2 * 3
    with pytest.raises(ValueError, match="init_labels"):
        build_training(models, cfg, {k: v for k, v in data.items() if k != "init_labels"}, seed=0)
    with pytest.raises(ValueError, match="init_labels"):
        build_training(models, cfg, {**data, "init_labels": data["init_labels"] + 1}, seed=0)
    tr = build_training(models, cfg, data, seed=0)
    init = tr.phases[0]
    assert init.name == "init" and init.until == len(data["x"]) // cfg.batch_size  # one epoch
    init.until = 200
    agree = [run_phases([init], tr.next_batch(s), s)["init/agree"] for s in range(200)]
    assert np.mean(agree[:5]) < 0.75 and min(agree[-10:]) == 1.0
    assert run_phases([init], tr.next_batch(200), 200) == {}  # past `until`: not run
    assert (
        build_training(models, _cfg(clusters=4), data, seed=0).phases[0].until is None
    )  # all along
    for off in (
        _cfg(clusters=4, head_init="none"),
        _cfg(clusters=4, neighbours=0),
        _cfg(clusters=4, head_init_epochs=0),
    ):
        assert "init" not in [p.name for p in build_training(models, off, data, seed=0).phases]
    with pytest.raises(ValueError, match="head_init"):
        _cfg(head_init="kmeans").validate()


def test_scattering_front_end_trains_the_head_on_features_and_rebuilds_pixels():
    cfg = _cfg(clusters=4, frontend="scattering", frontend_dims=8)
    models = build_models(SHAPE, cfg, 10, seed=0)
    plain = _data()
    with pytest.raises(ValueError, match=r"data\['f'\] of shape \(64, 8\)"):
        build_training(models, cfg, plain, seed=0)
    data = _data(front=models["E"].front)
    tr = build_training(models, cfg, data, seed=0)
    batch = tr.next_batch(0)
    assert batch["f"].shape == (16, 8) and batch["x_nbr"].shape == (16, 8)  # neighbours as features
    assert batch["x"].shape == (16, *SHAPE)  # the reconstruction target stays the image
    # the encoder of new images (front end, then head) agrees with the head on cached features
    logits, z = models["E"](data["x"][:4].float() / 255)
    head_logits, head_z = models["E"].head(data["f"][:4])
    assert torch.allclose(logits, head_logits, atol=1e-4) and torch.allclose(z, head_z, atol=1e-4)
    recon = [p for p in tr.phases if p.name == "recon"]
    first = run_phases(recon, batch, 0)["recon/bce"]
    for s in range(1, 60):
        last = run_phases(recon, batch, s)["recon/bce"]
    assert last < first
    with pytest.raises(ValueError, match="frontend"):
        AAEConfig(frontend="hog").validate()
    # the default settles on scattering where the image sides allow it
    assert AAEConfig().resolved((1, 28, 28)).frontend == "scattering"
    assert AAEConfig().resolved((3, 30, 30)).frontend == "pixels"
    assert AAEConfig(frontend="pixels").resolved((1, 28, 28)).frontend == "pixels"
    assert isinstance(build_models((1, 28, 28), AAEConfig(hidden=8), 10, 0)["E"], FrontEndEncoder)


def test_batches_are_a_pure_function_of_the_step():
    cfg = _cfg()
    models = build_models(SHAPE, cfg, 10, seed=0)
    tr = build_training(models, cfg, _data(), seed=3)
    a, b = tr.next_batch(5), tr.next_batch(5)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(tr.next_batch(6)["noise"], a["noise"])


def test_label_conditioned_prior_needs_labels_and_runs_with_them():
    cfg = _cfg(clusters=0, z_dim=2, prior="mixture", label_conditioned=True)
    models = build_models(SHAPE, cfg, 10, seed=0)
    with pytest.raises(ValueError, match="labelled"):
        build_training(models, cfg, _data(), seed=0, num_labels=10)
    tr = build_training(models, cfg, _data(labelled=True), seed=0, num_labels=10)
    logs = run_phases(tr.phases, tr.next_batch(0), 0)
    assert set(logs) >= {"recon/loss", "disc/d_z", "gen/loss"} and "D_y" not in models
