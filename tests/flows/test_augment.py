"""The augment pipeline, its Prefect flow and CLI on a tiny digits config; `ganflow serve`'s
argument checks."""

import json
from pathlib import Path

import pytest
import torch
from readme_keys import assert_documented

from ganflow.flows.augment import AugmentParams, mix, run_augment
from ganflow.flows.cli import main

TINY = dict(
    data="digits",
    labels_per_class=3,
    epochs=2,
    per_class=4,
    min_confidence=0.0,
    balance="natural",
    classifier_steps=20,
    cas_steps=20,
    device="cpu",
)


def test_mix_repeats_the_real_images_to_the_asked_share():
    xr, yr = torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.zeros(10, dtype=torch.long)
    xs, ys = torch.ones(90, 1, 2, 2, dtype=torch.uint8), torch.ones(90, dtype=torch.long)
    x, y = mix(xr, yr, xs, ys, 0.5)
    assert len(x) == 180 and int((y == 0).sum()) == 90 and torch.equal(x[y == 1], xs)
    assert len(mix(xr, yr, xs, ys, 0.0)[0]) == 100
    with pytest.raises(ValueError, match="real_fraction"):
        mix(xr, yr, xs, ys, 1.0)


def test_pipeline_reuses_the_cached_generator_and_exports_a_new_version(tmp_path):
    p = AugmentParams(
        **TINY,
        seeds=[0],
        datasets_root=str(tmp_path / "ds"),
        cache_dir=str(tmp_path / "cache"),
        run_dir=str(tmp_path / "run"),
    )
    s = run_augment(p)
    for key in (
        "real_only_accuracy_mean",
        "real_plus_synthetic_accuracy_mean",
        "cas_accuracy",
        "export_path",
    ):
        assert key in s
    assert s["real_only_accuracy_mean"] == pytest.approx(s["per_seed"][0]["real_only_accuracy"])
    assert s["gain_mean"] == pytest.approx(
        s["real_plus_synthetic_accuracy_mean"] - s["real_only_accuracy_mean"]
    )
    assert Path(s["export_path"]).name == "v1"
    row = s["per_seed"][0]
    assert row["synthetic_count"] == 40 and row["labelled"] == 30
    report = Path(s["report"]).read_text()
    assert "real + synthetic" in report and "exported_samples.png" in report
    assert Path(s["samples_png"]).read_bytes()[:4] == b"\x89PNG"
    ckpt = Path(row["generator_checkpoint"])
    stamp = ckpt.stat().st_mtime_ns
    again = run_augment(p)
    assert (
        Path(again["export_path"]).name == "v2" and ckpt.stat().st_mtime_ns == stamp
    )  # generator reused
    with pytest.raises(ValueError, match="generator must be one of"):
        run_augment(AugmentParams(generator="vae"))


def test_flow_and_cli(tmp_path, capsys, prefect_harness):
    from ganflow.flows.augment import augment_flow

    s = augment_flow(
        **TINY,
        generator="cgan",
        model={"arch": "mlp", "width": 32, "depth": 1, "batch_size": 16},
        datasets_root=str(tmp_path / "ds"),
        cache_dir=str(tmp_path / "cache"),
    )
    assert s["generator"] == "cgan" and Path(s["export_path"]).is_dir()
    from ganflow.flows.export import export_flow

    r = export_flow(
        checkpoint=s["per_seed"][0]["generator_checkpoint"],
        name="from-flow",
        per_class=2,
        metrics=False,
        root=str(tmp_path / "ds"),
    )
    assert r["count"] == 20 and r["version"] == 1
    args = [
        "augment",
        "--data",
        "digits",
        "--labels-per-class",
        "3",
        "--epochs",
        "2",
        "--per-class",
        "4",
        "--min-confidence",
        "0",
        "--balance",
        "natural",
        "--classifier-steps",
        "20",
        "--root",
        str(tmp_path / "ds2"),
        "--run-dir",
        str(tmp_path / "run"),
        "--no-prefect",
        "--json",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("augment", out)
    for key in (
        "real_only_accuracy_mean",
        "real_plus_synthetic_accuracy_mean",
        "cas_accuracy",
        "export_path",
    ):
        assert key in out


def test_serve_checks_its_arguments(capsys):
    assert (
        main(["serve", "augment", "--interval", "60", "--param", "data=digits", "--dry-run"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["parameters"] == {"data": "digits"}
    assert main(["serve", "augment", "--dry-run"]) == 2
    assert "give one schedule" in capsys.readouterr().err
    assert main(["serve", "augment", "--interval", "60", "--param", "colour=red", "--dry-run"]) == 2
    assert "has no parameter(s) ['colour']" in capsys.readouterr().err
    assert main(["serve", "augment", "--interval", "0", "--dry-run"]) == 2
    assert "--interval must be positive" in capsys.readouterr().err
    assert main(["serve", "augment", "--interval", "60", "--limit", "0", "--dry-run"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
    assert main(["serve", "nonsense", "--cron", "0 3 * * *", "--dry-run"]) == 2
    assert "unknown flow 'nonsense'" in capsys.readouterr().err
