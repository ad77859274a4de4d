"""Run directories: one flow's own, never a file, never inside a published data set version,
never a foreign folder; and the CLI's one-line refusals, with nothing overwritten."""

from __future__ import annotations

import json

import pytest

from ganflow.tasks.io import RUN_MARK, RunDirError, claim_run_dir


def test_a_new_run_directory_is_marked_and_the_same_flow_resumes_it(tmp_path):
    d = claim_run_dir(tmp_path / "r", "semi-supervised")
    assert json.loads((d / RUN_MARK).read_text())["flow"] == "semi-supervised"
    (d / "report.md").write_text("kept")
    assert claim_run_dir(d, "semi-supervised") == d and (d / "report.md").read_text() == "kept"


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda p: p.write_text("x"), "is a file"),
        (lambda p: claim_run_dir(p, "cluster"), "holds a cluster run"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "no ganflow run"),
        (lambda p: (p.mkdir(), (p / "manifest.json").write_text("{}")), "published data set"),
    ],
)
def test_unusable_run_directories_are_refused_and_left_untouched(tmp_path, make, says):
    target = tmp_path / "r"
    make(target)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(RunDirError, match=says):
        claim_run_dir(target, "semi-supervised")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_directory_inside_a_data_set_version_is_refused(tmp_path):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "manifest.json").write_text("{}")
    with pytest.raises(RunDirError, match="inside the published data set version"):
        claim_run_dir(tmp_path / "v1" / "images" / "run", "augment")
    assert not (tmp_path / "v1" / "images").exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (["--max-minutes", "-1"], "max_minutes must be positive"),
        (["--run-dir", "FILE"], "is a file"),
        (["--run-dir", "OTHER"], "holds a cluster run"),
    ],
)
def test_the_cli_refuses_with_one_line_and_exit_2(tmp_path, capsys, args, says):
    from ganflow.flows.cli import main

    (tmp_path / "FILE").write_text("x")
    claim_run_dir(tmp_path / "OTHER", "cluster")
    (tmp_path / "OTHER" / "report.md").write_text("the cluster run's report")
    args = [str(tmp_path / a) if a in ("FILE", "OTHER") else a for a in args]
    assert main(["semi-supervised", "--no-prefect", "--epochs", "1", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
    assert (tmp_path / "OTHER" / "report.md").read_text() == "the cluster run's report"


def test_the_same_flow_with_other_settings_is_refused_where_and_how_long_may_change(tmp_path):
    cfg = {"labels_per_class": 5, "epochs": 3, "max_minutes": None, "device": "auto"}
    claim_run_dir(tmp_path / "r", "semi-supervised", config=cfg)
    resumed = {**cfg, "max_minutes": 2.0, "device": "cpu"}
    assert claim_run_dir(tmp_path / "r", "semi-supervised", config=resumed) == tmp_path / "r"
    with pytest.raises(RunDirError, match=r"other settings \(epochs: 3 there, 4 now\)"):
        claim_run_dir(tmp_path / "r", "semi-supervised", config={**cfg, "epochs": 4})


def test_a_failed_command_leaves_no_empty_run_directory(tmp_path, capsys):
    from ganflow.flows.cli import main

    bad = tmp_path / "imgs"
    for c in ("a", "b"):
        (bad / c).mkdir(parents=True)
        (bad / c / "x.png").write_bytes(b"not a png")
    (tmp_path / "kept").mkdir()  # a directory that existed before is not removed
    for run, remains in (("new", False), ("kept", True)):
        code = main(["semi-supervised", "--no-prefect", "--epochs", "1", "--data", "folder",
                     "--data-root", str(bad), "--run-dir", str(tmp_path / run)])  # fmt: skip
        assert code == 2 and "x.png" in capsys.readouterr().err
        assert (tmp_path / run).exists() == remains


@pytest.mark.parametrize(
    "folder, make, says",
    [
        (False, lambda p: p.write_text("x"), "exists; it is not overwritten"),
        (True, lambda p: p.write_text("x"), "is a file"),
        (True, lambda p: (p.mkdir(), (p / "a.png").write_text("x")), "is not empty"),
        (False, lambda p: p.symlink_to(p.parent / "elsewhere"), "is a link"),
        (False, lambda p: (p.parent / "manifest.json").write_text("{}"), "published data set"),
        (True, lambda p: (p.parent / "manifest.json").write_text("{}"), "published data set"),
    ],
)
def test_an_output_path_never_overwrites_nor_writes_into_a_version(tmp_path, folder, make, says):
    from ganflow.tasks.io import OutputPathError, check_new_output

    target = tmp_path / "out"
    make(target)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(OutputPathError, match=says):
        check_new_output(target, "--output", folder=folder)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_an_output_through_a_link_into_a_version_is_refused(tmp_path):
    from ganflow.tasks.io import OutputPathError, check_new_output

    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "manifest.json").write_text("{}")
    (tmp_path / "door").symlink_to(tmp_path / "v1")
    with pytest.raises(OutputPathError, match="published data set version"):
        check_new_output(tmp_path / "door" / "grid.png")
    assert check_new_output(tmp_path / "new.png") == tmp_path / "new.png"
    assert check_new_output(tmp_path / "empty", folder=True) == tmp_path / "empty"
