"""`ganflow sweep`: grid points and seeds through Prefect's Dask task runner against a
Prefect server on 127.0.0.1, gathered into one table artifact and sweep.json."""

from __future__ import annotations

import json

import pytest
from readme_keys import assert_documented

from ganflow.flows.cli import main
from ganflow.flows.runners import task_runner
from ganflow.flows.sweep import SweepParams, points
from ganflow.models.config import ConfigError

TINY = ["--param", "epochs=1"]


@pytest.fixture
def server_env(prefect_harness, monkeypatch):
    """The harness's server (127.0.0.1) in the environment, where the Dask workers read it."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url.startswith("http://127.0.0.1:")
    monkeypatch.setenv("PREFECT_API_URL", url)
    return url


def test_points_cross_grid_and_seeds_and_place_model_settings():
    p = SweepParams(
        flow="semi-supervised",
        grid={"labels_per_class": [3, 5], "lr_d": [1e-3]},
        seeds=[0, 1],
        params={"epochs": 2},
    )
    pts = points(p)
    assert [(pt["grid"]["labels_per_class"], pt["seed"]) for pt in pts] == [
        (3, 0), (3, 1), (5, 0), (5, 1)
    ]  # fmt: skip
    assert pts[0]["params"] == {
        "labels_per_class": 3, "model": {"lr_d": 1e-3}, "epochs": 2, "seeds": [0]
    }  # fmt: skip


@pytest.mark.parametrize(
    "params, says",
    [
        ({"flow": "nope"}, "unknown flow 'nope'"),
        ({"grid": {"no_such_key": [1]}}, "no_such_key"),
        ({"grid": {"labels_per_class": [0]}}, "labels_per_class must be at least 1"),
        ({"params": {"seeds": [1]}}, "the sweep's own"),
        ({"workers": 0}, "workers must be at least 1"),
        ({"runner": "serial", "dask_address": "tcp://x:1"}, "goes with --runner dask"),
    ],
)
def test_bad_sweeps_are_refused_before_anything_runs(params, says):
    with pytest.raises(ConfigError, match=says):
        SweepParams.from_dict(params)


def test_workers_size_the_local_cluster():
    runner = task_runner("dask", 3)
    assert runner.cluster_kwargs["n_workers"] == 3
    assert runner.cluster_kwargs["threads_per_worker"] == 1
    assert task_runner("dask", None, "tcp://10.0.0.5:8786").address == ("tcp://10.0.0.5:8786")


def test_cli_refuses_a_bad_axis_with_one_line(capsys):
    code = main(["sweep", "semi-supervised", "--grid", "labels_per_clas=3,5", "--no-such"])
    assert code == 2
    capsys.readouterr()
    code = main(["sweep", "semi-supervised", "--grid", "labels_per_clas=3,5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "labels_per_clas" in err[0]
    code = main(["sweep", "semi-supervised", "--param", "epochs=2", "--param", "epochs=3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "ganflow: error: epochs is given twice (--param: 2 and 3); give it once"
    ]
    code = main(["semi-supervised", "--set", "lr_d=0.001", "--set", "lr_d=0.002", "--no-prefect"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "ganflow: error: lr_d is given twice (--set: 0.001 and 0.002); give it once"
    ]
    code = main(["semi-supervised", "--max-minutes", "nan", "--no-prefect"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "max_minutes=nan: expected a finite number" in err[0]


def test_sweep_on_two_dask_workers_finds_four_completed_points(server_env, tmp_path, capsys):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    args = ["sweep", "semi-supervised", "--grid", "labels_per_class=3,5", "--seeds", "0,1",
            *TINY, "--workers", "2", "--run-dir", str(tmp_path / "sw"), "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("sweep", out)
    assert [pt["state"] for pt in out["points"]] == ["Completed"] * 4
    assert {(pt["params"]["labels_per_class"], pt["seed"]) for pt in out["points"]} == {
        (3, 0), (3, 1), (5, 0), (5, 1)
    }  # fmt: skip
    for pt in out["points"]:  # each point is the flow's own --json result
        assert pt["result"]["labels_per_class"] == pt["params"]["labels_per_class"]
        assert pt["result"]["seeds"] == [pt["seed"]]
    assert [r["gan_test_error"] for r in out["table"]] == [
        pt["result"]["gan"]["test_error_mean"] for pt in out["points"]
    ]
    saved = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert saved["table"] == out["table"]
    with get_client(sync_client=True) as client:
        (art,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["sweep-table"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    rows = json.loads(art.data) if isinstance(art.data, str) else art.data
    assert sum(r["state"] == "Completed" for r in rows) == 4


def test_a_failed_point_is_reported_not_dropped(server_env, tmp_path, capsys):
    # 400 labels per class is more than digits has: that point fails in its worker
    args = ["sweep", "semi-supervised", "--grid", "labels_per_class=3,400", "--seeds", "0",
            *TINY, "--runner", "serial", "--run-dir", str(tmp_path / "sw"), "--json"]  # fmt: skip
    assert main(args) == 1
    out = json.loads(capsys.readouterr().out)
    states = [pt["state"] for pt in out["points"]]
    assert states[0] == "Completed" and states[1] != "Completed" and out["failed"] == 1
    assert "400 labelled images per class" in out["points"][1]["error"]
    assert out["table"][1]["state"] == states[1]


def test_a_flows_seeds_run_on_dask_workers_as_one_task_each(server_env, tmp_path, capsys):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    common = ["semi-supervised", "--labels-per-class", "4", "--epochs", "1", "--seeds", "0,1",
              "--json"]  # fmt: skip
    assert main([*common, "--workers", "2", "--run-dir", str(tmp_path / "w")]) == 0
    spread = json.loads(capsys.readouterr().out)
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=["seed-0", "seed-1"]))
        )
    assert sorted(r.name for r in runs if r.state.is_completed()) == ["seed-0", "seed-1"]
    assert main([*common, "--no-prefect", "--run-dir", str(tmp_path / "s")]) == 0
    serial = json.loads(capsys.readouterr().out)
    assert spread["seeds"] == [0, 1] and spread["fingerprints"] == serial["fingerprints"]
    for kind in ("gan", "baseline"):
        assert spread[kind]["test_errors"] == pytest.approx(serial[kind]["test_errors"], abs=0.02)


def test_the_ray_runner_when_prefect_ray_is_installed(server_env, tmp_path, capsys):
    pytest.importorskip("prefect_ray")  # the [ray] extra; not a dependency
    args = ["sweep", "semi-supervised", "--grid", "labels_per_class=3", "--seeds", "0", *TINY,
            "--runner", "ray", "--run-dir", str(tmp_path / "sw"), "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runner"] == "ray" and [pt["state"] for pt in out["points"]] == ["Completed"]
