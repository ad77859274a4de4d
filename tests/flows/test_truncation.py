"""The truncation flow on a tiny digits GAN: one row per threshold and the untruncated one,
the plot, and one-line refusals."""

import json
from pathlib import Path

import pytest
from readme_keys import assert_documented

from ganflow.flows.cli import main


@pytest.fixture(scope="module")
def gan_checkpoint(tmp_path_factory):
    from ganflow.models.gan.config import GANConfig
    from ganflow.tasks.data.streams import load_data
    from ganflow.tasks.train.gan import train_gan
    from ganflow.tasks.train.trainer import RunConfig

    out = tmp_path_factory.mktemp("gan")
    cfg = GANConfig(arch="mlp", width=32, depth=2, z_dim=8, batch_size=32)
    return train_gan(load_data("digits"), cfg, RunConfig(seed=0), out, steps=60)["checkpoint"]


def test_curve_rows_plot_and_json(gan_checkpoint, capsys, tmp_path):
    args = [
        "truncation",
        "--no-prefect",
        "--checkpoint",
        gan_checkpoint,
        "--thresholds",
        "0.25,1.0",
        "--num-samples",
        "200",
        "--run-dir",
        str(tmp_path / "t"),
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("truncation", out, absent={"none"})  # a value of `truncation`
    assert [r["truncation"] for r in out["rows"]] == [0.25, 1.0, "none"]
    for r in out["rows"]:
        assert {"fid", "precision", "recall", "density", "coverage"} <= r.keys()
    # a tighter threshold draws other images: the scores move
    assert out["rows"][0]["fid"] != out["rows"][1]["fid"]
    assert Path(out["plot"]).read_bytes()[:4] == b"\x89PNG"
    assert "truncation.png" in Path(out["report"]).read_text()


def test_refusals_are_one_line(gan_checkpoint, capsys, tmp_path):
    for extra, names in (
        (["--thresholds", "0,1"], "thresholds"),
        (["--thresholds", "nan,0.5"], "expected finite numbers, got 'nan,0.5'"),
        (["--num-samples", "3"], "num_samples"),
    ):
        code = main(
            [
                "truncation",
                "--no-prefect",
                "--checkpoint",
                gan_checkpoint,
                *extra,
                "--run-dir",
                str(tmp_path / "r"),
            ]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and names in err[0]
    code = main(["truncation", "--no-prefect", "--checkpoint", str(tmp_path / "none.pt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "does not exist" in err[0]
