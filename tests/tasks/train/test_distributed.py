"""One training over 2 processes (torchrun, gloo on CPU): the same steps and losses as one
process with the same global batch, each rank seeing half of every batch, and a checkpoint
that resumes with another number of processes."""

from __future__ import annotations

import pytest
import torch

from ganflow.models.config import ConfigError
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig

# in-network noise off, so that one process and two draw exactly the same numbers
# one graph round: the second round's labels would carry the first's float rounding
# the narrow 8x8 model: in the wider default the float rounding of the summed gradients
# grows past the tolerance within the run's 33 steps
CFG = dict(
    batch_size=40,
    labelled_batch_size=20,
    input_noise=0.0,
    hidden_noise=0.0,
    graph_rounds=1,
    arch="mlp8s",
)


def run(bundle, out, gpus, cfg_over=None, **kw):
    cfg = SSGANConfig().with_overrides({**CFG, **(cfg_over or {})})
    r = RunConfig(seed=0, device="cpu", log_every=1, eval_every=1000, gpus=gpus, **kw)
    return train(bundle["path"], cfg, r, out, "gan")


def losses(result) -> list[tuple[float, float]]:
    ckpt = torch.load(result["checkpoint"], weights_only=True)
    return [(h["d/loss"], h["g/loss"]) for h in ckpt["history"] if "d/loss" in h]


