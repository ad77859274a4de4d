"""Task caching: what goes into a key, and a flow killed between tasks that reuses the
finished training when it is run again."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ganflow.flows import caching
from ganflow.models.ssgan.config import SSGANConfig
from ganflow.tasks.train.trainer import RunConfig


def key(params, folders=(), outputs=caching.OUTPUTS):
    return caching.cache_key("t", folders, params, outputs)


def test_key_follows_config_and_seed_but_not_where_outputs_go(tmp_path):
    base = {
        "cfg": SSGANConfig(),
        "run": RunConfig(epochs=1, seed=0),
        "out_dir": str(tmp_path / "a"),
    }
    assert key(base) == key({**base, "out_dir": str(tmp_path / "b")})
    assert key(base) != key({**base, "run": RunConfig(epochs=1, seed=1)})
    assert key(base) != key({**base, "cfg": SSGANConfig(lr_d=1e-4)})


def test_key_takes_a_file_by_its_content_not_its_place(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "sub" / "b.pt"
    b.parent.mkdir()
    a.write_bytes(b"weights")
    b.write_bytes(b"weights")
    assert key({"checkpoint": str(a)}) == key({"checkpoint": str(b)})
    b.write_bytes(b"other weights")
    assert key({"checkpoint": str(a)}) != key({"checkpoint": str(b)})


def test_key_refuses_tensors_and_modules():
    with pytest.raises(TypeError, match="never tensors"):
        key({"x": torch.zeros(3)})
    with pytest.raises(TypeError, match="'model'"):
        key({"model": torch.nn.Linear(2, 2)})


def test_record_with_tensors_is_keyed_by_its_identity():
    from ganflow.tasks.data.streams import GANData

    one = GANData("ring", (2,), 10, {"id": "abc"}, images=torch.zeros(10, 2))
    other = GANData("ring", (2,), 10, {"id": "abc"}, images=torch.ones(10, 2))
    assert key({"data": one}) == key({"data": other})  # the fingerprint stands for the data
    other.fingerprint = {"id": "def"}
    assert key({"data": one}) != key({"data": other})


def test_code_version_changes_with_the_source(tmp_path, monkeypatch):
    (tmp_path / "models" / "fam").mkdir(parents=True)
    src = tmp_path / "models" / "fam" / "nets.py"
    src.write_text("x = 1\n")
    monkeypatch.setattr(caching, "ROOT", tmp_path)
    caching.code_version.cache_clear()
    before = caching.code_version(("models/fam",))
    src.write_text("x = 2\n")
    caching.code_version.cache_clear()
    assert caching.code_version(("models/fam",)) != before
    caching.code_version.cache_clear()


def test_stale_results_name_missing_files(tmp_path):
    f = tmp_path / "checkpoint.pt"
    f.write_bytes(b"x")
    assert not caching._stale({"checkpoint": str(f), "steps": 3})
    assert caching._stale({"train": {"checkpoint": str(tmp_path / "gone.pt")}})


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import ganflow.flows.semi_supervised as ss

    def killed(*args, **kwargs):  # the first evaluation: after the first training finished
        os.kill(os.getpid(), signal.SIGKILL)

    ss.evaluate_task = killed
    ss.semi_supervised(data="digits", labels_per_class=2, seeds=[0], epochs=1,
                       run_dir=sys.argv[1])
    """
)


def _task_runs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    names: dict[str, list[str]] = {}
    for r in sorted(runs, key=lambda r: r.expected_start_time or r.created):
        # Prefect numbers runs of a task without a run name: prepare-data-188
        names.setdefault(re.sub(r"-[0-9a-f]{3}$", "", r.name), []).append(r.state.name)
    return names


def test_flow_killed_between_tasks_reuses_the_finished_training(prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    from ganflow.flows.semi_supervised import semi_supervised

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    first = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "first")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    ckpt = tmp_path / "first" / "seed0" / "gan" / "checkpoint.pt"
    assert ckpt.is_file()  # the training finished before the kill
    before = ckpt.read_bytes()
    assert not (tmp_path / "first" / "seed0" / "baseline").exists()

    state = semi_supervised(
        data="digits",
        labels_per_class=2,
        seeds=[0],
        epochs=1,
        run_dir=str(tmp_path / "second"),
        return_state=True,
    )
    summary = state.result()
    states = _task_runs(state.state_details.flow_run_id)
    assert states["train-gan"] == ["Cached"] and states["prepare-data"] == ["Cached"]
    assert states["train-baseline"] == ["Completed"]  # not reached before the kill: computed
    assert summary["gan"]["checkpoints"] == [str(ckpt)] and ckpt.read_bytes() == before
    assert Path(summary["baseline"]["checkpoints"][0]).is_relative_to(tmp_path / "second")
    metrics = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert metrics["gan"]["test_errors"] == summary["gan"]["test_errors"]


def test_refresh_recomputes_and_a_deleted_result_is_remade(prefect_harness, tmp_path):
    from ganflow.flows.semi_supervised import semi_supervised

    def run(name: str) -> tuple[dict, dict]:
        state = semi_supervised(
            data="digits", labels_per_class=4, seeds=[1], epochs=1,
            run_dir=str(tmp_path / name), return_state=True,
        )  # fmt: skip
        return state.result(), _task_runs(state.state_details.flow_run_id)

    first, _ = run("a")
    with caching.refreshing():
        refreshed, states = run("b")
    assert states["train-gan"] == ["Completed"]
    assert refreshed["gan"]["test_errors"] == first["gan"]["test_errors"]  # same seed, same result
    for c in refreshed["gan"]["checkpoints"]:
        Path(c).unlink()  # the cached training's files are gone: it is trained again
    again, states = run("c")
    assert states["train-gan"] == ["Cached", "Completed"]  # the stale entry, then a new training
    assert all(Path(c).is_file() for c in again["gan"]["checkpoints"])


def test_a_data_folder_is_keyed_by_its_listing(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(b"x")
    before = key({"spec": {"source": {"root": str(tmp_path)}}})
    outputs_before = key({"datasets_root": str(tmp_path)})
    assert key({"spec": {"source": {"root": str(tmp_path)}}}) == before
    (tmp_path / "cat" / "b.png").write_bytes(b"y")  # an image added: the data changed
    assert key({"spec": {"source": {"root": str(tmp_path)}}}) != before
    # a folder that only receives outputs (new versions) is not listed
    assert key({"datasets_root": str(tmp_path)}) == outputs_before
    export_root = key({"root": str(tmp_path)})
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "manifest.json").write_text("{}")  # a new version published there
    assert key({"root": str(tmp_path)}) == export_root


def test_an_exports_scoring_is_cached_but_every_export_is_a_new_version(prefect_harness, tmp_path):
    from ganflow.flows.export import export_flow
    from ganflow.flows.semi_supervised import semi_supervised

    trained = semi_supervised(data="digits", labels_per_class=2, seeds=[0], epochs=1,
                              run_dir=str(tmp_path / "ss"))  # fmt: skip
    kw = {"checkpoint": trained["gan"]["checkpoints"][0], "name": "digits-cache", "per_class": 5,
          "balance": "natural", "root": str(tmp_path / "sets")}  # fmt: skip
    states, results = [], []
    for _ in range(2):
        state = export_flow(**kw, return_state=True)
        results.append(state.result())
        states.append(_task_runs(state.state_details.flow_run_id))
    assert [r["version"] for r in results] == [1, 2]  # never overwritten, never skipped
    assert states[0]["score-export"] == ["Completed"] and states[1]["score-export"] == ["Cached"]
    assert results[1]["metrics"] == results[0]["metrics"]
