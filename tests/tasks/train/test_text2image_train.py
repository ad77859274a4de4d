"""StackGAN's training task: the text encoder is trained once and then read from its cache;
a Stage-II run killed mid-run resumes to the state an unbroken run ends in; Stage-II will
not resume over another Stage-I, nor start without one."""

import pytest
import torch

from ganflow.models.config import ConfigError
from ganflow.models.stackgan.config import StackGANConfig
from ganflow.tasks.train import text_encoder
from ganflow.tasks.train.checkpoint import CheckpointError, load_checkpoint
from ganflow.tasks.train.text2image import train_stage
from ganflow.tasks.train.text_encoder import EncoderRecipe, cached_encoder
from ganflow.tasks.train.trainer import RunConfig

CFG = StackGANConfig(stage1_size=16, stage2_size=32, embed_dim=32, cond_dim=8, z_dim=8,
                     d_text_dim=8, ngf=4, ndf=4, res_blocks=1, batch_size=16)  # fmt: skip
RUN = RunConfig(epochs=1, checkpoint_every=100)
DEV = torch.device("cpu")


class Kill(Exception):
    pass


@pytest.fixture(scope="module")
def encoder(tiny_captions, tmp_path_factory):
    recipe = EncoderRecipe(embed_dim=32, steps=30, max_seconds=0.1, batch_size=32)
    return cached_encoder(tiny_captions, recipe, "cpu", tmp_path_factory.mktemp("enc"), False)


def test_encoder_is_cached_and_unit_length(tiny_captions, encoder, monkeypatch):
    def no_training(*a, **k):
        raise AssertionError("trained again instead of reading the cache")

    monkeypatch.setattr(text_encoder, "train_encoder", no_training)
    recipe = EncoderRecipe(embed_dim=32, steps=30, max_seconds=0.1, batch_size=32)
    again = cached_encoder(
        tiny_captions, recipe, "cpu", encoder.info["cache"].rsplit("/", 1)[0], False
    )
    caps = ["a small red trouser in the centre", "large blue t-shirt, top left corner"]
    assert torch.allclose(again.encode(caps), encoder.encode(caps))
    assert torch.allclose(encoder.encode(caps).norm(dim=1), torch.ones(2), atol=1e-5)


def test_image_matcher_is_frozen_and_passes_gradients_to_the_images(encoder):
    match = encoder.image_matcher()
    grads = [None if p.grad is None else p.grad.clone() for p in encoder.image_net.parameters()]
    x = (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_(True)
    v = match(x)
    assert v.shape == (4, 32)
    expected = encoder.encode_images(x.detach())  # the same encoder, normalised
    assert torch.allclose(torch.nn.functional.normalize(v.detach(), dim=1), expected, atol=1e-5)
    v.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for p, before in zip(encoder.image_net.parameters(), grads, strict=True):  # nothing trains it
        assert (p.grad is None) == (before is None)
        assert before is None or torch.equal(p.grad, before)
    assert not any(t.requires_grad for t in match.__closure__[0].cell_contents.parameters())


def test_minilm_missing_is_named(monkeypatch):
    import importlib.util

    from ganflow.models.text.minilm import MiniLMUnavailable

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MiniLMUnavailable, match=r"\[minilm\]"):
        EncoderRecipe(kind="minilm").validate()


def _flat(state):
    return {f"{k}.{k2}": v for k, sub in state.items() if isinstance(sub, dict)
            for k2, v in sub.items() if isinstance(v, torch.Tensor)}  # fmt: skip


def test_stage2_killed_resumes_to_the_unbroken_state(tiny_captions, encoder, tmp_path):
    s1 = train_stage(tiny_captions, encoder, CFG, RUN, 1, tmp_path / "s1", DEV)
    whole = train_stage(
        tiny_captions, encoder, CFG, RUN, 2, tmp_path / "whole", DEV, s1["checkpoint"]
    )

    def kill_at_8(step, total, logs):
        if step >= 8:
            raise Kill

    run = RunConfig(epochs=1, checkpoint_every=4)
    with pytest.raises(Kill):
        train_stage(
            tiny_captions,
            encoder,
            CFG,
            run,
            2,
            tmp_path / "killed",
            DEV,
            s1["checkpoint"],
            kill_at_8,
        )
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 8
    resumed = train_stage(
        tiny_captions, encoder, CFG, run, 2, tmp_path / "killed", DEV, s1["checkpoint"]
    )
    assert resumed["resumed_from"] == 8 and resumed["steps"] == whole["steps"] == 20
    a = _flat(load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["state"])
    b = _flat(load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["state"])
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []
    # Stage-I inside the Stage-II checkpoint is the Stage-I that was trained
    g1 = load_checkpoint(s1["checkpoint"])["state"]["G1"]
    assert all(
        torch.equal(g1[k], v)
        for k, v in load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["state"]["G1"].items()
    )

    other = train_stage(
        tiny_captions, encoder, CFG, RunConfig(epochs=1, seed=1), 1, tmp_path / "s1b", DEV
    )
    with pytest.raises(CheckpointError, match="another config"):
        train_stage(
            tiny_captions, encoder, CFG, run, 2, tmp_path / "killed", DEV, other["checkpoint"]
        )
    with pytest.raises(ConfigError, match="Stage-I checkpoint"):
        train_stage(tiny_captions, encoder, CFG, run, 2, tmp_path / "x", DEV)


def test_g_ema_is_what_stage2_refines_and_what_the_run_is_loaded_with(
    tiny_captions, encoder, tmp_path
):
    from ganflow.tasks.train.checkpoint import load_run

    cfg = CFG.with_overrides({"g_ema": 0.9})
    s1 = train_stage(tiny_captions, encoder, cfg, RUN, 1, tmp_path / "s1", DEV)
    s2 = train_stage(tiny_captions, encoder, cfg, RUN, 2, tmp_path / "s2", DEV, s1["checkpoint"])
    state1 = load_checkpoint(s1["checkpoint"])["state"]
    state2 = load_checkpoint(s2["checkpoint"])["state"]
    avg1, avg2 = state1["ema_g1"]["shadow"], state2["ema_g2"]["shadow"]
    assert any(not torch.equal(avg1[k], v) for k, v in state1["G1"].items())
    # Stage-II refined Stage-I's average, not its last weights
    assert all(torch.equal(avg1[k], v) for k, v in state2["G1"].items())
    run = load_run(s2["checkpoint"], family="stackgan")
    for name, avg in (("G1", avg1), ("G2", avg2)):
        assert all(torch.equal(avg[k], v) for k, v in run.modules[name].state_dict().items())