@pytest.fixture(scope="module")
def one_and_two(digits_bundle, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    return run(digits_bundle, tmp / "one", 1, epochs=1), run(
        digits_bundle, tmp / "two", 2, epochs=1
    )


def test_two_processes_follow_one_process_with_the_same_global_batch(one_and_two):
    one, two = one_and_two
    assert two["ranks"] == 2 and two["steps"] == one["steps"] == one["total_steps"]
    a, b = losses(one), losses(two)
    assert len(a) == len(b) == one["steps"]
    assert torch.allclose(torch.tensor(a), torch.tensor(b), rtol=1e-4, atol=1e-5)
    assert two["val_error"] == pytest.approx(one["val_error"], abs=1e-9)
    w1 = torch.load(one["checkpoint"], weights_only=True)["state"]["D"]
    w2 = torch.load(two["checkpoint"], weights_only=True)["state"]["D"]
    assert all(torch.allclose(w1[k], w2[k], atol=1e-4) for k in w1)


def test_each_rank_computes_half_of_every_batch(one_and_two):
    _, two = one_and_two
    per_rank = two["rank_images"]
    # D sees labelled + unlabelled + fake (d phase) and fake + unlabelled (g phase) per step;
    # G makes a fake batch in each phase: every network forward split in two
    per_step = (20 + 40 + 40) + 40 + (40 + 40) + 40
    assert per_rank == [two["steps"] * per_step // 2] * 2


def test_a_two_process_checkpoint_resumes_in_one_process(digits_bundle, tmp_path, one_and_two):
    one, _ = one_and_two
    part = run(digits_bundle, tmp_path / "r", 2, epochs=1, max_minutes=0.01)
    assert part["steps"] < part["total_steps"]  # stopped by the time budget
    done = run(digits_bundle, tmp_path / "r", 1, epochs=1)
    assert done["resumed_from"] == part["steps"] and done["steps"] == one["steps"]
    # the two-process part sums its gradients in another order (float rounding, about 1e-6),
    # and the steps after it carry that on: where the time budget cuts the part decides how
    # far, so the bound is 1e-3 here (resume in one process is checked bit for bit elsewhere)
    assert torch.allclose(
        torch.tensor(losses(done)), torch.tensor(losses(one)), rtol=1e-3, atol=1e-4
    )


def test_batches_that_do_not_split_are_refused_before_anything_runs():
    from ganflow.flows.semi_supervised import SemiSupervisedParams

    with pytest.raises(ConfigError, match="batch_size 100 does not split over 3 processes"):
        SemiSupervisedParams.from_dict({"gpus": 3})
    with pytest.raises(ConfigError, match="gpus must be at least 1"):
        SemiSupervisedParams.from_dict({"gpus": 0})


def test_the_aae_over_two_processes_follows_one_process(digits_bundle, tmp_path):
    from ganflow.models.aae.config import AAEConfig
    from ganflow.tasks.train.aae import train_aae

    # minibatch discrimination compares samples within a rank's shard: off for equality
    cfg = AAEConfig(clusters=10, y_minibatch_discrimination=False)
    runs = [
        train_aae(digits_bundle["path"], cfg,
                  RunConfig(epochs=1, seed=0, device="cpu", log_every=1, gpus=g), tmp_path / str(g))
        for g in (1, 2)
    ]  # fmt: skip
    hist = [
        [h for h in torch.load(r["checkpoint"], weights_only=True)["history"] if "recon/loss" in h]
        for r in runs
    ]
    keys = [k for k in hist[0][0] if k.endswith("/loss")]
    a = torch.tensor([[h[k] for k in keys] for h in hist[0]])
    b = torch.tensor([[h[k] for k in keys] for h in hist[1]])
    assert len(keys) >= 4 and a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_the_gan_over_two_processes_follows_one_process(tmp_path):
    from ganflow.flows.gan import GANParams, make_config
    from ganflow.tasks.data.streams import load_data
    from ganflow.tasks.train.gan import train_gan

    data, cfg = load_data("ring"), make_config("ring", {})
    runs = [
        train_gan(data, cfg, RunConfig(seed=0, device="cpu", log_every=1, gpus=g),
                  tmp_path / str(g), steps=30, snapshots=0)
        for g in (1, 2)
    ]  # fmt: skip
    a, b = (
        torch.tensor([[h["d/loss"], h["g/loss"]] for h in torch.load(r["checkpoint"], weights_only=True)["history"] if "d/loss" in h])
        for r in runs
    )  # fmt: skip
    assert a.shape == (30, 2) and torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="gradient penalty on D's inputs"):
        GANParams.from_dict({"gpus": 2, "model": {"r1": 1.0}})


def _agree_on_rank(rank: int, init: str, out: str) -> None:
    import torch.distributed as dist

    from ganflow.tasks.train.distributed import agree

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        # rank 1's clock ran out, rank 0's did not; neither has a checkpoint due
        got = agree(rank == 1, False)
        torch.save(got, f"{out}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_a_stop_one_rank_decides_on_its_own_clock_is_taken_by_every_rank(tmp_path):
    import torch.multiprocessing as mp

    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_agree_on_rank, args=(init, str(tmp_path)), nprocs=2, join=True)
    assert [torch.load(tmp_path / f"{r}.pt") for r in (0, 1)] == [(True, False)] * 2


def test_graph_rounds_spread_over_processes_hand_the_spread_labels_to_the_ranks(
    digits_bundle, tmp_path
):
    out = run(digits_bundle, tmp_path / "rounds", 2, {"graph_rounds": 2}, epochs=1)
    assert out["ranks"] == 2 and out["steps"] == out["total_steps"]
    assert (tmp_path / "rounds" / "graph-round1" / "checkpoint.pt").exists()
    labels = torch.load(tmp_path / "rounds" / "graph-labels.pt", weights_only=True)
    assert labels.shape[1] == 10 and torch.allclose(labels.sum(1), torch.ones(len(labels)))


def test_a_rank_trains_on_the_labels_file_it_is_handed_and_spreads_none_itself(
    digits_bundle, tmp_path, monkeypatch
):
    """In one process, a group of one: the rank reads the spread labels from the payload's
    file (planted here) and never calls graph_labels."""
    import torch.distributed as dist

    import ganflow.tasks.train.ssgan as ssgan
    from ganflow.tasks.data.bundle import load_bundle

    bundle = load_bundle(digits_bundle["path"])
    planted = torch.full((len(bundle.x_train), bundle.num_classes), 0.01)
    planted[:, 3] = 0.91
    torch.save(planted, tmp_path / "graph-labels.pt")

    def refuse(*args, **kwargs):
        raise AssertionError("a rank spread the labels itself")

    handed = []
    real_setup = ssgan.setup

    def recording(bundle, cfg, run, kind, device, bundle_path=None, graph=None):
        handed.append(graph)
        return real_setup(bundle, cfg, run, kind, device, bundle_path, graph)

    monkeypatch.setattr(ssgan, "graph_labels", refuse)
    monkeypatch.setattr(ssgan, "setup", recording)
    cfg = SSGANConfig().with_overrides(CFG)
    r = RunConfig(seed=0, device="cpu", eval_every=1000, epochs=1)
    payload = dict(
        bundle_path=digits_bundle["path"], cfg=cfg.to_dict(), run=r.to_dict(), kind="gan"
    )
    payload.update(out_dir=str(tmp_path / "rank"), graph=str(tmp_path / "graph-labels.pt"))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rv'}", rank=0, world_size=1)
    try:
        out = ssgan.train_rank(payload)
    finally:
        dist.destroy_process_group()
    assert out["ranks"] == 1 and len(handed) == 1
    assert torch.equal(handed[0], planted)


def _fake_torchrun(monkeypatch, returncode, result=None):
    """subprocess.run standing in for torchrun: writes `result` where rank 0 would."""
    import json
    import subprocess
    from pathlib import Path

    from ganflow.tasks.train import distributed

    def fake(cmd, **kwargs):
        if result is not None:
            spec = json.loads(Path(cmd[-1]).read_text())
            Path(spec["result"]).write_text(json.dumps(result))
        return subprocess.CompletedProcess(cmd, returncode)

    monkeypatch.setattr(distributed.subprocess, "run", fake)


def test_a_process_dying_on_its_way_out_after_the_result_costs_a_line_not_the_run(
    tmp_path, monkeypatch, capfd
):
    from ganflow.tasks.train.distributed import launch

    _fake_torchrun(monkeypatch, 1, {"steps": 3})
    assert launch("ssgan", {}, 2, tmp_path) == {"steps": 3}
    err = capfd.readouterr().err
    assert "exited with code 1 after the training had finished" in err


def test_a_run_whose_rank_0_wrote_no_result_fails(tmp_path, monkeypatch):
    from ganflow.tasks.train.distributed import DistributedTrainingError, launch

    _fake_torchrun(monkeypatch, 1)
    with pytest.raises(DistributedTrainingError, match="exit code 1"):
        launch("ssgan", {}, 2, tmp_path)
    _fake_torchrun(monkeypatch, 0)  # a clean exit without the result is a failure too
    with pytest.raises(DistributedTrainingError, match="exit code 0"):
        launch("ssgan", {}, 2, tmp_path)
