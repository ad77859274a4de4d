"""The K+1 GAN's neighbour table: found among PCA projections of the training images and
kept beside the bundle under the name the adversarial autoencoder's table has."""

import shutil

import pytest
import torch
import torch.nn.functional as F

from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import load_bundle
from ganflow.tasks.data.neighbours import neighbour_cache
from ganflow.tasks.train.checkpoint import CheckpointError
from ganflow.tasks.train.ssgan import neighbours


def test_the_table_is_cached_beside_the_bundle_and_read_back(digits_bundle, tmp_path):
    path = tmp_path / "bundle.npz"
    shutil.copy(digits_bundle["path"], path)
    bundle, cfg = load_bundle(path), SSGANConfig(neighbour_k=3, neighbour_dims=20)
    table = neighbours(bundle, cfg, path)
    n = len(bundle.x_train)
    assert table.shape == (n, 3) and table.dtype == torch.long
    assert not (table == torch.arange(n)[:, None]).any()  # never the image itself
    cache = neighbour_cache(path, 3, "d20")
    assert torch.equal(torch.load(cache, weights_only=True), table)
    planted = torch.roll(table, 1, 0)  # a table in the cache is used, not recomputed
    torch.save(planted, cache)
    assert torch.equal(neighbours(bundle, cfg, path), planted)
    assert torch.equal(neighbours(bundle, cfg), table)  # without a path: computed, uncached


def test_graph_labels_spread_the_labels_and_share_the_autoencoder_s_caches(digits_bundle, tmp_path):
    from ganflow.tasks.data.neighbours import frontend_cache, neighbour_weights, propagate_labels
    from ganflow.tasks.train.ssgan import graph_labels

    path = tmp_path / "bundle.npz"
    shutil.copy(digits_bundle["path"], path)
    bundle, cfg = load_bundle(path), SSGANConfig(graph_k=10, graph_dims=40, graph_alpha=0.95)
    q = graph_labels(bundle, cfg, path)
    n, k = len(bundle.x_train), bundle.num_classes
    assert q.shape == (n, k) and torch.allclose(q.sum(1), torch.ones(n))
    lab = bundle.labelled
    assert torch.equal(q[lab].argmax(1), bundle.y_train[lab])  # the labels hold where given
    # spread over the scattering graph, the labels are right for most of the others
    others = torch.ones(n, dtype=torch.bool)
    others[lab] = False
    acc = (q[others].argmax(1) == bundle.y_train[others]).float().mean()
    assert acc > 0.8
    # the front end's fit and the table sit where the adversarial autoencoder looks for them
    assert frontend_cache(path, "scattering", 40).exists()
    table = torch.load(neighbour_cache(path, 10, "scattering-d40"), weights_only=True)
    assert table.shape == (n, 10)
    assert torch.allclose(graph_labels(bundle, cfg, path), q)  # read back, same labels
    # the edges are weighted by the features' cosine similarity to the power graph_gamma
    features = torch.load(frontend_cache(path, "scattering", 40), weights_only=True)["f"]
    weights = neighbour_weights(features, table, cfg.graph_gamma)
    want = propagate_labels(table, lab, bundle.y_train[lab], k, cfg.graph_alpha, weights=weights)
    assert torch.allclose(q, want, atol=1e-5)
    unweighted = graph_labels(bundle, cfg.with_overrides({"graph_gamma": 0}), path)
    assert not torch.allclose(unweighted, q, atol=1e-3)
    massed = graph_labels(bundle, cfg.with_overrides({"graph_class_mass": True}), path)
    want = propagate_labels(
        table, lab, bundle.y_train[lab], k, cfg.graph_alpha, weights=weights, class_mass=True
    )
    assert torch.allclose(massed, want, atol=1e-5) and not torch.allclose(massed, q, atol=1e-3)
    # with a prior (a later round) the spread is graph_prior_alpha's, a shorter one
    prior = torch.softmax(torch.randn(n, k, generator=torch.Generator().manual_seed(0)), 1)
    got = graph_labels(bundle, cfg, path, prior)
    want = propagate_labels(
        table, lab, bundle.y_train[lab], k, cfg.graph_prior_alpha, prior=prior, weights=weights
    )
    assert cfg.graph_prior_alpha != cfg.graph_alpha and torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("rebuild", [True, False])
