"""Pipelines as files: `ganflow pipeline run spec.toml` chains ganflow's flows as Prefect
subflows in the order the file gives, passing each step's outputs to later steps by name.

    # spec.toml
    [[step]]
    name = "ssl"
    flow = "semi-supervised"
    params = { data = "digits", labels_per_class = 5, epochs = 20 }

    [[step]]
    name = "export"
    flow = "export"
    [step.params]                       # a long table: one key per line
    checkpoint = "${ssl.gan.checkpoints.0}"
    name = "digits-ssl"
    per_class = 100

    [[step]]
    name = "augment"
    flow = "augment"
    params = { synthetic = "${export.path}", labels_per_class = 5 }

A value "${STEP.KEY.KEY...}" is replaced by that part of an earlier step's --json result
(list items by index); inside a longer string it is replaced by its text. Before the first
step starts, every step is checked: known flow, unique names, references to earlier steps
only, known parameter names, and each value's type and domain (a referenced value's domain
when it arrives). Each step is a cached task (flows/caching.py) whose subflow is the step's
own flow: a rerun of the same file reuses every finished step (a checkpoint by its content,
so an unchanged upstream means an unchanged key) and resumes at the one that failed.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganflow.flows.caching import cached_task
from ganflow.models.config import ConfigError, coerce
from ganflow.tasks.io import claim_run_dir, write_json

REF = re.compile(r"\$\{([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_-]+)*)\}")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass
class Step:
    name: str
    flow: str
    params: dict[str, Any]


@dataclass
class Pipeline:
    name: str
    steps: list[Step]
    source: str  # the file's path (or "<text>")


def _refs(value: Any) -> list[tuple[str, list[str]]]:
    if isinstance(value, str):
        return [(m.group(1), [k for k in m.group(2).split(".") if k]) for m in REF.finditer(value)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def read_pipeline(path: str | Path, overrides: dict[str, Any] | None = None) -> Pipeline:
    """The file, parsed and checked; ConfigError naming the step and the problem.
    overrides: {"STEP.KEY": value} set over the file's step parameters (a sweep's point)."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"pipeline file {p} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"pipeline file {p} cannot be read: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"pipeline file {p} is not valid TOML: {e}") from e
    return check_pipeline(override(doc, overrides or {}), str(p))


def override(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """doc with {"STEP.KEY": value} set in step STEP's params."""
    steps = {s.get("name"): s for s in doc.get("step", []) if isinstance(s, dict)}
    for dotted, value in overrides.items():
        name, _, key = dotted.partition(".")
        if name not in steps or not key:
            raise ConfigError(
                f"{dotted!r}: a pipeline setting is STEP.KEY with STEP one of {sorted(steps)}"
            )
        steps[name].setdefault("params", {})[key] = value
    return doc


def check_pipeline(doc: dict[str, Any], source: str) -> Pipeline:
    unknown = sorted(set(doc) - {"name", "step"})
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {unknown}; a pipeline has name and [[step]]")  # fmt: skip
    raw = doc.get("step")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: no steps; give one [[step]] table per step")
    steps: list[Step] = []
    for i, s in enumerate(raw):
        where = f"{source}: step {i + 1}"
        if not isinstance(s, dict):
            raise ConfigError(f"{where} is not a table")
        bad = sorted(set(s) - {"name", "flow", "params"})
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {bad}; a step has name, flow and params")
        name, flow, params = s.get("name"), s.get("flow"), s.get("params", {})
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigError(f"{where}: name must be a word (letters, digits, _ and -), got {name!r}")  # fmt: skip
        if name in {t.name for t in steps}:
            raise ConfigError(f"{where}: the name {name!r} is used twice")
        if not isinstance(params, dict):
            raise ConfigError(f"{where} ({name}): params must be a table")
        before = {t.name for t in steps}
        for ref, _ in _refs(params):
            if ref not in before:
                raise ConfigError(
                    f"{where} ({name}): ${{{ref}...}} names no earlier step"
                    f"{'; earlier: ' + ', '.join(sorted(before)) if before else ''}"
                )
        step = Step(name, str(flow), params)
        _check_params(step, where)
        steps.append(step)
    return Pipeline(str(doc.get("name") or Path(source).stem), steps, source)


def _check_params(step: Step, where: str) -> None:
    """The step's flow exists, its keys are its flow's, literal values fit their fields and
    the whole passes the flow's domain checks (referenced values stand in for themselves
    there: an error about them waits until they are known)."""
    from ganflow.flows.commands import commands

    if step.flow not in commands():
        raise ConfigError(f"{where} ({step.name}): unknown flow {step.flow!r}; flows: {', '.join(commands())}")  # fmt: skip
    cls = commands()[step.flow].params
    types_ = cls.field_types()
    unknown = sorted(set(step.params) - set(types_))
    if unknown:
        raise ConfigError(f"{where} ({step.name}): {step.flow} has no parameter(s) {unknown}; it takes: {', '.join(types_)}")  # fmt: skip
    referenced = {k for k, v in step.params.items() if _refs(v)}
    trial = {}
    for k, v in step.params.items():
        if k in referenced:
            if types_[k] in (str, str | None):
                trial[k] = "ref"
            continue
        try:
            trial[k] = coerce(k, v, types_[k])
        except ConfigError as e:
            raise ConfigError(f"{where} ({step.name}): {e}") from e
    try:
        cls.from_dict(trial)
    except ValueError as e:  # ConfigError, or a domain error of the flow (ExportError, ...)
        if not any(k in str(e) for k in referenced):
            raise ConfigError(f"{where} ({step.name}): {e}") from e


def _lookup(results: dict[str, Any], ref: str, keys: list[str]) -> Any:
    value: Any = results[ref]
    for k in keys:
        if isinstance(value, list) and k.isdigit() and int(k) < len(value):
            value = value[int(k)]
        elif isinstance(value, dict) and k in value:
            value = value[k]
        else:
            path = ".".join([ref, *keys])
            have = list(value) if isinstance(value, dict) else f"{len(value)} items" if isinstance(value, list) else type(value).__name__  # fmt: skip
            raise ConfigError(f"${{{path}}}: no {k!r} in the result of step {ref!r} (it has {have})")  # fmt: skip
    return value


def resolve(value: Any, results: dict[str, Any]) -> Any:
    """value with every ${step.key...} replaced from the earlier steps' results."""
    if isinstance(value, str):
        whole = REF.fullmatch(value)
        if whole:
            return _lookup(results, whole.group(1), [k for k in whole.group(2).split(".") if k])
        return REF.sub(
            lambda m: str(_lookup(results, m.group(1), [k for k in m.group(2).split(".") if k])),
            value,
        )
    if isinstance(value, list):
        return [resolve(v, results) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, results) for k, v in value.items()}
    return value


