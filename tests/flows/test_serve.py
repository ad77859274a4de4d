"""Integration: a real Prefect server on 127.0.0.1 (temporary PREFECT_HOME), `ganflow serve
augment` on a 10 s interval with a tiny config, at least one scheduled run completing and
publishing a new export version; everything started is stopped."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, body: dict | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read() or b"null")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp / "home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 (closed below)
    cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _get(f"{api}/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the Prefect server did not start: {(tmp / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(1)
        yield {"env": env, "api": api, "tmp": tmp}
    finally:
        _stop(proc)
        log.close()


def test_served_augment_flow_runs_on_its_schedule_and_exports(prefect_server):
    env, api, tmp = prefect_server["env"], prefect_server["api"], prefect_server["tmp"]
    root = tmp / "datasets"
    params = {
        "data": "digits",
        "labels_per_class": 3,
        "epochs": 2,
        "per_class": 3,
        "min_confidence": 0.0,
        "balance": "natural",
        "classifier_steps": 10,
        "cas_steps": 10,
        "device": "cpu",
        "dataset_name": "scheduled",
        "datasets_root": str(root),
        "cache_dir": str(tmp / "cache"),
    }
    # --limit 1 (the default, said here on purpose): on a loaded CI machine, runs started every
    # 10 s would pile up and starve each other; with the limit, later ones wait their turn
    cmd = [
        str(BIN / "ganflow"),
        "serve",
        "augment",
        "--interval",
        "10",
        "--limit",
        "1",
        "--name",
        "test-schedule",
    ]
    for k, v in params.items():
        cmd += ["--param", f"{k}={json.dumps(v)}"]
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 (closed below)
    serve = subprocess.Popen(
        cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline, done = time.monotonic() + 300, []
        while time.monotonic() < deadline and serve.poll() is None:
            _, runs = _get(
                f"{api}/flow_runs/filter",
                {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}},
            )
            done = [r for r in runs if r.get("deployment_id")]
            if done and (root / "scheduled" / "v1" / "manifest.json").is_file():
                break
            time.sleep(2)
        assert serve.poll() is None, f"serve exited: {(tmp / 'serve.log').read_text()[-3000:]}"
        assert done, (
            f"no scheduled run completed in time: {(tmp / 'serve.log').read_text()[-3000:]}"
        )
        assert done[0]["auto_scheduled"] and done[0]["parameters"]["dataset_name"] == "scheduled"
        manifest = json.loads((root / "scheduled" / "v1" / "manifest.json").read_text())
        assert manifest["count"] == 30 and "cas_accuracy" in manifest["metrics"]
        _, deployments = _get(f"{api}/deployments/filter", {})
        assert [d["name"] for d in deployments] == ["test-schedule"]
    finally:
        _stop(serve)
        log.close()
    assert serve.poll() is not None