def test_a_second_graph_round_builds_on_the_first_round_s_discriminator(
    digits_bundle, tmp_path, monkeypatch, rebuild
):
    """Round 2 gets round 1's D features to join to the scattering features (the default)
    or, with graph_rebuild off, its class posterior to spread with the labels."""
    import ganflow.tasks.train.ssgan as ssgan
    from ganflow.tasks.train.trainer import RunConfig

    path = tmp_path / "bundle.npz"
    shutil.copy(digits_bundle["path"], path)
    calls = []
    real = ssgan.graph_labels

    def recording(bundle, cfg, bundle_path=None, **handed):
        calls.append(handed)
        return real(bundle, cfg, bundle_path, **handed)

    monkeypatch.setattr(ssgan, "graph_labels", recording)
    cfg = SSGANConfig(graph_rounds=2, graph_dims=40, graph_rebuild=rebuild, graph_alpha=0.95)
    run = RunConfig(epochs=1, seed=0, eval_every=10**9)
    out = ssgan.train(path, cfg, run, tmp_path / "run")
    first = tmp_path / "run" / "graph-round1" / "checkpoint.pt"
    assert first.exists() and out["checkpoint"] == str(tmp_path / "run" / "checkpoint.pt")
    assert len(calls) == 2 and calls[0] == {}
    bundle = load_bundle(path)
    posterior, features = ssgan.round_outputs(first, bundle, torch.device("cpu"))
    n = len(bundle.x_train)
    assert posterior.shape == (n, bundle.num_classes) and features.shape[0] == n
    if rebuild:
        assert set(calls[1]) == {"joined"} and torch.allclose(calls[1]["joined"], features)
    else:
        assert set(calls[1]) == {"prior"} and torch.allclose(calls[1]["prior"], posterior)
    # run again, the finished run is read back: no labels spread, no round's outputs read
    monkeypatch.setattr(ssgan, "round_outputs", lambda *a: pytest.fail("a round was redone"))
    again = ssgan.train(path, cfg, run, tmp_path / "run")
    assert len(calls) == 2 and again["checkpoint"] == out["checkpoint"]
    assert again["steps"] == again["resumed_from"] == out["steps"]
    with pytest.raises(CheckpointError, match="another config"):  # refused, as before
        ssgan.train(path, cfg.with_overrides({"graph_k": 5}), run, tmp_path / "run")


def test_a_joined_graph_finds_the_neighbours_among_both_features(digits_bundle, tmp_path):
    from ganflow.tasks.data.neighbours import (
        frontend_cache,
        nearest_neighbours,
        neighbour_weights,
        propagate_labels,
    )
    from ganflow.tasks.train.ssgan import graph_labels

    path = tmp_path / "bundle.npz"
    shutil.copy(digits_bundle["path"], path)
    bundle, cfg = load_bundle(path), SSGANConfig(graph_k=10, graph_dims=40, graph_alpha=0.95)
    alone = graph_labels(bundle, cfg, path)
    scattering = torch.load(frontend_cache(path, "scattering", 40), weights_only=True)["f"]
    # features that carry the class: the joined graph's labels are better than the first's
    extra = torch.nn.functional.one_hot(bundle.y_train, bundle.num_classes).float() * 3.0
    got = graph_labels(bundle, cfg, path, joined=extra)
    both = torch.cat([F.normalize(scattering, dim=1), F.normalize(extra, dim=1)], 1)
    table = nearest_neighbours(both, 10)
    lab = bundle.labelled
    weights = neighbour_weights(both, table, cfg.graph_gamma)
    k = bundle.num_classes
    want = propagate_labels(table, lab, bundle.y_train[lab], k, cfg.graph_alpha, weights=weights)
    assert torch.allclose(got, want, atol=1e-5)
    right = (got.argmax(1) == bundle.y_train).float().mean()
    assert right > (alone.argmax(1) == bundle.y_train).float().mean() and right > 0.99


def test_labelled_folds_are_stratified_and_hold_each_label_out_once():
    from ganflow.tasks.data.bundle import labelled_folds

    y = torch.tensor([0] * 7 + [1] * 5 + [2] * 3)
    folds = labelled_folds(y, 3)
    assert len(folds) == 3
    assert sorted(torch.cat(folds).tolist()) == list(range(len(y)))  # a partition
    # each class dealt round the folds: 7 -> 3, 2, 2; 5 -> 2, 2, 1; 3 -> 1, 1, 1
    per_fold = torch.stack([torch.bincount(y[f], minlength=3) for f in folds])  # (folds, K)
    assert (per_fold.max(0).values - per_fold.min(0).values <= 1).all()
    assert per_fold.sum(0).tolist() == [7, 5, 3]
    assert len(labelled_folds(torch.tensor([0, 0, 1, 1]), 3)) == 2  # no more folds than labels
    assert labelled_folds(torch.tensor([0, 0, 1]), 3) == []  # a class with one label
    assert labelled_folds(y, 1) == []