def run_flow_step(flow: str, params: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """One step: the flow as a subflow (its own tasks cached too); its --json result."""
    from ganflow.flows.commands import commands

    c = commands()[flow]
    d = {**params, **({"run_dir": run_dir} if "run_dir" in c.params.field_types() else {})}
    return c.as_json(c.flow(**c.params.from_dict(d).to_dict()))


step_task = cached_task(
    run_flow_step,
    name="pipeline-step",
    code=("models", "tasks", "flows"),
    outputs=("run_dir",),
)


def run_pipeline(
    spec: str, run_dir: str | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The pipeline flow's body: every step in order, each resolved from the earlier ones."""
    pipe = read_pipeline(spec, overrides)
    root = claim_run_dir(
        run_dir, "pipeline", f"pipeline-{pipe.name}",
        {"steps": [{"name": s.name, "flow": s.flow, "params": s.params} for s in pipe.steps]},
    )  # fmt: skip
    results: dict[str, Any] = {}
    for step in pipe.steps:
        params = resolve(step.params, results)
        try:
            commands_params(step.flow).from_dict(params)
        except ValueError as e:
            raise ConfigError(f"step {step.name!r}: {e}") from e
        run = step_task.with_options(task_run_name=f"step-{step.name}")
        results[step.name] = run(step.flow, params, str(root / step.name))
    summary = {
        "pipeline": pipe.name,
        "spec": pipe.source,
        "overrides": overrides or {},
        "steps": [{"name": s.name, "flow": s.flow} for s in pipe.steps],
        "results": results,
        "run_dir": str(root),
    }
    write_json(root / "pipeline.json", summary)
    return summary


def commands_params(flow: str) -> Any:
    from ganflow.flows.commands import commands

    return commands()[flow].params


def _pipeline_flow() -> Any:
    from prefect import flow

    @flow(name="pipeline", log_prints=True)
    def pipeline(
        spec: str, run_dir: str | None = None, overrides: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run a pipeline file's steps in order, each a cached subflow."""
        return run_pipeline(spec, run_dir, overrides)

    return pipeline


pipeline_flow = _pipeline_flow()


def table_text(s: dict[str, Any]) -> str:
    lines = [f"pipeline {s['pipeline']}: {len(s['steps'])} steps"]
    for step in s["steps"]:
        r = s["results"][step["name"]]
        where = r.get("report") or r.get("path") or r.get("run_dir") or ""
        lines.append(f"  {step['name']:<16} {step['flow']:<16} {where}")
    lines.append(f"pipeline.json: {Path(s['run_dir']) / 'pipeline.json'}")
    return "\n".join(lines)


def add_pipeline_parser(sub: Any) -> None:
    """`ganflow pipeline run SPEC` (parsed as the `pipeline-run` command)."""
    pp = sub.add_parser("pipeline-run", help="run a pipeline file's steps as cached subflows")
    pp.prog = "ganflow pipeline run"
    pp.add_argument("spec", help="the pipeline file (TOML)")
    pp.add_argument("--run-dir", default=None, help="pipeline directory (default: a new one)")
    pp.add_argument("--check", action="store_true", help="check the file, print its steps, exit")
    pp.add_argument("--json", action="store_true", help="print the result as one JSON object")
    pp.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    pp.add_argument("--refresh", action="store_true", help="recompute every step")
