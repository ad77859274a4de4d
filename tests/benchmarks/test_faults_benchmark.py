"""The faults benchmark's cases, in CI: every bad input and fault gets a clear error (or is
handled), none a traceback, none is silently accepted, nothing is lost; kills of a training
resume bit-identical, a killed export publishes nothing, a killed flow finishes on rerun.
(The 20-flow load test is the benchmark's --load, not run here.)"""

import json

import pytest
from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("faults_benchmark")


def test_every_fault_is_a_clear_error_and_nothing_is_lost(bench, tmp_path, capsys):
    # 4 kills (the benchmark's 10 take a minute): one inside a checkpoint write, 3 elsewhere
    code = bench.main(["--out", str(tmp_path), "--in-process", "--json", "--kill-points", "4"])
    doc = json.loads(capsys.readouterr().out)
    bad = [c for c in doc["cases"] if c["verdict"] not in ("clear", "ok")]
    assert bad == [] and code == 0
    total = doc["total"]
    assert total["tried"] >= 60 and total["tracebacks"] == total["silent"] == total["lost"] == 0
    every = {bench.command_of([c]) for c in _cli_commands()} - {"datasets"}
    every |= {"datasets list", "datasets show", "datasets verify"}
    assert every - set(doc["commands"]) == set(), "commands the benchmark never tries"
    kills = [c for c in doc["cases"] if c["class"] == "kills"]
    assert len(kills) == 3 and "4 kills" in kills[0]["line"] and "write: True" in kills[0]["line"]


def _cli_commands() -> list[str]:
    from ganflow.flows.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return list(sub.choices)


def test_the_classifier_of_outcomes_sees_each_kind_of_failure(bench, tmp_path):
    """The benchmark must not pass what it should flag: a traceback, an exit 0, a message
    that does not name the problem, a protected file changed."""
    victim = tmp_path / "precious.txt"
    victim.write_text("keep")
    script = tmp_path / "s.py"

    def outcome(body: str, names: str = "thing", protect=()):
        script.write_text(body)
        case = bench.Case("bad option values", "probe", [], names, protect=list(protect))
        bench.GANFLOW[:] = ["python3", str(script)]
        try:
            return bench.run_case(case, in_process=False).verdict
        finally:
            bench.GANFLOW[:] = [bench.sys.executable, "-m", "ganflow.flows.cli"]

    assert (
        outcome(
            "import sys; print('ganflow: error: the thing is bad', file=sys.stderr); sys.exit(2)"
        )
        == "clear"
    )
    assert outcome("raise KeyError('thing')") == "traceback"
    assert outcome("print('done')") == "silent"
    assert (
        outcome(
            "import sys; print('ganflow: error: another problem', file=sys.stderr); sys.exit(2)"
        )
        == "unclear"
    )
    body = f"import sys; open({str(victim)!r}, 'w').write('gone'); print('ganflow: error: thing', file=sys.stderr); sys.exit(2)"
    assert outcome(body, protect=[victim]) == "lost"
