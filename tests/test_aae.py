"""Adversarial autoencoder: shapes, priors, phase isolation, resume and cluster mapping."""

from pathlib import Path

import numpy as np
import pytest
import torch

from models import aae
from models.aae_nets import FrontEndEncoder
from models.engine import run_phases
from tasks.cluster import majority_mapping, nearest_neighbours, neighbour_table, spectral_partition

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


def _cfg(**kw) -> aae.AAEConfig:
    kw.setdefault("neighbours", 5)
    kw.setdefault("frontend", "pixels")
    return aae.AAEConfig(hidden=32, batch_size=16, labelled_batch_size=10, **kw)


def test_networks_and_priors_have_the_right_shapes():
    cfg = _cfg(clusters=16, z_dim=5)
    m = aae.build_models(SHAPE, cfg, 10, seed=0)
    logits, z = m["E"](torch.rand(4, *SHAPE))
    assert logits.shape == (4, 16) and z.shape == (4, 5)
    assert m["Dec"](logits.softmax(1), z).shape == (4, *SHAPE)
    assert m["D_y"](torch.rand(4, 16)).shape == (4, 1) and m["D_z"](z).shape == (4, 1)
    y = aae.sample_categorical(1000, 16, torch.Generator().manual_seed(0))
    assert torch.equal(y.sum(1), torch.ones(1000)) and set(y.argmax(1).tolist()) == set(range(16))
    soft = aae.sample_categorical(5, 16, bound=5.0)
    assert torch.allclose(soft.sum(1), torch.ones(5)) and (soft.max(1).values < 1).all()
    mix = aae.AAEConfig(clusters=0, z_dim=2, prior="mixture")
    z = aae.sample_prior(2000, mix, labels=torch.full((2000,), 3))
    assert torch.allclose(
        z.mean(0), aae.mixture_means()[3], atol=0.05
    )  # labelled draws sit on their component
    with pytest.raises(ValueError, match="2-D"):
        aae.AAEConfig(z_dim=3, prior="mixture").validate()
    with pytest.raises(ValueError, match="clusters"):
        aae.AAEConfig(clusters=1).validate()


