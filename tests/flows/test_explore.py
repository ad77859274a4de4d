"""`ganflow explore` on tiny digits GANs: the pictures, walks whose end points are the bank's
samples exactly, arithmetic on sample numbers and class names, the nearest training images,
and one-line refusals."""

import json
from pathlib import Path

import pytest
import torch
from readme_keys import assert_documented

from ganflow.flows.cli import main
from ganflow.flows.explore import open_space
from ganflow.tasks.evaluate import explore as X


def _train(tmp_path_factory, **over):
    from ganflow.models.gan.config import GANConfig
    from ganflow.tasks.data.streams import load_data
    from ganflow.tasks.train.gan import train_gan
    from ganflow.tasks.train.trainer import RunConfig

    out = tmp_path_factory.mktemp("gan")
    cfg = GANConfig(arch="mlp", width=32, depth=2, z_dim=8, batch_size=32, **over)
    return train_gan(load_data("digits"), cfg, RunConfig(seed=0), out, steps=40)["checkpoint"]


@pytest.fixture(scope="module")
def cgan(tmp_path_factory):
    return _train(tmp_path_factory, condition="projection")


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    return _train(tmp_path_factory)


def _explore(ckpt, run_dir, *extra):
    return ["explore", "--no-prefect", "--checkpoint", ckpt, "--bank", "20", "--pairs", "3",
            "--steps", "5", "--run-dir", str(run_dir), "--json", *extra]  # fmt: skip


def test_a_conditional_run_gets_every_picture(cgan, capsys, tmp_path):
    args = _explore(cgan, tmp_path / "e", "--arithmetic", "0 10 - 1 + 2; 3 - 4 + 5",
                    "--neighbour-samples", "4")  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("explore", out)
    want = {"bank", "walk_linear", "walk_spherical", "class_held", "noise_held",
            "neighbours_pixels", "neighbours_features"}  # fmt: skip
    assert set(out["pictures"]) == want
    for path in [*out["pictures"].values(), *(a["picture"] for a in out["arithmetic"])]:
        assert Path(path).read_bytes()[:4] == b"\x89PNG"
        assert Path(path).name in Path(out["report"]).read_text()
    assert [a["groups"] for a in out["arithmetic"]] == [[[0, 10], [1], [2]], [[3], [4], [5]]]
    for where in ("pixels", "features"):
        nn = out["neighbours"][where]
        assert len(nn["indices"]) == 4 and len(nn["indices"][0]) == 5
        assert all(d == sorted(d) for d in nn["distances"])  # nearest first
    assert out["noise_held_columns"] == [str(c) for c in range(10)]


def test_walks_start_and_end_on_the_bank_samples_exactly(cgan):
    _, space = open_space(cgan, "cpu")
    bank = X.draw_bank(space, 6, 10, seed=0)
    for mode in ("linear", "spherical"):
        rows = X.interpolation_rows(space, bank, [(0, 1), (2, 5)], 7, mode)
        assert torch.equal(rows[0][0], bank.images[0]) and torch.equal(rows[0][-1], bank.images[1])
        assert torch.equal(rows[1][0], bank.images[2]) and torch.equal(rows[1][-1], bank.images[5])
        assert not torch.equal(rows[0][3], bank.images[0])  # and something moves between them
    # the noise held, the class changed: the bank's sample 0 (class 0) is in that grid's
    # first column when its z is the same; class-held walks keep one class
    grid = X.noise_held_rows(space, 10, 2, seed=0)
    assert grid.shape == (2, 10, 1, 8, 8)
    assert not torch.equal(grid[0, 0], grid[0, 1])


def test_arithmetic_result_is_the_signed_sum_of_group_means(cgan):
    _, space = open_space(cgan, "cpu")
    bank = X.draw_bank(space, 12, 10, seed=0)
    terms = X.parse_arithmetic("1 2 - 3 + 4 5 6", bank, [str(c) for c in range(10)])
    means, result = X.arithmetic(space, bank, terms, variants=3, seed=0)
    w = bank.w[[1, 2]].mean(0) - bank.w[3] + bank.w[[4, 5, 6]].mean(0)
    assert torch.allclose(result[0], space.decode(w[None])[0], atol=1e-6)
    assert torch.allclose(means[1], bank.images[3], atol=1e-6)
    assert not torch.allclose(result[1], result[0])  # the variants add noise to z


def test_refusals_are_one_line_and_nothing_is_written(gan, cgan, capsys, tmp_path):
    cases = (
        (gan, ["--arithmetic", "0 - 1 + 3"], 0, None),  # fine: numbers
        (gan, ["--arithmetic", "0 - seven"], 2, "unconditional"),
        (gan, ["--arithmetic", "0 - 99"], 2, "sample 99 is not in the bank"),
        (cgan, ["--arithmetic", "0 - cat"], 2, "neither sample numbers nor a class"),
        (gan, ["--pairs", "11"], 2, "holds 10 pairs"),
        (gan, ["--steps", "1"], 2, "steps must be at least 2"),
        (str(tmp_path / "none.pt"), [], 2, "does not exist"),
    )
    for i, (ckpt, extra, code, says) in enumerate(cases):
        run_dir = tmp_path / f"r{i}"
        if code == 0:
            extra = [*extra, "--neighbours-in", "none"]
        assert main(_explore(ckpt, run_dir, *extra)) == code, extra
        err = capsys.readouterr().err.strip()
        if says:
            assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err
            assert not run_dir.exists()