def test_the_alpha_is_the_one_whose_held_out_labels_are_right_most_often(digits_bundle, tmp_path):
    """Each alpha scored by spreading the labels of the other folds and reading the held-out
    labelled images' spread labels (computed here fold by fold); the validation split plays
    no part (the realistic protocol: N labels per class are all a method sees)."""
    from ganflow.tasks.data.neighbours import propagate_labels
    from ganflow.tasks.train import ssgan

    path = tmp_path / "bundle.npz"
    shutil.copy(digits_bundle["path"], path)
    bundle = load_bundle(path)
    cfg = SSGANConfig(graph_k=10, graph_dims=40, graph_alpha_grid=[0.3, 0.99])
    _, _, table, weights = ssgan._graph(bundle, cfg, path, None)
    lab, k = bundle.labelled, bundle.num_classes
    y_lab = bundle.y_train[lab]
    folds = ssgan.labelled_folds(y_lab, ssgan.GRAPH_ALPHA_FOLDS)
    assert len(folds) == 3
    scores = {}
    for alpha in cfg.graph_alpha_grid:
        right = 0
        for fold in folds:
            others = torch.tensor([i for i in range(len(lab)) if i not in set(fold.tolist())])
            spread = propagate_labels(table, lab[others], y_lab[others], k, alpha, weights=weights)
            right += int((spread[lab[fold]].argmax(1) == y_lab[fold]).sum())
        scores[alpha] = right / len(lab)
        got = ssgan.held_out_right(table, weights, lab, y_lab, k, alpha, folds)
        assert got == pytest.approx(scores[alpha])
    assert max(scores.values()) < 1.0  # held out: not every label comes back by itself
    best = max(cfg.graph_alpha_grid, key=lambda a: scores[a])  # ties: the first
    chosen, spread = ssgan.choose_graph_alpha(bundle, cfg, path)
    assert chosen == best
    want = propagate_labels(table, lab, y_lab, k, best, weights=weights)
    assert torch.allclose(spread, want.float(), atol=1e-5)
    # the validation split plays no part: scrambled or gone, the same choice
    bundle.y_val = bundle.y_val[torch.randperm(len(bundle.y_val))]
    assert ssgan.choose_graph_alpha(bundle, cfg, path)[0] == best
    bundle.x_val, bundle.y_val = bundle.x_val[:0], bundle.y_val[:0]
    assert ssgan.choose_graph_alpha(bundle, cfg, path)[0] == best
    # one alpha in the grid: that one, unmeasured
    one = cfg.with_overrides({"graph_alpha_grid": [0.3]})
    assert ssgan.choose_graph_alpha(bundle, one, path)[0] == 0.3


def test_a_run_spreads_with_the_chosen_alpha_records_it_and_reuses_it(
    digits_bundle, tmp_path, monkeypatch, set_train_s
):
    import ganflow.tasks.train.ssgan as ssgan
    from ganflow.tasks.train.trainer import RunConfig

    path = tmp_path / "bundle.npz"
    shutil.copy(digits_bundle["path"], path)
    cfg = SSGANConfig(graph_rounds=2, graph_dims=40, graph_alpha_grid=[0.3, 0.99])
    bundle = load_bundle(path)
    chosen, labels = ssgan.choose_graph_alpha(bundle, cfg, path)
    seen = []
    real = ssgan.build_training

    def recording(models, cfg, data, *a):
        seen.append((cfg.graph_alpha, data["graph"]))
        return real(models, cfg, data, *a)

    monkeypatch.setattr(ssgan, "build_training", recording)
    run = RunConfig(epochs=1, seed=0, eval_every=10**9)
    out = ssgan.train(path, cfg, run, tmp_path / "run")
    # both rounds spread with the chosen alpha; the first trains on its labels
    assert [a for a, _ in seen] == [chosen, chosen] and out["config"]["graph_alpha"] == chosen
    assert torch.allclose(seen[0][1], labels)
    # read back: the finished run's alpha, nothing spread or chosen again
    monkeypatch.setattr(ssgan, "choose_graph_alpha", lambda *a: pytest.fail("chosen again"))
    set_train_s(tmp_path / "run" / "graph-round1" / "checkpoint.pt", 300.0)
    set_train_s(tmp_path / "run" / "checkpoint.pt", 400.0)
    again = ssgan.train(path, cfg, run, tmp_path / "run")
    assert again["checkpoint"] == out["checkpoint"] and again["config"]["graph_alpha"] == chosen
    assert again["wall_s"] == 700.0  # both rounds' training, as their checkpoints record it
    # an alpha given is used as it is
    fixed = ssgan.train(path, cfg.with_overrides({"graph_alpha": 0.5}), run, tmp_path / "fixed")
    assert fixed["config"]["graph_alpha"] == 0.5 and seen[-1][0] == 0.5


def test_only_the_gan_with_graph_labels_trains_in_rounds(digits_bundle):
    import ganflow.tasks.train.ssgan as ssgan

    bundle = load_bundle(digits_bundle["path"])
    assert ssgan.graph_rounds(bundle, SSGANConfig(graph_rounds=3, graph_weight=0.0), "gan") == 1
    assert ssgan.graph_rounds(bundle, SSGANConfig(graph_rounds=3), "baseline") == 1
    assert ssgan.graph_rounds(bundle, SSGANConfig(graph_rounds=3), "gan") == 3
