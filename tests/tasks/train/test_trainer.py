import dataclasses
from pathlib import Path

import pytest
import torch

import ganflow.models.ssgan.objective as ssgan_module
from ganflow.models.ssgan.config import SSGANConfig, resolve
from ganflow.tasks.evaluate.classification import evaluate_classifier
from ganflow.tasks.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_run,
    save_checkpoint,
)
from ganflow.tasks.train.devices import select_device
from ganflow.tasks.train.ssgan import train
from ganflow.tasks.train.trainer import RunConfig, TrainingDivergedError

# every stateful trick on, so that its buffers must survive the checkpoint
CFG = SSGANConfig(
    graph_rounds=1,  # one training: the trainer's mechanics (the rounds: test_ssgan_neighbours)
    batch_size=32,
    labelled_batch_size=20,
    vbn_reference_size=16,
    historical_averaging=1e-4,
    ema_decay=0.9,
    label_smoothing=0.1,
)
RUN = RunConfig(epochs=1, seed=3, checkpoint_every=5, eval_every=7, log_every=3)


class Kill(Exception):
    pass


def _states(path):
    return load_checkpoint(path)["state"]


def _assert_same_state(a, b):
    for name in ("D", "G", "opt_d", "opt_g", "hist_d", "hist_g", "ema_d"):
        flat_a, flat_b = _flatten(a[name]), _flatten(b[name])
        assert flat_a.keys() == flat_b.keys()
        for k in flat_a:
            assert (
                torch.equal(flat_a[k], flat_b[k])
                if torch.is_tensor(flat_a[k])
                else flat_a[k] == flat_b[k]
            ), (name, k)


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list):
        return _flatten(dict(enumerate(obj)), prefix)
    return {prefix: obj}


def test_killed_run_resumes_to_the_same_weights(digits_bundle, tmp_path, set_train_s):
    unbroken = train(digits_bundle["path"], CFG, RUN, tmp_path / "unbroken")
    assert unbroken["steps"] == unbroken["total_steps"] > 12

    def kill_at_12(step, total, logs):  # the progress hook's first call at or after step 12
        if step >= 12:
            raise Kill

    with pytest.raises(Kill):
        train(digits_bundle["path"], CFG, RUN, tmp_path / "killed", progress=kill_at_12)
    assert (
        load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 10
    )  # the last periodic one
    # the training time so far travels with the checkpoint: the resumed run adds its own
    set_train_s(tmp_path / "killed" / "checkpoint.pt", 1000.0)
    resumed = train(digits_bundle["path"], CFG, RUN, tmp_path / "killed")
    assert resumed["resumed_from"] == 10 and resumed["steps"] == unbroken["steps"]
    assert 1000 < resumed["wall_s"] < 1000 + 5 * unbroken["wall_s"] + 5
    assert resumed["images_per_s"] < 1e5  # of this process's steps, not of the 1000 s
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["train_s"] > 1000
    _assert_same_state(
        _states(tmp_path / "unbroken" / "checkpoint.pt"),
        _states(tmp_path / "killed" / "checkpoint.pt"),
    )


def test_finished_run_is_reused_and_reloadable(digits_bundle, tmp_path, set_train_s):
    first = train(digits_bundle["path"], CFG, RUN, tmp_path / "run")
    recorded = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["train_s"]
    assert 0 < recorded <= first["wall_s"]
    set_train_s(tmp_path / "run" / "checkpoint.pt", 777.0)
    again = train(digits_bundle["path"], CFG, RUN, tmp_path / "run")
    assert again["resumed_from"] == first["steps"] and again["steps"] == first["steps"]
    # a run read back reports the training it took, not the moment spent reading it
    assert again["wall_s"] == 777.0
    assert again["images_per_s"] == round(first["steps"] * CFG.batch_size / 777.0, 1)
    loaded = load_run(first["checkpoint"])
    alpha = loaded.config.graph_alpha  # None in CFG: the one chosen on validation is kept
    assert alpha in CFG.graph_alpha_grid
    assert (
        loaded.family.name == "ssgan"
        and loaded.config == dataclasses.replace(resolve(CFG, 8), graph_alpha=alpha)
        and len(loaded.class_names) == 10
    )
    assert loaded.modules["G"](torch.rand(2, CFG.z_dim)).shape == (2, 1, 8, 8)
    metrics = evaluate_classifier(first["checkpoint"], digits_bundle["path"])
    # the run's own classifier (D), predicted independently on the official test set
    from ganflow.tasks.data.bundle import load_bundle
    from ganflow.tasks.evaluate.classification import predict

    b = load_bundle(digits_bundle["path"])
    pred = predict(loaded.modules["D"], b.x_test).argmax(1)
    assert metrics["test_error"] == pytest.approx(float((pred != b.y_test).float().mean()))
    assert len(metrics["confusion"]) == 10


def test_checkpoint_from_another_config_is_refused_and_kept(digits_bundle, tmp_path):
    train(digits_bundle["path"], CFG, RUN, tmp_path / "run")
    path = tmp_path / "run" / "checkpoint.pt"
    before = path.read_bytes()
    other = SSGANConfig(**{**CFG.__dict__, "label_smoothing": 0.2})
    with pytest.raises(
        CheckpointError,
        match=r"another config.*label_smoothing: checkpoint has 0\.1, this run has 0\.2",
    ):
        train(digits_bundle["path"], other, RUN, tmp_path / "run")
    assert path.read_bytes() == before


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(
    digits_bundle, tmp_path, monkeypatch
):
    calls = {"n": 0}
    real = ssgan_module.supervised_loss

    def poisoned(logits, labels):
        calls["n"] += 1
        loss = real(logits, labels)
        return loss * float("nan") if calls["n"] > 7 else loss

    monkeypatch.setattr(ssgan_module, "supervised_loss", poisoned)
    with pytest.raises(
        TrainingDivergedError,
        match=r"non-finite loss in phase 'd' at step 7.*last good checkpoint is kept at .*step 5",
    ):
        train(digits_bundle["path"], CFG, RUN, tmp_path / "run")
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["step"] == 5
    assert all(torch.isfinite(t).all() for t in ckpt["state"]["D"].values())


