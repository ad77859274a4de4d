"""`train-gan --family sgan` on digits: it trains, samples by class and reports the class
consistency of its samples as the domain classifier reads them; unlabelled data and bad
settings are refused in one line."""

import json
from pathlib import Path

import torch

from ganflow.flows.cli import main

FAST = ["--steps", "40", "--set", "encoder_steps=20", "--set", "width=8", "--set", "feature_dim=32",
        "--num-samples", "300", "--no-prefect", "--json"]  # fmt: skip


def test_sgan_trains_samples_by_class_and_reports_class_consistency(capsys, tmp_path):
    assert main(["train-gan", "--family", "sgan", "--data", "digits", *FAST,
                 "--run-dir", str(tmp_path / "s")]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    cc = out["class_consistency"]
    assert 0.0 <= cc <= 1.0 and out["config"]["encoder_steps"] == 20
    # the figure is the share of the stored samples the domain classifier reads as their class
    from ganflow.tasks.evaluate.extractors import reference_extractor
    from ganflow.tasks.evaluate.protocol import EvalParams, load_reference

    seed_dir = Path(out["per_seed"][0]["samples_png"]).parent
    stored = torch.load(seed_dir / "samples.pt", weights_only=True)
    assert sorted(set(stored["y"].tolist())) == list(range(10))  # drawn class by class
    raw = load_reference(EvalParams(data="digits", cas=False, inception="off"))
    ext, _ = reference_extractor(raw, "digits")
    read = torch.from_numpy(ext.probs(stored["x"]).argmax(1))
    assert cc == (read == stored["y"]).double().mean().item()


def test_the_table_names_the_family(capsys, tmp_path):
    fast = [a for a in FAST if a != "--json"]
    assert main(["train-gan", "--family", "sgan", "--data", "digits", *fast, "--quiet",
                 "--run-dir", str(tmp_path / "s")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("digits: sgan, seeds [0], 40 steps") and "class_consistency" in out


def test_refusals_are_one_line(capsys, tmp_path):
    from PIL import Image

    flat = tmp_path / "faces"  # a folder without class folders: no labels to learn from
    flat.mkdir()
    for i in range(12):
        Image.new("RGB", (10, 10), (i * 20, 0, 0)).save(flat / f"{i}.png")
    for extra, says in ((["--data", "ring"], "draws images"),
                        (["--data", "digits", "--set", "joint_share=2"], "joint_share"),
                        (["--data", "folder", "--data-root", str(flat), "--image-size", "8"],
                         "learns from the classes")):  # fmt: skip
        code = main(
            ["train-gan", "--family", "sgan", *extra, *FAST, "--run-dir", str(tmp_path / "r")]
        )
        full = capsys.readouterr().err
        err = full.strip().splitlines()[-1]  # after any progress lines
        assert (
            "Traceback" not in full
            and code == 2
            and says in err
            and err.startswith("ganflow: error:")
        ), err


def test_steps_that_leave_no_gan_steps_are_refused(capsys, tmp_path):
    run = tmp_path / "r"
    code = main(["train-gan", "--family", "sgan", "--data", "digits", "--steps", "20",
                 "--set", "encoder_steps=20", "--no-prefect", "--run-dir", str(run)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("ganflow: error: sgan: 20 steps leave none")
