"""Smoke tests of the `cluster` flow and `ganflow cluster` on digits, with tiny networks."""

import csv
import json
from pathlib import Path

import pytest
from readme_keys import assert_documented

from ganflow.flows.cli import main


@pytest.fixture(scope="module")
def cluster_summary(prefect_harness, tmp_path_factory):
    from ganflow.flows.cluster import cluster

    run_dir = tmp_path_factory.mktemp("runs") / "cl"
    return cluster(
        data="digits", clusters=16, epochs=1, model={"hidden": 64, "z_dim": 2}, run_dir=str(run_dir)
    )


def test_flow_scores_assigns_and_draws(cluster_summary):
    s = cluster_summary
    assert s["mode"] == "clustering" and s["clusters"] == 16 and s["hungarian_accuracy"] is None
    assert s["cluster_accuracy"]["mean"] == pytest.approx(s["per_seed"][0]["cluster_accuracy"])
    with open(s["assignments"]) as f:
        rows = list(csv.DictReader(f))
    assert rows[0].keys() == {"image_id", "cluster", "confidence"}
    assert rows[0]["image_id"] == "train/0" and rows[-1]["image_id"].startswith("test/")
    # the test rows of assignments.csv are the clusters the scores counted
    test_clusters = [int(r["cluster"]) for r in rows if r["image_id"].startswith("test/")]
    assert [test_clusters.count(c) for c in range(16)] == s["per_seed"][0]["cluster_sizes"]
    for key in ("clusters", "style", "scatter"):  # z_dim=2 adds the scatter plot
        assert Path(s["pictures"][key]).read_bytes()[:4] == b"\x89PNG"
    report = Path(s["report"]).read_text()
    assert "cluster accuracy" in report and "clusters.png" in report
    assert json.loads(Path(s["metrics"]).read_text())["cluster_accuracy"] == s["cluster_accuracy"]


def test_flow_publishes_artifacts(cluster_summary):
    import asyncio

    from prefect.client.orchestration import get_client

    async def keys():
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts()}

    assert {"cluster-report", "cluster-metrics", "cluster-assignments"} <= asyncio.run(keys())


def test_cli_semi_supervised_json(capsys, tmp_path):
    args = [
        "cluster",
        "--data",
        "digits",
        "--labels-per-class",
        "3",
        "--seeds",
        "0,1",
        "--epochs",
        "1",
        "--set",
        "hidden=64",
        "--no-prefect",
        "--json",
        "--run-dir",
        str(tmp_path / "run"),
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("cluster", out)
    assert out["mode"] == "semi-supervised" and out["clusters"] == 10
    for key in (
        "cluster_accuracy",
        "hungarian_accuracy",
        "nmi",
        "test_error_mean",
        "test_error_std",
        "baseline_test_error_mean",
    ):
        assert isinstance(out[key], float), key
    assert len(out["per_seed"]) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "nonsense=1"], "unknown AAE setting"),
        (["--clusters", "1"], "clusters must be"),
        (["--set", "z_dim=3", "--set", "prior=mixture"], "z_dim=2"),
    ],
)
def test_bad_settings_are_named(capsys, tmp_path, extra, message):
    assert (
        main(
            [
                "cluster",
                "--data",
                "digits",
                "--epochs",
                "1",
                "--no-prefect",
                "--run-dir",
                str(tmp_path),
                *extra,
            ]
        )
        == 2
    )
    assert message in capsys.readouterr().err
