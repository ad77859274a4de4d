"""Progress on stderr: lines in a log when stderr is not a terminal, silence with --quiet,
stdout untouched."""

import io
import json
import os
import re
import subprocess
import sys

from ganflow.tasks.progress import Progress, set_quiet


def test_progress_writes_lines_with_rate_and_time_left_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv("GANFLOW_QUIET", raising=False)
    out = io.StringIO()
    with Progress("train gan seed 0", total=10, unit="step", stream=out, every_s=0.0) as p:
        for _ in range(4):
            p.update(1, d_loss=0.5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5  # one per update, and the last on close
    assert re.match(
        r"train gan seed 0: 1/10 step \(10%\), [\d.]+ step/s, \d+ s elapsed, \d+ s left, d_loss 0.5$",
        lines[0],
    )
    assert lines[-1].startswith(
        "train gan seed 0 stopped: 4/10 step"
    )  # it ended short of its total


def test_a_time_budget_bounds_the_time_left_and_an_error_leaves_no_line(monkeypatch):
    monkeypatch.delenv("GANFLOW_QUIET", raising=False)
    out = io.StringIO()
    clock = iter([0.0, 0.0, 10.0, 10.0, 10.0])  # start, last line, then each update at 10 s
    monkeypatch.setattr("ganflow.tasks.progress.time.monotonic", lambda: next(clock))
    p = Progress("gan", total=1_000_000, unit="step", stream=out, every_s=0.0, budget_s=60.0)
    p.update(10)
    # 10 steps in 10 s would need 11 days; the budget ends the run in 50 s
    assert out.getvalue().splitlines()[-1].endswith("50 s left (time budget)")
    out = io.StringIO()
    try:
        with Progress("decode", total=5, stream=out, every_s=1e9):
            raise ValueError("bad image")
    except ValueError:
        pass
    assert out.getvalue() == ""


def test_quiet_silences_progress(monkeypatch):
    monkeypatch.delenv("GANFLOW_QUIET", raising=False)
    out = io.StringIO()
    set_quiet(True)
    try:
        with Progress("x", total=3, stream=out, every_s=0.0) as p:
            p.update(3)
    finally:
        set_quiet(False)
    assert out.getvalue() == ""


def test_a_training_command_logs_progress_to_a_redirected_stderr(tmp_path):
    """stderr to a file, as under nohup or a scheduler: progress lines land in it, stdout
    holds the JSON result alone; --quiet leaves only what is not progress."""
    env = {**os.environ, "GANFLOW_PROGRESS_EVERY_S": "0.05", "GANFLOW_DATA": str(tmp_path / "data")}
    env.pop("GANFLOW_QUIET", None)
    args = [sys.executable, "-m", "ganflow.flows.cli", "train-gan", "--data", "ring", "--steps", "200",
            "--no-prefect", "--json"]  # fmt: skip
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        proc = subprocess.run([*args, "--run-dir", str(tmp_path / "a")], env=env, stdout=subprocess.PIPE,
                              stderr=err, text=True, check=True)  # fmt: skip
    assert json.loads(proc.stdout)["steps"] == 200
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("gan-nonsaturating seed 0")]
    assert len(lines) >= 2 and any(
        re.search(r": \d+/200 step \(\d+%\), .* elapsed", ln) for ln in lines
    )
    assert lines[-1].startswith("gan-nonsaturating seed 0 done: 200/200 step (100%)")
    quiet = subprocess.run([*args, "--quiet", "--run-dir", str(tmp_path / "b")], env=env, capture_output=True,
                           text=True, check=True)  # fmt: skip
    assert (
        "gan-nonsaturating seed 0" not in quiet.stderr and json.loads(quiet.stdout)["steps"] == 200
    )
