"""Pipelines as files: semi-supervised -> export -> augment on the exported version, steps
passing outputs by name, checked before the first step, and a rerun recomputing nothing."""

from __future__ import annotations

import json
import re

import pytest
from readme_keys import assert_documented

from ganflow.flows.cli import main
from ganflow.flows.pipeline import check_pipeline, resolve
from ganflow.models.config import ConfigError

SPEC = """
name = "digits-augment"

[[step]]
name = "ssl"
flow = "semi-supervised"
params = { data = "digits", labels_per_class = 3, epochs = 1 }

[[step]]
name = "export"
flow = "export"
[step.params]
checkpoint = "${ssl.gan.checkpoints.0}"
name = "digits-pipe"
per_class = 8
balance = "natural"
metrics = false
root = "ROOT"

[[step]]
name = "augment"
flow = "augment"
[step.params]
synthetic = "${export.path}"
labels_per_class = 3
classifier_steps = 20
datasets_root = "ROOT"
"""


def steps(*tables: str) -> dict:
    import tomllib

    return tomllib.loads("\n".join(tables))


@pytest.mark.parametrize(
    "doc, says",
    [
        ('[[step]]\nname = "a"\nflow = "nope"', "unknown flow 'nope'"),
        ('[[step]]\nname = "a"\nflow = "export"\nparams = { per_clas = 3 }', "per_clas"),
        ('[[step]]\nname = "a"\nflow = "export"\nparams = { checkpoint = "${b.path}" }',
         "names no earlier step"),
        ('[[step]]\nname = "a"\nflow = "semi-supervised"\nparams = { epochs = "ten" }',
         "epochs='ten'"),
        ('[[step]]\nname = "a"\nflow = "semi-supervised"\nparams = { labels_per_class = 0 }',
         "labels_per_class must be at least 1"),
        ('[[step]]\nname = "a"\nflow = "export"\nparams = { checkpoint = "${a.x}" }',
         "names no earlier step"),
        ('[[step]]\nname = "a"\nflow = "cluster"\n[[step]]\nname = "a"\nflow = "cluster"',
         "used twice"),
        ("name = 'x'", "no steps"),
    ],
)  # fmt: skip
def test_bad_pipelines_are_refused_before_any_step(doc, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        check_pipeline(steps(doc), "spec.toml")


def test_a_referenced_value_is_checked_only_once_known():
    doc = '[[step]]\nname = "s"\nflow = "semi-supervised"\n[[step]]\nname = "e"\nflow = "export"\nparams = { checkpoint = "${s.gan.checkpoints.0}", name = "ok", per_class = 0 }'  # fmt: skip
    with pytest.raises(ConfigError, match="per_class"):  # a literal's domain: checked now
        check_pipeline(steps(doc), "spec.toml")


def test_resolve_takes_values_by_path_whole_or_in_text():
    results = {"ssl": {"gan": {"checkpoints": ["/r/c.pt"]}, "seeds": [0, 1]}}
    assert resolve("${ssl.gan.checkpoints.0}", results) == "/r/c.pt"
    assert resolve("${ssl.seeds}", results) == [0, 1]  # a whole reference keeps its type
    assert resolve({"x": "run at ${ssl.gan.checkpoints.0}"}, results) == {"x": "run at /r/c.pt"}
    with pytest.raises(ConfigError, match="no 'nope' in the result of step 'ssl'"):
        resolve("${ssl.nope}", results)


def _run(spec, run_dir, capsys):
    assert main(["pipeline", "run", str(spec), "--run-dir", str(run_dir), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_three_step_pipeline_then_a_rerun_recomputes_nothing(prefect_harness, tmp_path, capsys):
    from prefect.settings import PREFECT_API_URL

    from ganflow.tasks.export.reader import list_datasets

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("ROOT", str(tmp_path / "datasets")))
    env_url = PREFECT_API_URL.value()
    mp = pytest.MonkeyPatch()
    mp.setenv("PREFECT_API_URL", env_url)  # the harness's server, not a temporary one
    try:
        first = _run(spec, tmp_path / "p1", capsys)
        assert_documented("pipeline run", first)
        r = first["results"]
        assert r["export"]["version"] == 1 and r["export"]["path"].endswith("digits-pipe/v1")
        aug = r["augment"]
        assert aug["export_path"] == r["export"]["path"]  # augmented with the exported version
        assert 0.0 <= aug["real_plus_synthetic_accuracy_mean"] <= 1.0
        assert aug["per_seed"][0]["synthetic_count"] == r["export"]["count"] == 80  # 8 x 10
        second = _run(spec, tmp_path / "p2", capsys)
    finally:
        mp.undo()
    assert second["results"] == first["results"]  # every step reused
    assert [d["version"] for d in list_datasets(tmp_path / "datasets")] == ["v1"]  # no v2
    assert not (tmp_path / "p2" / "ssl").exists()  # the first step did not run again


def test_serve_takes_a_pipeline_file_checked_first(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("ROOT", str(tmp_path / "datasets")))
    assert main(["serve", "--pipeline", str(spec), "--cron", "0 3 * * *", "--dry-run"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["pipeline"] == str(spec) and shown["cron"] == "0 3 * * *"
    spec.write_text(SPEC.replace("labels_per_class = 3, epochs = 1", "epochs = -1"))
    assert main(["serve", "--pipeline", str(spec), "--cron", "0 3 * * *", "--dry-run"]) == 2
    assert "epochs must be at least 1" in capsys.readouterr().err


def test_a_pipeline_file_is_swept_over_step_settings_and_seeds(prefect_harness, tmp_path, capsys):
    from prefect.settings import PREFECT_API_URL

    spec = tmp_path / "spec.toml"
    two_steps = SPEC.replace("ROOT", str(tmp_path / "datasets"))
    spec.write_text(two_steps[: two_steps.index('[[step]]\nname = "augment"')])
    args = ["sweep", "pipeline", "--param", f"spec={spec}", "--grid", "ssl.labels_per_class=2,3",
            "--runner", "serial", "--run-dir", str(tmp_path / "sw"), "--json"]  # fmt: skip
    mp = pytest.MonkeyPatch()
    mp.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    try:
        assert main(["sweep", "pipeline", "--param", f"spec={spec}", "--grid", "nope.x=1"]) == 2
        assert "STEP.KEY with STEP one of ['export', 'ssl']" in capsys.readouterr().err
        assert main(args) == 0
    finally:
        mp.undo()
    out = json.loads(capsys.readouterr().out)
    assert [pt["state"] for pt in out["points"]] == ["Completed"] * 2
    for pt, lpc in zip(out["points"], (2, 3), strict=True):
        ssl = pt["result"]["results"]["ssl"]
        assert ssl["labels_per_class"] == lpc and ssl["seeds"] == [0]
        assert pt["result"]["results"]["export"]["count"] == 80
    assert {"ssl.gan_test_error", "ssl.baseline_test_error"} <= set(out["table"][0])
