"""Export of versioned synthetic data sets: layout and manifest, versions, atomicity (a failure
or a kill mid-export leaves no visible version), checksums, path traversal, the loaders, the
generators that can feed an export, and the CLI."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from readme_keys import assert_documented

from ganflow.flows.cli import main
from ganflow.tasks.export import writer as ex
from ganflow.tasks.export.layout import ExportError, ExportOptions
from ganflow.tasks.export.reader import (
    list_datasets,
    load_dataset,
    read_labels,
    verify,
    version_dir,
)
from ganflow.tasks.export.writer import export_dataset
from ganflow.tasks.io import file_sha256
from ganflow.tasks.train.checkpoint import CheckpointError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cgan_ckpt(tmp_path_factory):
    """A (barely trained) projection-conditioned GAN on digits."""
    from ganflow.flows.gan import make_config
    from ganflow.tasks.data.streams import load_data
    from ganflow.tasks.train.gan import train_gan
    from ganflow.tasks.train.trainer import RunConfig

    cfg = make_config(
        "digits",
        {
            "arch": "mlp",
            "condition": "projection",
            "z_dim": 8,
            "width": 32,
            "depth": 2,
            "batch_size": 32,
        },
    )
    out = tmp_path_factory.mktemp("cgan")
    return train_gan(load_data("digits"), cfg, RunConfig(seed=0), out, steps=20)["checkpoint"]


def _export(ckpt, root, name="digits-syn", **kw):
    return export_dataset(ckpt, name, ExportOptions(**{"per_class": 3, **kw}), root)


def test_layout_manifest_and_loaders(cgan_ckpt, tmp_path):
    r = _export(cgan_ckpt, tmp_path, arrays=True, batch_size=7)
    path = Path(r["path"])
    assert (r["version"], r["count"], path) == (1, 30, tmp_path / "digits-syn" / "v1")
    assert r["per_class"] == {str(c): 3 for c in range(10)}
    m = json.loads((path / "manifest.json").read_text())
    for key in (
        "schema_version",
        "ganflow_version",
        "created",
        "source_run",
        "checkpoint_sha256",
        "config",
        "data",
        "per_class",
        "metrics",
        "files",
    ):
        assert key in m
    assert m["checkpoint_sha256"] == file_sha256(cgan_ckpt) and m["data"]["name"] == "digits"
    assert m["config"]["condition"] == "projection" and m["generator"] == "gan"
    pngs = sorted(p.relative_to(path).as_posix() for p in (path / "images").rglob("*.png"))
    assert len(pngs) == 30 and set(pngs) | {"labels.csv", "arrays.npz"} == set(m["files"])
    assert all(file_sha256(path / rel) == digest for rel, digest in m["files"].items())
    rows = read_labels(path)
    assert [lab for _, lab, _ in rows].count(4) == 3
    # torchvision's ImageFolder reads the tree with the same labels (NN_ prefixes keep the order)
    from torchvision.datasets import ImageFolder

    folder = ImageFolder(str(path / "images"))
    by_file = {Path(f).relative_to(path).as_posix(): lab for f, lab in folder.samples}
    assert all(by_file[f] == lab for f, lab, _ in rows)
    # the Dataset loader and arrays.npz hold the same pixels
    ds = load_dataset("digits-syn", root=tmp_path)
    img, label = ds[5]
    assert img.shape == (1, 8, 8) and img.dtype == torch.uint8 and label == rows[5][1]
    with np.load(path / "arrays.npz") as a:
        assert np.array_equal(a["images"][5], img.numpy()) and a["labels"].tolist() == [
            lab for _, lab, _ in rows
        ]
    assert verify(path)["ok"]


def test_versions_never_overwrite_and_latest_moves(cgan_ckpt, tmp_path):
    v1 = Path(_export(cgan_ckpt, tmp_path)["path"])
    before = (v1 / "manifest.json").read_bytes()
    v2 = Path(_export(cgan_ckpt, tmp_path, seed=1)["path"])
    assert v2.name == "v2" and (v1 / "manifest.json").read_bytes() == before
    assert (tmp_path / "digits-syn" / "latest").resolve() == v2.resolve()
    assert (
        version_dir("digits-syn", "latest", tmp_path) == v2
        and version_dir("digits-syn", 1, tmp_path) == v1
    )
    rows = list_datasets(tmp_path)
    assert [(r["version"], r["latest"]) for r in rows] == [("v1", False), ("v2", True)]
    with pytest.raises(ExportError, match="no version 'v9'"):
        version_dir("digits-syn", "v9", tmp_path)


def test_failure_mid_export_publishes_nothing(cgan_ckpt, tmp_path, monkeypatch):
    real_add, calls = ex.VersionWriter.add, []

    def failing_add(self, *a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_add(self, *a, **kw)

    monkeypatch.setattr(ex.VersionWriter, "add", failing_add)
    with pytest.raises(ExportError, match="disk .* is full; nothing was published"):
        _export(cgan_ckpt, tmp_path, batch_size=5)
    assert list((tmp_path / "digits-syn").iterdir()) == []  # no version, no leftovers
    monkeypatch.setattr(ex.VersionWriter, "add", real_add)
    assert _export(cgan_ckpt, tmp_path)["version"] == 1  # a rerun succeeds


def test_a_killed_export_leaves_no_visible_version(cgan_ckpt, tmp_path):
    code = (
        "import sys; from ganflow.tasks.export.writer import export_dataset, ExportOptions; "
        f"export_dataset({str(cgan_ckpt)!r}, 'big', ExportOptions(per_class=100000, batch_size=50), {str(tmp_path)!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while (
            not list((tmp_path / "big").glob(".tmp-*/images/*/*.png"))
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        assert proc.poll() is None, "the export ended before it could be killed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert list_datasets(tmp_path) == [] and ex.versions(tmp_path, "big") == []
    r = _export(cgan_ckpt, tmp_path, name="big")  # sweeps the dead export's directory
    assert r["version"] == 1 and sorted(p.name for p in (tmp_path / "big").iterdir()) == [
        "latest",
        "v1",
    ]


def test_verify_names_changed_missing_and_extra_files_and_a_corrupt_manifest(cgan_ckpt, tmp_path):
    path = Path(_export(cgan_ckpt, tmp_path)["path"])
    files = sorted((path / "images").rglob("*.png"))
    files[0].write_bytes(files[0].read_bytes() + b"x")
    files[1].unlink()
    (files[2].parent / "stray.png").write_bytes(b"")
    problems = verify(path)["problems"]
    rel = lambda p: p.relative_to(path).as_posix()  # noqa: E731
    assert f"{rel(files[0])} has changed (SHA-256 differs from the manifest)" in problems
    assert f"{rel(files[1])} is missing" in problems
    assert f"{rel(files[2].parent / 'stray.png')} is not in the manifest" in problems
    good = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**good, "files": "images/a.png"}))
    res = verify(path)
    assert not res["ok"] and res["problems"] == [
        f"{path / 'manifest.json'} is corrupt: files of the wrong type"
    ]
    (path / "manifest.json").write_text("{not json")
    res = verify(path)
    assert not res["ok"] and "manifest.json is corrupt" in res["problems"][0]
    with pytest.raises(ExportError, match="is not a folder of data sets"):
        list_datasets(tmp_path / "none-such")


def test_names_and_label_files_cannot_leave_their_folder(cgan_ckpt, tmp_path):
    for bad in ("../evil", "a/b", "..", ".hidden", "", "x" * 101, "a\\b"):
        with pytest.raises(ExportError, match="not allowed"):
            _export(cgan_ckpt, tmp_path, name=bad)
    assert not (tmp_path.parent / "evil").exists()
    path = Path(_export(cgan_ckpt, tmp_path)["path"])
    lines = (path / "labels.csv").read_text().splitlines()
    lines[1] = "../../../etc/passwd," + lines[1].split(",", 1)[1]
    (path / "labels.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ExportError, match="fails verification: labels.csv has changed"):
        load_dataset(path)
    with pytest.raises(ExportError, match="points outside the data set folder"):
        load_dataset(path, check=False)
    assert any("points outside" in p for p in verify(path)["problems"])


def test_a_file_planted_anywhere_in_a_version_fails_verify_and_is_never_read(cgan_ckpt, tmp_path):
    path = Path(_export(cgan_ckpt, tmp_path)["path"])
    x, y = load_dataset(path).tensors()
    np.savez(path / "arrays.npz", images=np.zeros((3, *x.shape[1:]), np.uint8),
             labels=np.zeros(3, np.int64))  # fmt: skip
    (path / "notes").mkdir()
    (path / "notes" / "evil.txt").write_text("x")
    (path / "images" / "link.png").symlink_to(path / "labels.csv")
    problems = verify(path)["problems"]
    assert problems == [f"{rel} is not in the manifest"
                        for rel in ("arrays.npz", "images/link.png", "notes/evil.txt")]  # fmt: skip
    with pytest.raises(
        ExportError, match=r"fails verification: arrays.npz is not in the manifest \(and 2 more"
    ):
        load_dataset(path)
    x2, y2 = load_dataset(path, check=False).tensors()  # the planted arrays are not what it reads
    assert torch.equal(x2, x) and torch.equal(y2, y)


def test_classes_balance_and_unknown_class(cgan_ckpt, tmp_path):
    r = _export(cgan_ckpt, tmp_path, classes=["3", "7"], per_class=4)
    assert r["per_class"] == {"3": 4, "7": 4} and r["count"] == 8
    with pytest.raises(ExportError, match="class 'cat' is not one the generator knows"):
        _export(cgan_ckpt, tmp_path, classes=["cat"])
    with pytest.raises(ExportError, match="balance must be one of"):
        _export(cgan_ckpt, tmp_path, balance="skewed")


@pytest.fixture(scope="module")
def ssgan_ckpt(tmp_path_factory, digits_bundle):
    from ganflow.models.ssgan.config import SSGANConfig
    from ganflow.tasks.train.ssgan import train
    from ganflow.tasks.train.trainer import RunConfig

    # the narrow 8x8 model: after 2 epochs the wider default is not yet sure of any sample
    out = tmp_path_factory.mktemp("ss")
    return train(digits_bundle["path"], SSGANConfig(arch="mlp8s"), RunConfig(epochs=2, seed=0),
                 out)["checkpoint"]  # fmt: skip


def test_ssgan_export_labels_by_confident_predictions(tmp_path, ssgan_ckpt):
    ckpt = ssgan_ckpt
    r = export_dataset(
        ckpt,
        "ss",
        ExportOptions(per_class=2, balance="natural", min_confidence=0.3, arrays=True),
        tmp_path,  # fmt: skip
    )
    assert r["count"] == 20
    rows = read_labels(Path(r["path"]))
    assert all(c is not None and c >= 0.3 for _, _, c in rows)
    manifest = json.loads((Path(r["path"]) / "manifest.json").read_text())
    assert manifest["generator"] == "ssgan" and manifest["probabilities"] is True
    # its classifier's probabilities go with each image: the label is their argmax, the
    # confidence their max, in labels.csv and arrays.npz alike
    ds = load_dataset(r["path"])
    p = ds.probabilities()
    assert p.shape == (20, 10) and torch.allclose(p.sum(1), torch.ones(20), atol=1e-3)
    assert p.argmax(1).tolist() == [label for _, label, _ in rows]
    assert np.allclose(p.max(1).values.numpy(), [c for _, _, c in rows], atol=1e-4)
    from ganflow.tasks.export.reader import read_probabilities

    assert np.allclose(read_probabilities(Path(r["path"])), p.numpy(), atol=1e-4)
    with pytest.raises(ExportError, match="Lower --min-confidence"):
        export_dataset(
            ckpt, "ss", ExportOptions(per_class=2, min_confidence=1.0, max_draws=1), tmp_path
        )
    assert ex.versions(tmp_path, "ss") == [1]


def _arrays(r):
    with np.load(Path(r["path"]) / "arrays.npz") as a:
        return a["images"], a["labels"], a["confidence"]


def test_selection_keeps_the_most_confident_or_a_cover_of_the_candidates(tmp_path, ssgan_ckpt):
    opts = dict(balance="natural", arrays=True, seed=3)
    # the candidates: the same draws, oversample (4) times as many kept as drawn
    pool = export_dataset(ssgan_ckpt, "pool", ExportOptions(per_class=12, **opts), tmp_path)
    xp, yp, cp = _arrays(pool)
    conf = export_dataset(ssgan_ckpt, "conf", ExportOptions(per_class=3, select="confident",
                                                            **opts), tmp_path)  # fmt: skip
    xc, yc, cc = _arrays(conf)
    assert len(yc) == 30
    for c in range(10):  # each class's share of the candidates, its most confident ones
        want = np.sort(cp[yp == c])[::-1][: len(cc[yc == c])]
        assert np.allclose(np.sort(cc[yc == c])[::-1], want, atol=1e-4)
    assert abs(np.bincount(yc, minlength=10) - np.bincount(yp, minlength=10) / 4).max() < 1
    cov = export_dataset(ssgan_ckpt, "cov", ExportOptions(per_class=3, select="coverage",
                                                          **opts), tmp_path)  # fmt: skip
    xv, yv, _ = _arrays(cov)
    flat = {tuple(x.flatten()) for x in xp}
    assert len(yv) == 30 and all(tuple(x.flatten()) in flat for x in xv)  # among the candidates

    def spread(x, y):  # mean distance of each image to its class's nearest other one
        out = []
        for c in np.unique(y):
            f = torch.tensor(x[y == c], dtype=torch.float32).flatten(1)
            if len(f) > 1:
                d = torch.cdist(f, f) + torch.eye(len(f)) * 1e9
                out += d.min(1).values.tolist()
        return np.mean(out)

    drawn = export_dataset(ssgan_ckpt, "drawn", ExportOptions(per_class=3, **opts), tmp_path)
    xd, yd, _ = _arrays(drawn)
    assert spread(xv, yv) > 1.1 * spread(xd, yd)  # farther apart than the first drawn
    with pytest.raises(ExportError, match="select must be one of"):
        ExportOptions(select="best").validate()
    with pytest.raises(ExportError, match="oversample must be at least 1"):
        ExportOptions(oversample=0).validate()


def test_selection_needs_confidences_and_quotas_keep_the_shares(tmp_path, cgan_ckpt):
    with pytest.raises(ExportError, match="select confident needs each image's confidence"):
        _export(cgan_ckpt, tmp_path, select="confident")
    assert ex.versions(tmp_path, "digits-syn") == []
    assert ex._quotas([6, 3, 1], 5) == [3, 2, 0] and sum(ex._quotas([7, 7, 7], 10)) == 10
    g = torch.Generator().manual_seed(0)  # a class whose share rounds to 0 keeps none
    assert ex._farthest_points(torch.rand(5, 2), 0, g).numel() == 0
    assert sorted(ex._farthest_points(torch.rand(5, 2), 5, g).tolist()) == [0, 1, 2, 3, 4]


def test_a_k1_gan_that_labels_its_own_export_runs_its_classifier_once(
    tmp_path, ssgan_ckpt, monkeypatch
):
    from ganflow.tasks.export.generators import open_generator

    src = open_generator(ssgan_ckpt)
    calls = []
    src.run.modules["D"].register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    monkeypatch.setattr(ex, "open_generator", lambda *a, **k: src)
    r = export_dataset(ssgan_ckpt, "once", ExportOptions(per_class=2, balance="natural",
                                                         batch_size=50), tmp_path)  # fmt: skip
    assert r["count"] == 20 and calls == [50]  # one batch, classified once


def test_a_teacher_labels_a_conditional_export_and_old_versions_still_load(
    tmp_path, cgan_ckpt, ssgan_ckpt
):
    from ganflow.tasks.export.teacher import Teacher

    plain = _export(cgan_ckpt, tmp_path, name="plain")
    taught = export_dataset(cgan_ckpt, "taught", ExportOptions(per_class=3, balance="natural"),
                            tmp_path, teacher=ssgan_ckpt)  # fmt: skip
    m = json.loads((Path(taught["path"]) / "manifest.json").read_text())
    assert m["labelled_by"] == str(Path(ssgan_ckpt).resolve()) and m["probabilities"]
    x, y = load_dataset(taught["path"]).tensors()
    assert torch.equal(Teacher(ssgan_ckpt)(x).argmax(1), y)  # the teacher's labels, not G's
    assert verify(taught["path"])["ok"]
    # a version written before probabilities (schema 1) loads, with none
    mf = Path(plain["path"]) / "manifest.json"
    old = {k: v for k, v in json.loads(mf.read_text()).items() if k != "probabilities"}
    mf.write_text(json.dumps({**old, "schema_version": 1}))
    assert verify(plain["path"])["ok"] and load_dataset(plain["path"]).probabilities() is None
    assert len(load_dataset(plain["path"])) == 30
    labels = Path(taught["path"]) / "labels.csv"  # a damaged probability cell is named
    text = labels.read_text().splitlines()
    text[1] = text[1].rsplit(",", 1)[0] + ",0.5 0.7"
    labels.write_text("\n".join(text) + "\n")
    assert any("is not 10 class probabilities" in p for p in verify(taught["path"])["problems"])
    with pytest.raises(CheckpointError, match="no classifier to label images"):
        Teacher(cgan_ckpt)


def test_semi_supervised_aae_exports_the_labels_it_decodes(tmp_path, digits_bundle):
    from ganflow.models.aae.config import AAEConfig
    from ganflow.tasks.train.aae import train_aae
    from ganflow.tasks.train.trainer import RunConfig

    cfg = AAEConfig(clusters=10, hidden=32, batch_size=16, labelled_batch_size=10)
    ckpt = train_aae(
        digits_bundle["path"], cfg, RunConfig(epochs=1, seed=0), tmp_path / "aae", semi=True
    )["checkpoint"]
    r = export_dataset(ckpt, "aae", ExportOptions(per_class=2, arrays=True), tmp_path)
    assert (
        r["count"] == 20
        and json.loads((Path(r["path"]) / "manifest.json").read_text())["generator"] == "aae"
    )
    x, y = load_dataset(r["path"]).tensors()
    assert x.shape == (20, 1, 8, 8) and sorted(y.tolist()) == sorted(list(range(10)) * 2)
    unsup = train_aae(
        digits_bundle["path"],
        AAEConfig(clusters=4, hidden=32, batch_size=16),
        RunConfig(epochs=1, seed=0),
        tmp_path / "aae-u",
    )["checkpoint"]
    from ganflow.tasks.train.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="clusters are not classes"):
        export_dataset(unsup, "aae", ExportOptions(per_class=2), tmp_path)


def test_a_dangling_latest_link_and_foreign_folders_are_tolerated(cgan_ckpt, tmp_path):
    _export(cgan_ckpt, tmp_path)
    _export(cgan_ckpt, tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "digits-syn" / "v2")  # a user deleted the newest version by hand
    (tmp_path / "not a data set").mkdir()
    (tmp_path / "a..b").mkdir()
    assert version_dir("digits-syn", "latest", tmp_path).name == "v1"
    assert [r["version"] for r in list_datasets(tmp_path)] == ["v1"]


def test_an_unconditional_gan_cannot_feed_an_export(tmp_path):
    from ganflow.flows.gan import make_config
    from ganflow.tasks.data.streams import load_data
    from ganflow.tasks.train.checkpoint import CheckpointError
    from ganflow.tasks.train.gan import train_gan
    from ganflow.tasks.train.trainer import RunConfig

    cfg = make_config(
        "digits", {"arch": "mlp", "z_dim": 8, "width": 16, "depth": 1, "batch_size": 16}
    )
    ckpt = train_gan(load_data("digits"), cfg, RunConfig(seed=0), tmp_path / "g", steps=2)[
        "checkpoint"
    ]
    with pytest.raises(CheckpointError, match="unconditional run of a GAN"):
        _export(ckpt, tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        _export(tmp_path / "nope.pt", tmp_path)


def test_cli_export_and_datasets(cgan_ckpt, tmp_path, capsys):
    args = [
        "export",
        "--checkpoint",
        str(cgan_ckpt),
        "--name",
        "cli-set",
        "--per-class",
        "2",
        "--root",
        str(tmp_path),
        "--no-prefect",
        "--json",
    ]
    assert main([*args, "--no-metrics"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("export", out)
    assert {"path", "version", "count", "per_class"} <= set(out) and out["count"] == 20
    assert main(["datasets", "list", "--root", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "cli-set"
    assert main(["datasets", "show", "cli-set", "--root", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 20
    assert main(["datasets", "verify", "cli-set", "--root", str(tmp_path)]) == 0
    assert "OK: 21 files" in capsys.readouterr().out
    next((Path(out["path"]) / "images").rglob("*.png")).write_bytes(b"tampered")
    assert main(["datasets", "verify", "cli-set", "--root", str(tmp_path)]) == 1
    assert "has changed" in capsys.readouterr().out
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(cgan_ckpt),
                "--name",
                "../x",
                "--root",
                str(tmp_path),
                "--no-prefect",
            ]
        )
        == 2
    )
    assert "not allowed" in capsys.readouterr().err


class _OneClassSource:
    """An unconditional source whose images are all of class 0: class 1 never comes."""

    conditional = False
    class_names = ["often", "never"]

    def __init__(self):
        self.calls = 0

    def draw(self, labels, n, g, label=True):
        self.calls += 1
        return torch.zeros(n, 1, 2, 2, dtype=torch.uint8), torch.zeros(n, dtype=torch.long), None


class _Counts:
    """The part of a VersionWriter that _fill touches."""

    def __init__(self, tmp_path):
        self.tmp, self.counts = tmp_path / "v.tmp", [0, 0]

    @property
    def total(self):
        return sum(self.counts)

    def add(self, x, y, conf, probs=None):
        for c in y.tolist():
            self.counts[c] += 1


def test_an_equal_export_a_class_never_comes_to_stops_early_and_says_which(tmp_path):
    src, w = _OneClassSource(), _Counts(tmp_path)
    opts = ExportOptions(per_class=20, batch_size=8, max_draws=50)  # budget: 2,000 draws
    with pytest.raises(ExportError, match=r"cannot be reached.*never 0/20"):
        ex._fill(w, src, opts, [0, 1])
    # it judged the rates after a few batches (56 draws: half an image of "never" in 56 would
    # need 2,240 more), not at the end of the 2,000-draw budget
    assert w.counts == [20, 0] and src.calls * 8 <= 64
