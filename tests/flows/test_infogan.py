"""Smoke tests of the `infogan` flow and `ganflow infogan` on digits, with tiny networks."""

import json
from pathlib import Path

import pytest
from readme_keys import assert_documented

from ganflow.flows.cli import main

TINY = ["--set", "width=8", "--set", "z_dim=8"]


def test_flow_publishes_its_report(prefect_harness, tmp_path):
    import asyncio

    from prefect.client.orchestration import get_client

    from ganflow.flows.infogan import infogan_flow

    s = infogan_flow(data="digits", epochs=1, model={"width": 8, "z_dim": 8},
                     run_dir=str(tmp_path / "r"))  # fmt: skip
    assert s["hungarian_accuracy"]["mean"] == s["per_seed"][0]["hungarian_accuracy"]

    async def keys():
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts()}

    assert {"infogan-report", "infogan-metrics"} <= asyncio.run(keys())


def test_cli_json_prints_the_code_scores_and_draws_the_figures(capsys, tmp_path):
    args = ["infogan", "--data", "digits", "--categorical", "10", "--epochs", "1", "--json",
            "--no-prefect", "--run-dir", str(tmp_path / "r"), *TINY]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented("infogan", out)
    for key in ("cluster_accuracy", "hungarian_accuracy", "nmi"):
        assert 0.0 <= out[key] <= 1.0
    assert out["per_seed"][0]["hungarian_accuracy"] == out["hungarian_accuracy"]
    assert sum(out["per_seed"][0]["cluster_sizes"]) == 359  # the digits test split
    assert out["config"]["partition_weight"] == 0.0  # no graph prior on 8x8 digits
    for key in ("samples", "traversal_c1", "traversal_c2", "clusters"):
        assert Path(out["pictures"][key]).read_bytes()[:4] == b"\x89PNG"
    report = Path(out["report"]).read_text()
    assert "Hungarian accuracy" in report and "traversal-c1.png" in report
    assert json.loads(Path(out["metrics"]).read_text())["nmi"]["mean"] == out["nmi"]
    # the same command again reuses the finished run
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["nmi"] == out["nmi"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--categorical", "1"], "categorical"),
        (["--categorical", "0", "--continuous", "0"], "code"),
        (["--set", "info_weight=-1"], "info_weight"),
        (["--set", "partition_weight=-1"], "partition_weight"),
        (["--categorical", "0", "--set", "partition_weight=1"], "partition_weight"),
        (["--epochs", "0"], "epochs"),
        (["--data", "nope"], "nope"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, names):
    code = main(["infogan", "--no-prefect", "--run-dir", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and names in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "r").exists()


def test_the_graph_prior_is_on_with_a_categorical_code_but_on_digits_and_off_on_request():
    from ganflow.flows.infogan import PARTITION_WEIGHT, InfoGANParams

    def prior(**kw) -> float:
        return InfoGANParams(**kw).infogan_config().partition_weight

    assert prior(data="mnist") == prior(data="folder") == PARTITION_WEIGHT > 0
    assert prior(data="mnist", model={"partition_weight": 0.0}) == 0
    assert prior(data="mnist", categorical=0) == 0
    assert prior(data="digits") == 0  # 2x2 scattering maps: a poor graph
    assert prior(data="digits", model={"partition_weight": 1.0}) == 1.0
