"""Toy mode scores on hand-made points; train-gan / gan-grid smoke tests (pipeline, CLI, flow)."""

import json
from pathlib import Path

import pytest
import torch
from readme_keys import assert_documented

from ganflow.flows.cli import main
from ganflow.flows.gan import GANParams, parse_grid, run_gan
from ganflow.models.config import ConfigError
from ganflow.tasks.data import toy

TINY = {"width": 32, "depth": 2, "batch_size": 32}


def test_mode_scores_hand_cases():
    c, std = toy.centres("grid")
    s = toy.mode_scores(c.float(), "grid")
    assert (s["modes"], s["hq"], s["max_modes"]) == (25, 1.0, 25)
    one = c[:1].repeat(10, 1).float()
    assert toy.mode_scores(one, "grid")["modes"] == 1
    # 3 std away is outside; 2.9 std inside; a far point counts against HQ only
    pts = torch.tensor([[3 * std + 1e-6, 0.0], [2.9 * std, 0.0], [1.0, 1.0], [float("nan"), 0.0]])
    s = toy.mode_scores(pts + c[12].float(), "grid")
    assert s["modes"] == 1 and s["hq"] == pytest.approx(1 / 4) and s["per_mode"][12] == 1
    ring, _ = toy.centres("ring")
    assert torch.allclose(ring.norm(dim=1), torch.ones(8, dtype=ring.dtype))
    assert (
        toy.mode_scores(toy.sample("ring", 2500, torch.Generator().manual_seed(0)), "ring")["hq"]
        > 0.98
    )


def test_parse_grid():
    assert parse_grid(["loss=nonsaturating,hinge", "pack=1,4"]) == {
        "loss": ["nonsaturating", "hinge"],
        "pack": [1, 4],
    }
    with pytest.raises(ValueError, match="key=v1"):
        parse_grid(["loss"])
    # an axis given twice takes the values of both, each once
    assert parse_grid(["pack=1", "loss=hinge", "pack=2,1"]) == {"pack": [1, 2], "loss": ["hinge"]}


def test_train_resume_and_score_on_the_ring(tmp_path):
    p = GANParams(data="ring", model=TINY, seeds=[0], steps=60, run_dir=str(tmp_path / "r"))
    s = run_gan(p)
    assert s["steps"] == 60 and s["scores"]["modes"]["mean"] == s["per_seed"][0]["modes"]
    assert s["scores"]["hq"]["mean"] == s["per_seed"][0]["hq"] and s["max_modes"] == 8
    assert Path(s["per_seed"][0]["heatmaps"]).read_bytes()[:4] == b"\x89PNG"
    assert "modes" in Path(s["report"]).read_text()
    # a rerun reuses the finished run: same checkpoint step, same scores
    again = run_gan(p)
    assert again["scores"] == s["scores"]
    with pytest.raises(Exception, match="other settings .model: "):
        run_gan(
            GANParams(
                data="ring", model={**TINY, "loss": "hinge"}, seeds=[0], steps=60, run_dir=p.run_dir
            )
        )


def test_cli_train_gan_json_and_bad_settings(capsys, tmp_path):
    args = [
        "train-gan",
        "--data",
        "grid",
        "--loss",
        "hinge",
        "--spectral-norm",
        "--steps",
        "40",
        "--seeds",
        "0,1",
        "--set",
        "width=32",
        "--batch-size",
        "32",
        "--no-prefect",
        "--json",
        "--run-dir",
        str(tmp_path / "g"),
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    # toy data: the image scores are not computed
    image_scores = {"fid", "kid_mean", "is_mean", "precision", "recall", "density", "coverage",
                    "class_consistency"}  # fmt: skip
    assert_documented("train-gan", out, absent=image_scores)
    assert out["config"]["loss"] == "hinge" and out["config"]["spectral_norm"] is True
    assert (
        isinstance(out["modes"], float)
        and isinstance(out["hq"], float)
        and len(out["per_seed"]) == 2
    )
    assert main(["train-gan", "--set", "nonsense=1", "--no-prefect"]) == 2
    assert "unknown GAN setting" in capsys.readouterr().err
    assert main(["train-gan", "--loss", "hinge", "--label-smoothing", "0.1", "--no-prefect"]) == 2
    assert "no meaning" in capsys.readouterr().err


def test_image_gan_scores_fid_with_domain_features(tmp_path, monkeypatch):
    """An MLP GAN on flattened digits is scored by the evaluation suite's domain classifier
    (trained here briefly, cached under GANFLOW_DATA); the default DCGAN takes 8x8 digits too."""
    import ganflow.tasks.evaluate.extractors as ex

    monkeypatch.setattr(ex, "DATA_DIR", tmp_path)
    p = GANParams(
        data="digits",
        model={"arch": "mlp", "width": 32, "depth": 2, "batch_size": 32, "z_dim": 8},
        steps=30,
        num_samples=200,
        run_dir=str(tmp_path / "d"),
    )
    s = run_gan(p)
    # 30 steps of training are far from the data: worse than real vs real under the same protocol
    scored = json.loads((Path(s["run_dir"]) / "seed0" / "metrics.json").read_text())
    assert (
        scored["fid"] == pytest.approx(s["scores"]["fid"]["mean"])
        and scored["fid"] > scored["floor"]["fid"]
    )
    assert Path(s["per_seed"][0]["samples_png"]).read_bytes()[:4] == b"\x89PNG"
    dc = run_gan(GANParams(data="digits", steps=2, num_samples=50, run_dir=str(tmp_path / "dc")))
    assert dc["config"]["arch"] == "dcgan" and dc["steps"] == 2


def test_grid_flow_publishes_a_comparison_table(prefect_harness, tmp_path):
    import asyncio

    from prefect.client.orchestration import get_client

    from ganflow.flows.gan import gan_grid_flow

    s = gan_grid_flow(
        data="ring",
        grid={"loss": ["nonsaturating", "lsgan"], "pack": [1, 2]},
        model=TINY,
        steps=30,
        run_dir=str(tmp_path / "grid"),
    )
    assert [r["config"] for r in s["rows"]] == [
        "loss=nonsaturating,pack=1",
        "loss=nonsaturating,pack=2",
        "loss=lsgan,pack=1",
        "loss=lsgan,pack=2",
    ]
    assert "| config | modes | hq |" in s["table"] and Path(s["run_dir"], "grid.md").is_file()
    from ganflow.flows.outputs import gan_json

    assert_documented("gan-grid", gan_json(s))  # what `gan-grid --json` prints

    async def keys():
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts()}

    assert {"gan-grid", "gan-grid-report"} <= asyncio.run(keys())


