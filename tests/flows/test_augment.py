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
    soft = torch.full((90, 3), 0.2).index_fill(1, torch.tensor([1]), 0.6)  # (0.2, 0.6, 0.2)
    x, y = mix(xr, yr, xs, soft, 0.5)  # the real labels join as one-hot rows
    assert y.shape == (180, 3) and torch.equal(y[x[:, 0, 0, 0] == 0], torch.eye(3)[[0] * 90])
    assert torch.allclose(y[x[:, 0, 0, 0] == 1], soft)


def test_soft_targets_train_toward_the_probabilities_and_a_user_classifier_plugs_in():
    """Distillation: trained on probabilities (0.7, 0.3) the classifier's softmax settles near
    them; on their argmax it goes to (1, 0). The network is a user's module:function."""
    from ganflow.models.classifiers import ClassifierTraining, build_classifier, train_classifier
    from ganflow.tasks.evaluate.classification import predict

    x = torch.randint(0, 256, (64, 1, 4, 4), dtype=torch.uint8)
    soft = torch.tensor([[0.7, 0.3]]).repeat(64, 1)
    recipe = ClassifierTraining(epochs=200, min_steps=300, batch_size=64, weight_decay=0.0,
                                val_fraction=0.0, patience=0)  # fmt: skip
    got = {}
    for name, y in (("soft", soft), ("hard", soft.argmax(1))):
        model = build_classifier("user_nets:tiny_mlp", (1, 4, 4), 2, seed=0)
        train_classifier(model, x, y, recipe)
        got[name] = predict(model, x).softmax(1)[:, 0].mean().item()
    assert abs(got["soft"] - 0.7) < 0.05 and got["hard"] > 0.95
    with pytest.raises(ValueError, match="returned str, not an nn.Module"):
        build_classifier("user_nets:not_a_module", (1, 4, 4), 2)
    with pytest.raises(ValueError, match="user_nets has no missing"):
        build_classifier("user_nets:missing", (1, 4, 4), 2)


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
    # the five rows, the downstream classifier learning from the teacher's probabilities
    for key in ("real_plus_pseudo_accuracy", "synthetic_only_accuracy", "teacher_accuracy"):
        assert 0 <= row[key] <= 1 and s[f"{key}_mean"] == pytest.approx(row[key])
    assert s["soft_labels"] and row["teacher_checkpoint"] == row["generator_checkpoint"]
    assert s["downstream"]["classifier"] == "lenet" and row["pseudo_count"] > 1000
    from ganflow.tasks.data.bundle import load_bundle
    from ganflow.tasks.export.teacher import Teacher

    teacher = Teacher(row["teacher_checkpoint"])  # the K+1 GAN's classifier
    bundles = (tmp_path / "run" / "data").glob("digits-*.pt")
    b = load_bundle(next(f for f in bundles if "." not in f.stem))  # not the feature caches
    assert row["teacher_accuracy"] == pytest.approx(
        float((teacher(b.x_test).argmax(1) == b.y_test).double().mean())
    )
    report = Path(s["report"]).read_text()
    assert "real + pseudo-labelled real" in report and "the teacher itself" in report
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
    row = s["per_seed"][0]  # the cgan learns from the pool as the K+1 GAN labels it
    assert row["teacher_checkpoint"] != row["generator_checkpoint"] and s["soft_labels"]
    from ganflow.flows.augment import pool_data
    from ganflow.tasks.data.bundle import DataSpec, load_bundle, prepare

    bundle = prepare(DataSpec("digits", 3, 0), tmp_path / "bundle")["path"]
    pool, n = (
        pool_data(bundle, row["teacher_checkpoint"], 0.0, "cpu"),
        len(load_bundle(bundle).x_train),
    )
    assert pool.count == n and pool.fingerprint["pool_kept"] == n - 30  # all, 30 labelled
    strict = pool_data(bundle, row["teacher_checkpoint"], 0.99, "cpu")
    assert 30 <= strict.count < n and torch.equal(strict.labels[:30], pool.labels[:30])
    # labelled images weigh 1, pseudo-labelled ones the teacher's confidence in them
    assert torch.equal(pool.weights[:30], torch.ones(30)) and pool.weights.shape == (n,)
    assert float(pool.weights[30:].min()) >= 0.1 and float(pool.weights[30:].max()) <= 1
    assert float(pool.weights[30:].std()) > 0
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


def test_bad_augment_options_are_one_line(capsys):
    base = ["augment", "--data", "digits", "--no-prefect"]
    assert main([*base, "--classifier", "nosuchmodule:net"]) == 2
    assert "cannot import nosuchmodule" in capsys.readouterr().err
    assert main([*base, "--classifier", "lenet5"]) == 2
    assert "write it as module:function" in capsys.readouterr().err
    assert main([*base, "--pool-confidence", "1.5"]) == 2
    assert "pool_confidence must be in [0, 1]" in capsys.readouterr().err


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
