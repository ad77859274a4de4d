"""Smoke tests of the `translate` flow (Prefect) and `ganflow translate [apply]` on tiny
folders: the JSON keys of both models and their baselines, the report, resume, and a
folder translated both ways without overwriting anything."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from readme_keys import assert_documented

from ganflow.flows.cli import main

TINY = {"ngf": 4, "ndf": 4, "batch_size": 4}


def _folder(root: Path, names: list[str], n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (10, 10), dtype=np.uint8)).save(
                root / name / f"{i}.png"
            )


@pytest.fixture(scope="module")
def paired_summary(prefect_harness, tmp_path_factory):
    from ganflow.flows.translate import translate_flow

    root = tmp_path_factory.mktemp("paired")
    _folder(root, ["A", "B"], 20, 0)  # a tenth held out: 2 test pairs, enough for FID
    return translate_flow(model="pix2pix", data="folder", data_root=str(root), image_size=8,
                          channels=1, epochs=2, settings=TINY, run_dir=str(root / "run"))  # fmt: skip


def test_pix2pix_flow_reports_the_model_and_both_baselines(paired_summary):
    s = paired_summary
    keys = {"l1", "psnr", "ssim", "fid"}
    assert {"model", "task", "run_dir"} <= s.keys() and keys <= s.keys()
    assert s["model"] == "pix2pix" and s["task"] == "folder"
    assert set(s["baselines"]) == {"identity", "l1_unet"}
    assert all(keys <= b.keys() for b in s["baselines"].values())
    # an unlabelled folder: FID in the label-free Inception features, the protocol says so
    assert s["fid"] > 0 and "fid-inception" in s["protocol"]["features"]
    assert "no classes" in s["protocol"]["features"]
    assert s["steps"] == 2 * 5 and set(s["checkpoints"]) == {"pix2pix", "l1-unet"}
    assert Path(s["pictures"]).read_bytes()[:4] == b"\x89PNG"
    assert "| identity |" in Path(s["report"]).read_text()


def test_cyclegan_cli_resumes_and_applies_both_ways(tmp_path, capsys):
    _folder(tmp_path / "data", ["trainA", "trainB"], 20, 1)  # 2 held out of each: FID
    _folder(tmp_path / "input", ["class0", "class1"], 2, 2)
    args = ["translate", "--model", "cyclegan", "--data", "folder", "--data-root", str(tmp_path / "data"),
            "--image-size", "8", "--channels", "1", "--epochs", "1", "--run-dir", str(tmp_path / "run"),
            "--no-prefect", "--json", "--quiet", *[f"--set={k}={v}" for k, v in TINY.items()]]  # fmt: skip
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert_documented("translate", first, absent={"l1", "psnr", "ssim", "l1_unet"})  # pix2pix's
    for key in ("target_domain_rate", "ssim_to_input", "cycle_l1", "fid", "content_accuracy"):
        assert key in first and key in first["baselines"]["identity"]
    identity = first["baselines"]["identity"]
    assert identity["cycle_l1"] == 0.0 and first["cycle_l1"] > 0
    assert identity["ssim_to_input"] == pytest.approx(1.0) and first["ssim_to_input"] < 1
    assert first["content_accuracy"] is None  # a folder has no classes to keep
    assert 0 <= first["target_domain_rate"] <= 1
    assert first["protocol"]["domain_judge"]["trained_on"] == [18, 18]
    assert set(first["reverse"]) == {"model", "identity"}  # B -> A, scored too
    assert first["reverse"]["identity"]["ssim_to_input"] == pytest.approx(1.0)
    assert main(args) == 0  # the same run directory: the finished run is reused
    assert json.loads(capsys.readouterr().out)["steps"] == first["steps"]
    ckpt = first["checkpoints"]["cyclegan"]
    for direction in ("a2b", "b2a"):
        out = tmp_path / f"out-{direction}"
        apply = ["translate", "apply", "--checkpoint", ckpt, "--input", str(tmp_path / "input"),
                 "--output", str(out), "--direction", direction, "--json", "--quiet"]  # fmt: skip
        assert main(apply) == 0
        applied = json.loads(capsys.readouterr().out)
        assert applied["count"] == 4
        assert_documented("translate apply", applied, absent={"path", "version", "per_class"})
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
            "class0/0.png", "class0/1.png", "class1/0.png", "class1/1.png"]  # fmt: skip
        before = (out / "class0" / "0.png").read_bytes()
        assert main(apply) == 2  # never overwritten
        assert "not empty" in capsys.readouterr().err
        assert (out / "class0" / "0.png").read_bytes() == before
    photos = tmp_path / "photos"  # any size, grey among colour: back at each one's size
    photos.mkdir()
    Image.new("RGB", (13, 7), (200, 30, 30)).save(photos / "wide.jpg")
    Image.new("L", (6, 11), 90).save(photos / "tall.png")
    keep = ["translate", "apply", "--checkpoint", ckpt, "--input", str(photos), "--json",
            "--quiet", "--output", str(tmp_path / "kept"), "--keep-size"]  # fmt: skip
    assert main(keep) == 0 and json.loads(capsys.readouterr().out)["keep_size"] is True
    assert {p.name: Image.open(p).size for p in (tmp_path / "kept").iterdir()} == {
        "wide.png": (13, 7), "tall.png": (6, 11)}  # fmt: skip
    assert main([*keep[:-3], "--export", "kept", "--keep-size"]) == 2
    assert "--keep-size writes a folder" in capsys.readouterr().err
    export = ["translate", "apply", "--checkpoint", ckpt, "--input", str(tmp_path / "input"),
              "--export", "translated", "--json", "--quiet"]  # fmt: skip
    assert main(export) == 0 and main(export) == 0  # two versions, the first kept
    first_export, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert second["version"] == first_export["version"] + 1 and second["count"] == 4
    assert Path(first_export["path"]).is_dir()
    assert second["per_class"] == {"class0": 2, "class1": 2}
    manifest = json.loads((Path(second["path"]) / "manifest.json").read_text())
    assert manifest["generator"] == "cyclegan" and manifest["class_names"] == ["class0", "class1"]


def test_bad_translate_input_is_one_line(tmp_path, capsys):
    assert main(["translate", "--data", "fashion2fashion-m", "--no-prefect"]) == 2
    assert "pix2pix needs pairs" in capsys.readouterr().err
    assert main(["translate", "--data", "folder", "--data-root", str(tmp_path), "--image-size", "30",
                 "--no-prefect"]) == 2  # fmt: skip
    assert "multiple of 4" in capsys.readouterr().err
    apply = ["translate", "apply", "--checkpoint", str(tmp_path / "x.pt"), "--output", str(tmp_path / "o")]  # fmt: skip
    assert main([*apply, "--input", str(tmp_path)]) == 2  # the folder first: no checkpoint read
    assert "holds no images" in capsys.readouterr().err
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (8, 8)).save(photos / "a.png")
    assert main([*apply, "--input", str(photos)]) == 2
    assert "x.pt does not exist" in capsys.readouterr().err
    version = tmp_path / "sets" / "mine" / "v1"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text("{}")
    assert main(["translate", "apply", "--checkpoint", str(tmp_path / "x.pt"), "--input", str(tmp_path),
                 "--output", str(version / "translated")]) == 2  # fmt: skip
    assert "inside the published data set version" in capsys.readouterr().err
    assert sorted(p.name for p in version.iterdir()) == ["manifest.json"]
    grid = ["text2image", "generate", "--checkpoint", str(tmp_path / "x.pt"), "--prompt", "a shoe"]
    assert main([*grid, "--output", str(version / "grid.png")]) == 2
    assert "inside the published data set version" in capsys.readouterr().err
    assert sorted(p.name for p in version.iterdir()) == ["manifest.json"]


def test_folder_defaults_follow_the_papers_and_built_in_tasks_keep_theirs():
    from ganflow.flows.translate import TranslateParams, jitter_side

    assert [jitter_side(s) for s in (256, 128, 64)] == [286, 144, 72]
    for model in ("pix2pix", "cyclegan"):
        p = TranslateParams(model=model, data="folder", data_root="x", image_size=128)
        assert p.train_epochs() == 200 and p.flips() and p.crop() == 128
        assert p.source().image_size == 144
        assert p.model_settings()["batch_size"] == 1
        assert p.model_settings()["lr_decay_start"] == 0.5
    mine = TranslateParams(data="folder", data_root="x", image_size=64, load_size=64, flip=False,
                           epochs=3, settings={"batch_size": 4})  # fmt: skip
    assert mine.crop() is None and not mine.flips() and mine.train_epochs() == 3
    assert mine.model_settings()["batch_size"] == 4 and mine.source().image_size == 64
    built_in = TranslateParams(data="edges2fashion")
    assert built_in.train_epochs() == 1 and not built_in.flips() and built_in.crop() is None
    assert built_in.model_settings()["batch_size"] == 16


def test_translation_pictures_name_their_rows(tmp_path):
    import torch

    from ganflow.flows.translate import pictures

    examples = {k: torch.full((3, 3, 8, 8), 128, dtype=torch.uint8)
                for k in ("input", "cyclegan", "cycle", "target")}  # fmt: skip
    img = np.asarray(Image.open(pictures(examples, tmp_path / "p.png")))
    margin = img[:, : img.shape[1] - 3 * 34 - 4]  # left of the 3 images of 32 (+ padding)
    assert (margin < 100).any(), "no row names drawn"
    area = img[:, -(3 * 34 + 2) :]
    rows = [r for r in range(img.shape[0]) if (area[r] == 128).all(-1).any()]
    assert len(rows) == 4 * 32  # four rows of images, each 32 pixels high
