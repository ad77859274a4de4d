"""The temporary Prefect API server started beside a flow command's imports."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ganflow.flows import api_server
from ganflow.flows.cli import FLOW_COMMANDS, commands


def test_the_flow_commands_are_the_command_table():
    assert set(commands()) == FLOW_COMMANDS


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["datasets", "list"],
        ["serve", "augment"],
        ["evaluate", "--no-prefect"],
        ["cluster", "--help"],
    ],
)
def test_no_server_where_no_flow_runs_on_it(argv, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(api_server.subprocess, "Popen", lambda *a, **k: pytest.fail("started"))
    assert api_server.prestart(argv, FLOW_COMMANDS) is None


def test_no_server_when_an_api_is_configured(monkeypatch, tmp_path):
    monkeypatch.setattr(api_server.subprocess, "Popen", lambda *a, **k: pytest.fail("started"))
    monkeypatch.setenv("PREFECT_API_URL", "http://example.invalid/api")
    assert api_server.prestart(["evaluate"], FLOW_COMMANDS) is None
    monkeypatch.delenv("PREFECT_API_URL")
    (tmp_path / "profiles.toml").write_text(
        'active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://server:4200/api"\n'
    )
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    assert api_server.prestart(["evaluate"], FLOW_COMMANDS) is None


def test_a_started_server_answers_and_stops(monkeypatch, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    server = api_server.prestart(["train-gan"], FLOW_COMMANDS)
    try:
        assert server is not None and api_server.os.environ["PREFECT_API_URL"] == server.url
        server.ready(timeout_s=90)
    finally:
        if server is not None:
            server.stop()
    assert server.process.poll() is not None


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_server_does_not_outlive_a_killed_command(tmp_path):
    """A command SIGKILLed (no exit handler runs) takes its temporary server with it."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["GANFLOW_DATA"] = str(tmp_path / "data")
    p = subprocess.Popen(
        [sys.executable, "-m", "ganflow.flows.cli", "semi-supervised", "--epochs", "1",
         "--run-dir", str(tmp_path / "run"), "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _children(p.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        servers = _children(p.pid)
        assert servers, "no server was started"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    deadline = time.monotonic() + 20
    while any(_alive(s) for s in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [s for s in servers if _alive(s)]
    for s in left:
        os.kill(s, signal.SIGKILL)
    assert not left, "the server outlived its command"
