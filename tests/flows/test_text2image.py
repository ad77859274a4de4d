"""The text2image flow end to end on tiny data: `ganflow text2image train --json` gives both
stages' scores (a user's caption table, no attributes: no consistency); on a captioned set
with attributes the flow scores consistency, exports captions with the images, and
`generate` draws a grid and reads the prompt's attributes back; bad input is one line."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from readme_keys import assert_documented

from ganflow.flows.cli import main
from ganflow.flows.text2image import Text2ImageParams, Text2ImageSteps, run_text2image
from ganflow.tasks.data.captions import save_split
from ganflow.tasks.export.reader import read_labels, verify

TINY = ["--set", "ngf=4", "--set", "ndf=4", "--set", "batch_size=16", "--set", "res_blocks=1"]


def _table(split, root):
    root.mkdir()
    with open(root / "captions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        for i, (img, caps) in enumerate(
            zip(split.train.images[:120], split.train.captions, strict=False)
        ):
            Image.fromarray(img.transpose(1, 2, 0)).save(root / f"{i}.png")
            w.writerow([f"{i}.png", caps[0]])
    return root / "captions.csv"


def test_cli_on_a_caption_table(tiny_captions, tmp_path, capsys):
    table = _table(tiny_captions, tmp_path / "table")
    argv = ["text2image", "train", "--data", "table", "--data-root", str(table), "--image-size", "32",
            "--epochs", "1", "--test-images", "12", "--no-prefect", "--json", "--quiet",
            "--run-dir", str(tmp_path / "run"), *TINY]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("text2image train", out)
    for stage in ("stage1", "stage2"):
        assert {"consistency", "fid", "kid_mean", "is_mean", "r_precision"} <= out[stage].keys()
        assert out[stage]["consistency"] is None and out[stage]["fid"] > 0
    assert out["run_dir"] == str(tmp_path / "run") and (tmp_path / "run" / "samples.png").exists()


@pytest.fixture(scope="module")
def attribute_run(tiny_captions, tmp_path_factory):
    work = tmp_path_factory.mktemp("t2i")
    path = save_split(tiny_captions, work / "split.npz")
    fp = tiny_captions.fingerprint
    steps = Text2ImageSteps(prepare=lambda *a: {"path": str(path), "fingerprint": fp})
    settings = {k.split("=")[0]: int(k.split("=")[1]) for k in TINY[1::2]}
    p = Text2ImageParams(epochs=2, test_images=40, export="tiny-captioned", export_images=30,
                         run_dir=str(work / "run"), settings=settings)  # fmt: skip
    return run_text2image(p, steps), work


def test_flow_scores_consistency_and_exports_captions(attribute_run):
    s, _ = attribute_run
    for stage in ("stage1", "stage2", "real"):
        assert set(s[stage]["consistency"]) == {"class", "colour", "size", "position"}
    assert s["real"]["consistency"]["colour"] > 0.25  # the reader reads real images (chance: 1/8)
    version = s["export"]["path"]
    verify(version)  # raises on a bad version
    with open(f"{version}/labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    manifest = json.loads(Path(f"{version}/manifest.json").read_text())
    assert (
        len(rows) == 30
        and rows[0]["caption"]
        and manifest["captions"][rows[0]["file"]] == rows[0]["caption"]
    )
    assert len(read_labels(Path(version))) == 30
    assert {r["class_name"] for r in rows} <= {"t-shirt", "trouser"}


def test_generate_draws_the_grid_reads_back_and_never_overwrites(attribute_run, tmp_path, capsys):
    s, _ = attribute_run
    grid = tmp_path / "grid.png"
    argv = ["text2image", "generate", "--checkpoint", s["checkpoint"], "--prompt",
            "a large blue trouser in the centre", "--n", "9", "--output", str(grid), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("text2image generate", out)
    assert np.asarray(Image.open(grid)).shape[2] == 3 and out["n"] == 9 and out["stage"] == 2
    back = out["read_back"]
    assert {a: r["asked"] for a, r in back.items()} == {
        "class": "trouser", "colour": "blue", "size": "large", "position": "centre"}  # fmt: skip
    assert all(0 <= r["share"] <= 1 for r in back.values())
    before = grid.read_bytes()
    assert main(argv) == 2 and grid.read_bytes() == before
    assert "not overwritten" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["text2image", "train", "--data", "cub"], "needs --data-root"),
    (["text2image", "train", "--image-size", "48"], "--image-size must be a power of 2 of at least 32 (Stage-I draws at half of it), got 48"),
    (["text2image", "train", "--epochs", "0"], "epochs"),
    (["text2image", "generate", "--checkpoint", "nope.pt", "--prompt", "x", "--output", "/tmp/none-such-dir/x.png"], "does not exist"),
])  # fmt: skip
def test_bad_input_is_one_line(argv, message, capsys):
    assert main([*argv, "--no-prefect"] if argv[1] == "train" else argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
