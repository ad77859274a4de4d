"""The temporary Prefect API server started beside a flow command's imports."""

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
