"""The K+1 GAN's neighbour table: found among PCA projections of the training images and
kept beside the bundle under the name the adversarial autoencoder's table has."""

import shutil

import torch

from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.data.bundle import load_bundle
from ganflow.tasks.data.neighbours import neighbour_cache
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
    bundle, cfg = load_bundle(path), SSGANConfig(graph_k=10, graph_dims=40)
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
    unweighted = graph_labels(bundle, SSGANConfig(graph_k=10, graph_dims=40, graph_gamma=0), path)
    assert not torch.allclose(unweighted, q, atol=1e-3)
    # with a prior (a later round) the spread is graph_prior_alpha's, a shorter one
    prior = torch.softmax(torch.randn(n, k, generator=torch.Generator().manual_seed(0)), 1)
    got = graph_labels(bundle, cfg, path, prior)
    want = propagate_labels(
        table, lab, bundle.y_train[lab], k, cfg.graph_prior_alpha, prior=prior, weights=weights
    )
    assert cfg.graph_prior_alpha != cfg.graph_alpha and torch.allclose(got, want, atol=1e-5)


def test_a_second_graph_round_spreads_the_first_round_s_predictions(
    digits_bundle, tmp_path, monkeypatch
):
    import ganflow.tasks.train.ssgan as ssgan
    from ganflow.tasks.train.trainer import RunConfig

    path = tmp_path / "bundle.npz"
    shutil.copy(digits_bundle["path"], path)
    priors = []
    real = ssgan.graph_labels

    def recording(bundle, cfg, bundle_path=None, prior=None):
        priors.append(prior)
        return real(bundle, cfg, bundle_path, prior)

    monkeypatch.setattr(ssgan, "graph_labels", recording)
    cfg = SSGANConfig(graph_rounds=2, graph_dims=40)
    run = RunConfig(epochs=1, seed=0, eval_every=10**9)
    out = ssgan.train(path, cfg, run, tmp_path / "run")
    first = tmp_path / "run" / "graph-round1" / "checkpoint.pt"
    assert first.exists() and out["checkpoint"] == str(tmp_path / "run" / "checkpoint.pt")
    assert len(priors) == 2 and priors[0] is None
    bundle = load_bundle(path)
    want = ssgan.round_predictions(first, bundle, torch.device("cpu"))
    assert torch.allclose(priors[1], want)
    # one round only without graph labels, and none for the baseline
    assert ssgan.graph_rounds(bundle, SSGANConfig(graph_rounds=3, graph_weight=0.0), "gan") == 1
    assert ssgan.graph_rounds(bundle, SSGANConfig(graph_rounds=3), "baseline") == 1
    assert ssgan.graph_rounds(bundle, SSGANConfig(graph_rounds=3), "gan") == 3