@pytest.mark.parametrize(
    "semi,frontend",
    [(False, "pixels"), (True, "pixels"), (False, "scattering"), (True, "scattering")],
)
def test_each_phase_changes_only_its_own_modules(semi, frontend):
    cfg = _cfg(clusters=10 if semi else 16, frontend=frontend, frontend_dims=8)
    models = aae.build_models(SHAPE, cfg, 10, seed=0)
    front = models["E"].front if frontend == "scattering" else None
    training = aae.build_training(
        models, cfg, _data(labelled=semi, front=front), seed=0, num_labels=10
    )
    owners = {
        "recon": {"E", "Dec"},
        "disc": {"D_z", "D_y"},
        "gen": {"E"},
        "sup": {"E"},
        "nbr": {"E"},
        "init": {"E"},
    }
    assert [p.name for p in training.phases] == ([] if semi else ["init"]) + [
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


def test_neighbour_table_finds_the_nearest_other_images():
    g = torch.Generator().manual_seed(1)
    centres = torch.randint(0, 256, (4, 1, 8, 8), generator=g)
    jitter = torch.randint(-3, 4, (40, 1, 8, 8), generator=g)
    x = (
        (centres.repeat(10, 1, 1, 1) + jitter).clamp(0, 255).to(torch.uint8)
    )  # image i is of group i % 4
    nb = neighbour_table(x, 3, dims=8, block=7)  # blocks that do not divide N
    assert nb.shape == (40, 3)
    assert (nb != torch.arange(40)[:, None]).all()  # never itself
    assert (nb % 4 == torch.arange(40)[:, None] % 4).all()  # always its own group
    flat = x.reshape(40, -1).float()
    d = torch.cdist(flat, flat) + torch.diag(torch.full((40,), float("inf")))
    full = neighbour_table(x, 3, dims=64)  # every principal component: exact pixel distances
    assert torch.equal(full[:, 0], d.argmin(1))
    with pytest.raises(ValueError, match="more than k"):
        neighbour_table(x[:3], 3)


def test_neighbour_table_is_cached_and_a_bad_cache_is_recomputed(tmp_path, monkeypatch):
    import tasks.cluster as cluster

    x = _data()["x"]
    cache = tmp_path / "bundle.neighbours-k5-d50.pt"
    first = cluster.cached_neighbour_table(x, 5, 50, cache)
    assert cache.exists() and torch.equal(first, neighbour_table(x, 5))

    def no_search(*a, **k):
        raise AssertionError("searched again despite a good cache")

    monkeypatch.setattr(cluster, "neighbour_table", no_search)
    assert torch.equal(cluster.cached_neighbour_table(x, 5, 50, cache), first)
    monkeypatch.undo()
    cache.write_bytes(b"not a tensor")
    assert torch.equal(cluster.cached_neighbour_table(x, 5, 50, cache), first)
    torch.save(first[:, :3], cache)  # a table for another k
    assert torch.equal(cluster.cached_neighbour_table(x, 5, 50, cache), first)


def test_neighbour_phase_makes_neighbours_share_a_cluster_and_needs_the_table():
    cfg = _cfg(clusters=4, consistency_weight=1.0, balance_weight=1.0, lr_recon=3e-3)
    models = aae.build_models(SHAPE, cfg, 10, seed=0)
    data = _data()
    with pytest.raises(ValueError, match="neighbours"):
        aae.build_training(models, cfg, {"x": data["x"]}, seed=0)
    tr = aae.build_training(models, cfg, data, seed=0)
    nbr = [p for p in tr.phases if p.name == "nbr"]
    first = [run_phases(nbr, tr.next_batch(s), s)["nbr/consistency"] for s in range(3)]
    last = [run_phases(nbr, tr.next_batch(s), s)["nbr/consistency"] for s in range(3, 150)][-3:]
    assert max(last) < 0.5 * min(first)
    assert "nbr" not in [p.name for p in aae.build_training(
        models, _cfg(clusters=4, neighbours=0), {"x": data["x"]}, seed=0).phases]  # fmt: skip


@pytest.mark.parametrize("per_group", [30, 700])  # dense eigh, then sparse eigsh (> 2000 images)
def test_spectral_partition_finds_separate_groups(per_group):
    g = torch.Generator().manual_seed(0)
    centres = 10 * torch.eye(5)[:3]
    points = (centres[:, None] + torch.randn(3, per_group, 5, generator=g)).reshape(-1, 5)
    labels = spectral_partition(nearest_neighbours(points, 8), 3, seed=0)
    groups = labels.reshape(3, per_group)
    assert labels.dtype == torch.long and labels.shape == (3 * per_group,)
    assert all(len(set(row.tolist())) == 1 for row in groups)  # each group one part ...
    assert len(set(groups[:, 0].tolist())) == 3  # ... and no two groups share one
    with pytest.raises(ValueError, match="clusters"):
        spectral_partition(nearest_neighbours(points, 8), 1)


def test_init_phase_teaches_the_head_its_partition_then_stops():
    cfg = _cfg(clusters=4, head_init_epochs=1.0, lr_recon=3e-3, input_noise=0.0)
    models = aae.build_models(SHAPE, cfg, 10, seed=0)
    data = _data()
    data["x"][::2] //= 4  # even images dark, odd ones bright: the partition to learn
    data["init_labels"] = torch.arange(len(data["x"])) % 2 * 3
    with pytest.raises(ValueError, match="init_labels"):
        aae.build_training(
            models, cfg, {k: v for k, v in data.items() if k != "init_labels"}, seed=0
        )
    with pytest.raises(ValueError, match="init_labels"):
        aae.build_training(models, cfg, {**data, "init_labels": data["init_labels"] + 1}, seed=0)
    tr = aae.build_training(models, cfg, data, seed=0)
    init = tr.phases[0]
    assert init.name == "init" and init.until == len(data["x"]) // cfg.batch_size  # one epoch
    init.until = 200
    agree = [run_phases([init], tr.next_batch(s), s)["init/agree"] for s in range(200)]
    assert np.mean(agree[:5]) < 0.75 and min(agree[-10:]) == 1.0
    assert run_phases([init], tr.next_batch(200), 200) == {}  # past `until`: not run
    assert (
        aae.build_training(models, _cfg(clusters=4), data, seed=0).phases[0].until is None
    )  # all along
    for off in (
        _cfg(clusters=4, head_init="none"),
        _cfg(clusters=4, neighbours=0),
        _cfg(clusters=4, head_init_epochs=0),
    ):
        assert "init" not in [p.name for p in aae.build_training(models, off, data, seed=0).phases]
    with pytest.raises(ValueError, match="head_init"):
        _cfg(head_init="kmeans").validate()


def test_scattering_front_end_trains_the_head_on_features_and_rebuilds_pixels():
    cfg = _cfg(clusters=4, frontend="scattering", frontend_dims=8)
    models = aae.build_models(SHAPE, cfg, 10, seed=0)
    plain = _data()
    with pytest.raises(ValueError, match=r"data\['f'\] of shape \(64, 8\)"):
        aae.build_training(models, cfg, plain, seed=0)
    data = _data(front=models["E"].front)
    tr = aae.build_training(models, cfg, data, seed=0)
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
        aae.AAEConfig(frontend="hog").validate()
    # the default settles on scattering where the image sides allow it
    assert aae.AAEConfig().resolved((1, 28, 28)).frontend == "scattering"
    assert aae.AAEConfig().resolved((3, 30, 30)).frontend == "pixels"
    assert aae.AAEConfig(frontend="pixels").resolved((1, 28, 28)).frontend == "pixels"
    assert isinstance(
        aae.build_models((1, 28, 28), aae.AAEConfig(hidden=8), 10, 0)["E"], FrontEndEncoder
    )


def test_batches_are_a_pure_function_of_the_step():
    cfg = _cfg()
    models = aae.build_models(SHAPE, cfg, 10, seed=0)
    tr = aae.build_training(models, cfg, _data(), seed=3)
    a, b = tr.next_batch(5), tr.next_batch(5)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(tr.next_batch(6)["noise"], a["noise"])


def test_label_conditioned_prior_needs_labels_and_runs_with_them():
    cfg = _cfg(clusters=0, z_dim=2, prior="mixture", label_conditioned=True)
    models = aae.build_models(SHAPE, cfg, 10, seed=0)
    with pytest.raises(ValueError, match="labelled"):
        aae.build_training(models, cfg, _data(), seed=0, num_labels=10)
    tr = aae.build_training(models, cfg, _data(labelled=True), seed=0, num_labels=10)
    logs = run_phases(tr.phases, tr.next_batch(0), 0)
    assert set(logs) >= {"recon/loss", "disc/d_z", "gen/loss"} and "D_y" not in models


def test_majority_mapping_is_fitted_per_cluster():
    clusters = np.array([0, 0, 0, 1, 1, 3])
    labels = np.array([2, 2, 1, 0, 0, 1])
    assert majority_mapping(clusters, labels, k=4, num_classes=3).tolist() == [2, 0, -1, 1]


def test_aae_run_resumes_and_refuses_another_config(digits_bundle, tmp_path):
    from tasks.checkpoint import CheckpointError
    from tasks.cluster import load_aae, train_aae
    from tasks.train import RunConfig

    cfg, run = _cfg(clusters=16), RunConfig(epochs=1, eval_every=5, checkpoint_every=5)
    first = train_aae(digits_bundle["path"], cfg, run, tmp_path)
    again = train_aae(digits_bundle["path"], cfg, run, tmp_path)  # finished: reused, not retrained
    assert again["resumed_from"] == first["steps"] == again["steps"] == first["total_steps"]
    loaded = load_aae(first["checkpoint"])
    assert loaded["config"] == cfg and any("val_error" in h for h in loaded["history"])
    with pytest.raises(CheckpointError, match="another config"):
        train_aae(digits_bundle["path"], _cfg(clusters=8), run, tmp_path)
    from tasks.train import load_trained

    with pytest.raises(CheckpointError, match="not a semi-supervised GAN checkpoint"):
        load_trained(first["checkpoint"])


def test_scattering_aae_fits_its_front_end_once_and_saves_it(digits_bundle, tmp_path, monkeypatch):
    from models.aae_nets import ScatteringFront
    from tasks.cluster import load_aae, score, train_aae
    from tasks.train import RunConfig

    cfg = _cfg(clusters=10, frontend="scattering", frontend_dims=20)
    run = RunConfig(epochs=1, eval_every=5, checkpoint_every=5)
    first = train_aae(digits_bundle["path"], cfg, run, tmp_path / "a")
    cache = list(Path(digits_bundle["path"]).parent.glob("*.scattering-d20.pt"))
    assert (
        len(cache) == 1
        and len(list(Path(digits_bundle["path"]).parent.glob("*neighbours-k5-scattering-d20.pt")))
        == 1
    )

    assert (
        len(
            list(
                Path(digits_bundle["path"]).parent.glob(
                    "*.spectral-dm10-c10-s0-k5-scattering-d20.pt"
                )
            )
        )
        == 1
    )

    def no_fit(*a, **kw):
        raise AssertionError("the front end was fitted again despite the cache")

    monkeypatch.setattr(ScatteringFront, "fit", no_fit)
    second = train_aae(digits_bundle["path"], cfg, run, tmp_path / "b")  # a fresh run, same data
    loaded = load_aae(second["checkpoint"])  # the fitted projection travels in the checkpoint
    assert bool(loaded["E"].front.fitted)
    assert torch.equal(loaded["E"].front.proj, load_aae(first["checkpoint"])["E"].front.proj)
    scores = score(second["checkpoint"], digits_bundle["path"])
    assert 0.0 <= scores["cluster_accuracy"] <= 1.0 and scores["hungarian_accuracy"] is not None