def test_toy_data_is_scaled_for_the_networks_and_back_for_scoring():
    from ganflow.tasks.data.streams import load_data

    data = load_data("grid")
    batch = data.real(512, 0, torch.device("cpu"), False)(0)
    assert batch.abs().max() < 2.5 and batch.abs().max() > 1.5  # the grid's +-4 divided by 2
    assert toy.mode_scores(batch * toy.SCALE["grid"], "grid")["hq"] > 0.98


def test_g_ema_run_resumes_and_scores_the_average(tmp_path):
    from ganflow.models.gan.sampling import sampler
    from ganflow.tasks.train.checkpoint import load_run

    p = GANParams(
        data="ring", model={**TINY, "g_ema": 0.9}, seeds=[0], steps=40, run_dir=str(tmp_path / "e")
    )
    s = run_gan(p)
    run = load_run(s["checkpoints"][0], family="gan").modules
    # the checkpoint carries the average, and it differs from the last G
    assert sampler(run) is run["G_ema"]
    assert any(
        not torch.equal(a, b)
        for a, b in zip(run["G"].parameters(), run["G_ema"].parameters(), strict=True)
    )
    assert run_gan(p)["scores"] == s["scores"]


@pytest.mark.parametrize(
    ("family", "model"),
    [
        ("lapgan", {"levels": 2, "hidden": 32, "channels": 8, "z_dim": 8, "batch_size": 32}),
        ("progan", {"channels": 8, "z_dim": 8, "batch_size": 32, "loss": "nonsaturating"}),
        ("infogan", {"width": 8, "z_dim": 8, "batch_size": 32}),
    ],
)
def test_other_families_train_and_score_through_train_gan(tmp_path, monkeypatch, family, model):
    import ganflow.tasks.evaluate.extractors as ex

    monkeypatch.setattr(ex, "DATA_DIR", tmp_path)
    p = GANParams(
        data="digits",
        family=family,
        model=model,
        steps=20,
        num_samples=100,
        run_dir=str(tmp_path / family),
    )
    s = run_gan(p)
    assert s["family"] == family and s["steps"] == 20 and s["scores"]["fid"]["mean"] > 0
    ckpt = torch.load(s["checkpoints"][0], weights_only=True)
    assert ckpt["config"]["family"] == family
    assert family in Path(s["report"]).read_text().lower()
    assert Path(s["per_seed"][0]["samples_png"]).read_bytes()[:4] == b"\x89PNG"


def test_families_refuse_toy_data_and_unknown_names():
    with pytest.raises(ConfigError, match="draws images"):
        GANParams(data="ring", family="lapgan").validate()
    with pytest.raises(ConfigError, match="family must be one of"):
        GANParams(data="digits", family="stylegan").validate()
    with pytest.raises(ConfigError, match="unknown"):
        GANParams(data="digits", family="progan", model={"width": 3}).validate()
    # InfoGAN's graph prior needs the data bundle `ganflow infogan` keeps its graph beside
    with pytest.raises(ConfigError, match="partition_weight.*ganflow infogan"):
        GANParams(data="digits", family="infogan", model={"partition_weight": 1.0}).validate()
    GANParams(data="digits", family="infogan", model={"partition_weight": 0.0}).validate()
