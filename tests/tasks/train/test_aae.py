from pathlib import Path

import pytest
import torch

from ganflow.models.aae.config import AAEConfig


def _cfg(**kw) -> AAEConfig:
    kw.setdefault("neighbours", 5)
    kw.setdefault("frontend", "pixels")
    return AAEConfig(hidden=32, batch_size=16, labelled_batch_size=10, **kw)


def test_aae_run_resumes_and_refuses_another_config(digits_bundle, tmp_path):
    from ganflow.tasks.train.aae import train_aae
    from ganflow.tasks.train.checkpoint import CheckpointError, load_run
    from ganflow.tasks.train.trainer import RunConfig

    cfg, run = _cfg(clusters=16), RunConfig(epochs=1, eval_every=5, checkpoint_every=5)
    first = train_aae(digits_bundle["path"], cfg, run, tmp_path)
    again = train_aae(digits_bundle["path"], cfg, run, tmp_path)  # finished: reused, not retrained
    assert again["resumed_from"] == first["steps"] == again["steps"] == first["total_steps"]
    loaded = load_run(first["checkpoint"], family="aae")
    # the checkpoint keeps the config settled for the images (arch auto: mlp at 8 pixels)
    assert loaded.config == cfg.resolved((1, 8, 8)) and loaded.config.arch == "mlp"
    assert any("val_error" in h for h in loaded.history)
    with pytest.raises(CheckpointError, match="another config"):
        train_aae(digits_bundle["path"], _cfg(clusters=8), run, tmp_path)
    with pytest.raises(CheckpointError, match="not a semi-supervised GAN checkpoint"):
        load_run(first["checkpoint"], family="ssgan")


def test_scattering_aae_fits_its_front_end_once_and_saves_it(digits_bundle, tmp_path, monkeypatch):
    from ganflow.models.scattering import ScatteringFront
    from ganflow.tasks.evaluate.clustering import score_clusters as score
    from ganflow.tasks.train.aae import train_aae
    from ganflow.tasks.train.checkpoint import load_run
    from ganflow.tasks.train.trainer import RunConfig

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
    loaded = load_run(
        second["checkpoint"], family="aae"
    )  # the fitted projection travels in the checkpoint
    assert bool(loaded.modules["E"].front.fitted)
    assert torch.equal(
        loaded.modules["E"].front.proj,
        load_run(first["checkpoint"], family="aae").modules["E"].front.proj,
    )
    scores = score(second["checkpoint"], digits_bundle["path"])
    assert scores["hungarian_accuracy"] is not None and len(scores["mapping"]) == 10
    assert sum(scores["cluster_sizes"]) == scores["protocol"]["test_count"] == 359


def test_semi_supervised_head_learns_the_labels_spread_over_the_graph(digits_bundle):
    from ganflow.tasks.data.bundle import load_bundle
    from ganflow.tasks.data.neighbours import propagate_labels
    from ganflow.tasks.train.aae import setup
    from ganflow.tasks.train.trainer import RunConfig

    bundle = load_bundle(digits_bundle["path"])
    cfg = _cfg(clusters=10, graph_alpha=0.9)
    s = setup(
        bundle, cfg, RunConfig(epochs=1), True, Path(digits_bundle["path"]), torch.device("cpu")
    )
    assert "init" in [p.name for p in s.training.phases]
    lab = bundle.labelled
    table = s.training.next_batch.data["neighbours"]
    spread = propagate_labels(table, lab, bundle.y_train[lab], 10, 0.9).argmax(1)
    assert torch.equal(s.training.next_batch.init_y.cpu(), spread)
    # the init targets are classes named by the labelled images, right far above chance
    assert (spread == bundle.y_train).float().mean() > 0.6
    assert torch.equal(spread[lab], bundle.y_train[lab])
