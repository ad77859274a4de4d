"""Smoke tests of the semi-supervised flow and the CLI under one Prefect test harness."""

import json
from pathlib import Path

import pytest
from readme_keys import assert_documented

from ganflow.flows.cli import main


@pytest.fixture(scope="module")
def flow_summary(prefect_harness, tmp_path_factory):
    from ganflow.flows.semi_supervised import semi_supervised

    run_dir = tmp_path_factory.mktemp("runs") / "ss"
    return semi_supervised(
        data="digits", labels_per_class=3, seeds=[0, 1], epochs=1, run_dir=str(run_dir)
    )


def test_flow_runs_both_models_for_every_seed(flow_summary):
    for kind in ("gan", "baseline"):
        s = flow_summary[kind]
        # errors on the official digits test set (359 images), summarised over the two seeds
        assert len(s["test_errors"]) == 2 and all(
            abs(e * 359 - round(e * 359)) < 1e-6 for e in s["test_errors"]
        )
        assert s["test_error_mean"] == pytest.approx(sum(s["test_errors"]) / 2)
        assert s["test_error_std"] == pytest.approx(
            abs(s["test_errors"][0] - s["test_errors"][1]) / 2**0.5
        )
        assert all(Path(c).is_file() for c in s["checkpoints"])
    assert len(set(flow_summary["fingerprints"])) == 2  # one label split per seed
    grid = flow_summary["config"]["graph_alpha_grid"]
    assert len(flow_summary["graph_alpha"]) == 2 and set(flow_summary["graph_alpha"]) <= set(grid)


def test_flow_writes_report_and_pictures(flow_summary):
    run_dir = Path(flow_summary["run_dir"])
    report = (run_dir / "report.md").read_text()
    assert "K+1 GAN" in report and "supervised baseline" in report and "samples.png" in report
    for name in ("samples.png", "confusion_gan.png", "confusion_baseline.png", "curves.png"):
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["gan"]["test_errors"] == flow_summary["gan"]["test_errors"]


def test_flow_publishes_markdown_and_table_artifacts(flow_summary):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["semi-supervised-report", "semi-supervised-errors"])
            )
        )
        progress = [a for a in client.read_artifacts() if a.type == "progress"]
    kinds = {a.key: a for a in arts}
    assert "data:image/png;base64," in kinds["semi-supervised-report"].data
    assert kinds["semi-supervised-errors"].type == "table"
    assert progress and max(a.data for a in progress) == 100.0


def test_cli_json_output(prefect_harness, tmp_path, capsys):
    code = main(
        [
            "semi-supervised",
            "--labels-per-class",
            "2",
            "--epochs",
            "1",
            "--seeds",
            "0",
            "--run-dir",
            str(tmp_path / "r"),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("semi-supervised", out)
    for kind in ("gan", "baseline"):
        errors = out[kind]["test_errors"]
        assert out[kind]["test_error_mean"] == pytest.approx(sum(errors) / len(errors))
    assert out["run_dir"] == str(tmp_path / "r") and Path(out["report"]).is_file()


def test_cli_bad_input_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["semi-supervised", "--data", "imagenet", "--no-prefect", "--run-dir", str(tmp_path)])
        == 2
    )
    assert "unknown data set 'imagenet'" in capsys.readouterr().err
    assert (
        main(
            [
                "semi-supervised",
                "--labels-per-class",
                "500",
                "--no-prefect",
                "--run-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "labelled images per class were asked for" in capsys.readouterr().err
    assert (
        main(
            [
                "semi-supervised",
                "--set",
                "lerning_rate=1",
                "--no-prefect",
                "--run-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "unknown SSGAN setting" in capsys.readouterr().err