def test_corrupt_or_foreign_checkpoints(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="is not a checkpoint file"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"format_version": 99}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="is a directory; give a checkpoint file"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_without_a_network_is_named_in_words(digits_bundle, tmp_path):
    path = Path(train(digits_bundle["path"], CFG, RUN, tmp_path / "run")["checkpoint"])
    ckpt = torch.load(path, weights_only=True)
    del ckpt["state"]["D"]
    torch.save(ckpt, tmp_path / "no-d.pt")
    with pytest.raises(CheckpointError, match=r"loadable ssgan run: .*D\b") as e:
        load_run(tmp_path / "no-d.pt")
    assert "'D'" not in str(e.value)
    with pytest.raises(
        CheckpointError, match=f"is a directory; give a checkpoint file, e.g. {path}"
    ):
        load_checkpoint(tmp_path)


def test_atomic_save_leaves_no_temporary_file(tmp_path):
    m = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path / "c.pt", {"m": m}, 3, {"family": "ssgan", "a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 3


def test_device_selection():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_training_runs(digits_bundle, tmp_path):
    result = train(digits_bundle["path"], CFG, RunConfig(epochs=1, device="cuda"), tmp_path / "gpu")
    assert result["device"].startswith("cuda") and result["steps"] == result["total_steps"]


def test_checkpoints_also_follow_the_clock(digits_bundle, tmp_path):
    """With checkpoints due every 10**6 steps but every 1e-9 minutes, a kill at step 4 loses
    nothing before it: the checkpoint on disk is step 3's."""
    seen = {}

    class Peek:
        def on_step(self, step, logs):
            if step == 4:
                seen["step"] = load_checkpoint(tmp_path / "r" / "checkpoint.pt")["step"]
                raise Kill

        def on_end(self, step, ok):
            pass

    run = RunConfig(epochs=1, seed=3, checkpoint_every=10**6, checkpoint_minutes=1e-9)
    with pytest.raises(Kill):
        train(digits_bundle["path"], CFG, run, tmp_path / "r", callbacks=[lambda b, s: Peek()])
    assert seen["step"] == 3
    with pytest.raises(Exception, match="checkpoint_minutes must be positive"):
        RunConfig.from_dict({"checkpoint_minutes": 0})


def test_a_checkpoint_that_cannot_be_written_keeps_the_last_one(
    digits_bundle, tmp_path, monkeypatch
):
    """A full disk during a checkpoint write: the error says so, the previous checkpoint is
    intact and loadable, no half-written file is left; the run resumes from it later."""
    import errno

    import ganflow.tasks.io as gio
    from ganflow.flows.errors import error_line

    run = RunConfig(epochs=1, seed=3, checkpoint_every=5)
    saves = {"n": 0}
    real = gio.os.fsync

    def full_after_two(fd):
        saves["n"] += 1
        if saves["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(gio.os, "fsync", full_after_two)
    with pytest.raises(OSError) as e:
        train(digits_bundle["path"], CFG, run, tmp_path / "r")
    line, code = error_line(e.value)
    assert code == 1 and "the disk is full" in line
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["step"] == 10
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["checkpoint.pt"]
    monkeypatch.setattr(gio.os, "fsync", real)
    assert train(digits_bundle["path"], CFG, run, tmp_path / "r")["resumed_from"] == 10


def test_auto_arch_resumes_on_another_device_with_the_checkpoints_net(
    digits_bundle, tmp_path, monkeypatch
):
    """`arch: auto` picks by device; a run begun where it picked another net (a GPU's)
    resumes where auto would pick differently, with the net it was begun with."""
    import ganflow.models.ssgan.config as ssgan_config

    real = ssgan_config.default_arch
    monkeypatch.setattr(ssgan_config, "default_arch", lambda side, accelerated: "mlp8s")

    def kill_at_6(step, total, logs):
        if step >= 6:
            raise Kill

    with pytest.raises(Kill):
        train(digits_bundle["path"], CFG, RUN, tmp_path / "run", progress=kill_at_6)
    monkeypatch.setattr(ssgan_config, "default_arch", real)  # "another device": mlp8 here
    resumed = train(digits_bundle["path"], CFG, RUN, tmp_path / "run")
    assert resumed["resumed_from"] == 5 and resumed["steps"] == resumed["total_steps"]
    assert load_run(resumed["checkpoint"]).config.arch == "mlp8s"
    # a fresh run directory still takes this device's pick
    fresh = train(digits_bundle["path"], CFG, RUN, tmp_path / "fresh")
    assert load_run(fresh["checkpoint"]).config.arch == "mlp8"


def test_compile_compiles_every_network_in_place(digits_bundle, tmp_path, monkeypatch):
    """RunConfig.compile: each network's Module.compile is called before training (here a
    stand-in that records the call: the compiler itself is torch's), and the checkpoint
    reads as an uncompiled run's."""
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self))
    run = dataclasses.replace(RUN, compile=True)
    result = train(digits_bundle["path"], CFG, run, tmp_path / "c")
    plain = train(digits_bundle["path"], CFG, RUN, tmp_path / "p")
    assert {type(m).__name__ for m in compiled} >= {"Discriminator", "VBNSequential"}
    assert len(compiled) == 2  # D and G of the one round
    a, b = _states(result["checkpoint"]), _states(plain["checkpoint"])
    assert a["D"].keys() == b["D"].keys()
