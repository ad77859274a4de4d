"""Flow `sweep`: one task run per grid point and seed of another flow, through a Prefect task
runner, gathered into one table.

    ganflow sweep semi-supervised --grid labels_per_class=3,5 --seeds 0,1 --param epochs=5
    ganflow sweep semi-supervised --grid lr_d=1e-3,3e-4 --dask-address tcp://10.0.0.5:8786

A grid axis or a --param is a field of the flow's params (labels_per_class, epochs, ...) or,
for flows with model settings, one of those (lr_d, z_dim, ...). Every point is checked
before the first one is submitted. Each point runs the flow's body (its steps, without
nested task runs) in a task-runner worker: prefect-dask's DaskTaskRunner on a LocalCluster
(one single-threaded worker per core, or per GPU with a GPU resource each) by default, an
existing Dask scheduler with --dask-address, prefect-ray's RayTaskRunner with --runner ray
(when prefect-ray is installed), or one point after another with --runner serial. Each point
is a cached task (flows/caching.py): a rerun recomputes only the points not done. A failed
point is a row with state Failed and its error; it is never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganflow.flows.caching import cached_task
from ganflow.flows.params import param, params_flow
from ganflow.flows.runners import RUNNERS, cores, gpus, task_runner
from ganflow.models.config import Config, ConfigError
from ganflow.tasks.io import claim_run_dir, write_json

# per flow: table column -> path into the flow's --json result
HEADLINES: dict[str, dict[str, tuple[str, ...]]] = {
    "semi-supervised": {
        "gan_test_error": ("gan", "test_error_mean"),
        "baseline_test_error": ("baseline", "test_error_mean"),
    },
    "cluster": {
        "cluster_accuracy": ("cluster_accuracy",),
        "nmi": ("nmi",),
        "test_error": ("test_error_mean",),
    },
    "augment": {
        "real_only_accuracy": ("real_only_accuracy_mean",),
        "real_plus_synthetic_accuracy": ("real_plus_synthetic_accuracy_mean",),
        "cas_accuracy": ("cas_accuracy",),
    },
}


@dataclass
class SweepParams(Config):
    flow: str = param("semi-supervised", "the flow to sweep (a ganflow command)")
    grid: dict[str, list[Any]] = param(
        {}, "axis KEY=V1,V2,...: a flow parameter or a model setting", flag="--grid"
    )
    seeds: list[int] = param([0], "seeds, comma-separated: one point per grid point and seed")
    params: dict[str, Any] = param({}, "fixed flow parameter of every point", flag="--param")
    runner: str = param("dask", "dask | ray | serial", choices=RUNNERS)
    workers: int | None = param(None, "LocalCluster workers (default: cores, or GPUs)")
    dask_address: str | None = param(None, "an existing Dask scheduler, e.g. tcp://host:8786")
    run_dir: str | None = param(None, "sweep directory (default: a new data/runs/sweep-...)")

    def validate(self) -> None:
        if self.runner not in RUNNERS:
            raise ConfigError(f"runner must be one of {RUNNERS}, got {self.runner!r}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.dask_address is not None and self.runner == "serial":
            raise ConfigError("--dask-address goes with --runner dask (or ray: a Ray address)")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds repeat: {self.seeds}")
        for k, v in self.grid.items():
            if not isinstance(v, list) or not v:
                raise ConfigError(f"grid axis {k!r} needs at least one value")
        points(self)  # every point's parameters, checked now


def _flow_params(name: str) -> type[Config]:
    from ganflow.flows.commands import commands

    if name not in commands() or name == "gan-grid":
        known = ", ".join(n for n in commands() if n != "gan-grid")
        raise ConfigError(f"unknown flow {name!r} to sweep; flows: {known}, pipeline")
    return commands()[name].params


def _place(fields: dict[str, Any], d: dict[str, Any], key: str, value: Any) -> None:
    """key=value into a flow's params dict: its own field, else a model setting."""
    if key in fields and key != "model":
        d[key] = value
    elif "model" in fields and fields["model"] is not str:
        d.setdefault("model", {})[key] = value
    else:
        raise ConfigError(f"the flow has no parameter {key!r}; it takes: {', '.join(fields)}")


def _pipeline_points(p: SweepParams) -> list[dict[str, Any]]:
    """A pipeline file's points: `spec` in --param, axes STEP.KEY, and each seed set on every
    step whose flow takes one (its `seeds` or `seed`)."""
    from ganflow.flows.commands import commands
    from ganflow.flows.gan import combinations
    from ganflow.flows.pipeline import read_pipeline

    if not isinstance(p.params.get("spec"), str):
        raise ConfigError("a pipeline sweep needs its file: --param spec=PATH")
    if set(p.params) - {"spec"}:
        raise ConfigError("a pipeline's settings are grid axes STEP.KEY; --param takes spec only")
    spec = str(Path(p.params["spec"]).resolve())
    steps = read_pipeline(spec).steps
    out = []
    for combo in combinations(p.grid) if p.grid else [{}]:
        for seed in p.seeds:
            over = dict(combo)
            for s in steps:
                fields = commands()[s.flow].params.field_types()
                if "seeds" in fields:
                    over[f"{s.name}.seeds"] = [seed]
                elif "seed" in fields:
                    over[f"{s.name}.seed"] = seed
            try:
                read_pipeline(spec, over)
            except ConfigError as e:
                raise ConfigError(f"sweep point {combo or '{}'} seed {seed}: {e}") from e
            out.append({"grid": combo, "seed": seed, "params": {"spec": spec, "overrides": over}})
    return out


def points(p: SweepParams) -> list[dict[str, Any]]:
    """[{'grid': {...}, 'seed': s, 'params': the flow's params dict}] for every grid point
    and seed, each checked by the flow's params class."""
    from ganflow.flows.gan import combinations

    if p.flow == "pipeline":
        return _pipeline_points(p)
    cls = _flow_params(p.flow)
    fields = cls.field_types()
    seed_key = "seeds" if "seeds" in fields else "seed" if "seed" in fields else None
    if seed_key is None and p.seeds != [0]:
        raise ConfigError(f"flow {p.flow!r} takes no seed")
    for reserved in ("seeds", "seed", "run_dir"):
        if reserved in p.grid or reserved in p.params:
            raise ConfigError(f"{reserved!r} is the sweep's own: give --seeds / --run-dir")
    out = []
    for combo in combinations(p.grid) if p.grid else [{}]:
        for seed in p.seeds:
            d: dict[str, Any] = {}
            for k, v in {**p.params, **combo}.items():
                _place(fields, d, k, v)
            if seed_key is not None:
                d[seed_key] = [seed] if seed_key == "seeds" else seed
            try:
                cls.from_dict(d)
            except ConfigError as e:
                raise ConfigError(f"sweep point {combo or '{}'} seed {seed}: {e}") from e
            out.append({"grid": combo, "seed": seed, "params": d})
    return out


def run_point(flow: str, params: dict[str, Any], run_dir: str, threads: int) -> dict[str, Any]:
    """One point: the flow's body on its params, in run_dir; the flow's --json result."""
    import torch

    from ganflow.flows.commands import commands

    torch.set_num_threads(threads)
    if flow == "pipeline":
        from ganflow.flows.pipeline import run_pipeline

        return run_pipeline(params["spec"], run_dir, params["overrides"])
    c = commands()[flow]
    fields = c.params.field_types()
    d = {**params, **({"run_dir": run_dir} if "run_dir" in fields else {})}
    if d.get("device", "auto") == "auto" and "device" in fields and torch.cuda.device_count() > 1:
        d["device"] = f"cuda:{_worker_index() % torch.cuda.device_count()}"
    return c.as_json(c.body(c.params.from_dict(d)))


def _worker_index() -> int:
    try:
        from distributed import get_worker

        name = get_worker().name
        return int(name) if str(name).isdigit() else 0
    except (ImportError, ValueError):
        return 0


point_task = cached_task(
    run_point,
    name="sweep-point",
    code=("models", "tasks", "flows"),
    outputs=("run_dir", "threads"),
    task_run_name="{flow}-point",
)


def _threads(p: SweepParams) -> int:
    if p.runner == "serial":
        return max(1, cores())
    return max(1, cores() // max(1, p.workers or cores()))


def _dig(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(result, dict):
            return None
        result = result.get(k)  # type: ignore[assignment]
    return result


def headline(flow: str, result: dict[str, Any] | None) -> dict[str, Any]:
    if result is None:
        return {}
    if flow == "pipeline":  # every step's headline, as STEP.COLUMN
        flows = {s["name"]: s["flow"] for s in result["steps"]}
        return {
            f"{name}.{k}": v
            for name, r in result["results"].items()
            for k, v in headline(flows[name], r).items()
        }
    if flow in HEADLINES:
        return {k: _dig(result, path) for k, path in HEADLINES[flow].items()}
    return {
        k: v for k, v in result.items() if isinstance(v, float | int) and not isinstance(v, bool)
    }


def run_sweep(p: SweepParams, submit: Callable[..., Any] | None = None) -> dict[str, Any]:
    """The sweep's body: every point submitted, then gathered (in submission order)."""
    p.validate()
    todo = points(p)
    run_dir = claim_run_dir(p.run_dir, "sweep", config=p.to_dict())
    threads = _threads(p)
    submit = submit or _submit_all
    outcomes = submit(p.flow, [(pt["params"], str(run_dir / f"point{i}")) for i, pt in enumerate(todo)], threads)  # fmt: skip
    rows, out_points = [], []
    for pt, (state, result, error) in zip(todo, outcomes, strict=True):
        out_points.append({**pt, "state": state, "result": result, "error": error})
        rows.append(
            {**pt["grid"], "seed": pt["seed"], "state": state, **headline(p.flow, result),
             "error": error or ""}
        )  # fmt: skip
    summary = {
        "flow": p.flow,
        "grid": p.grid,
        "seeds": list(p.seeds),
        "runner": p.runner,
        "points": out_points,
        "table": rows,
        "failed": sum(1 for r in rows if r["state"] != "Completed"),
        "run_dir": str(run_dir),
    }
    write_json(run_dir / "sweep.json", summary)
    return summary


def _submit_all(
    flow: str, jobs: list[tuple[dict[str, Any], str]], threads: int
) -> list[tuple[str, Any, str | None]]:
    """Inside the sweep flow: one task run per job through the flow's task runner; the
    state name, the result (or None) and the error (or None) of each."""
    import contextlib

    annotate: Any = contextlib.nullcontext
    if gpus():
        import dask

        annotate = lambda: dask.annotate(resources={"GPU": 1})  # noqa: E731
    with annotate():
        futures = [point_task.submit(flow, params, rd, threads) for params, rd in jobs]
    out = []
    for fut in futures:
        fut.wait()
        state = fut.state
        if state.is_completed():
            out.append(("Completed", fut.result(), None))
        else:
            err = state.result(raise_on_failure=False)
            out.append((state.name or "Failed", None, f"{type(err).__name__}: {err}"))
    return out


def table_text(s: dict[str, Any]) -> str:
    rows = s["table"]
    cols = list(dict.fromkeys(k for r in rows for k in r if k != "error"))

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = [f"sweep of {s['flow']}: {len(rows)} points ({s['failed']} failed), {s['runner']}"]
    lines.append("  ".join(f"{c:>14}" for c in cols))
    lines += ["  ".join(f"{fmt(r.get(c, '')):>14}" for c in cols) for r in rows]
    lines += [f"  point {i}: {r['error']}" for i, r in enumerate(rows) if r["error"]]
    lines.append(f"sweep.json: {Path(s['run_dir']) / 'sweep.json'}")
    return "\n".join(lines)


def publish(s: dict[str, Any]) -> None:
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        s["table"],
        key="sweep-table",
        description=f"sweep of {s['flow']} over {s['grid']} and seeds {s['seeds']}",
    )


@params_flow(SweepParams, name="sweep", log_prints=True)
def _sweep_flow(p: SweepParams) -> dict[str, Any]:
    summary = run_sweep(p)
    publish(summary)
    return summary


def sweep(p: SweepParams) -> dict[str, Any]:
    """The sweep flow on the task runner p asks for."""
    p.validate()
    return _sweep_flow.with_options(task_runner=task_runner(p.runner, p.workers, p.dask_address))(
        **p.to_dict()
    )


def add_sweep_parser(sub: Any, setting: Callable[[str], tuple[str, Any]]) -> None:
    from ganflow.flows.params import int_list

    sw = sub.add_parser(
        "sweep", help="run a flow over a grid of settings and seeds on a Dask cluster"
    )
    sw.add_argument("flow", help="the flow to sweep, e.g. semi-supervised")
    sw.add_argument("--grid", type=setting, action="append", default=[], metavar="KEY=V1,V2",
                    help="an axis: a flow parameter or a model setting and its values")  # fmt: skip
    sw.add_argument("--seeds", type=int_list, default=[0], metavar="N,N,...")
    sw.add_argument("--param", dest="params", type=setting, action="append", default=[],
                    metavar="KEY=VALUE", help="a fixed parameter of every point (JSON value)")  # fmt: skip
    sw.add_argument("--runner", default="dask", choices=RUNNERS)
    sw.add_argument("--workers", type=int, default=None, help="LocalCluster workers")
    sw.add_argument("--dask-address", default=None, help="an existing scheduler tcp://HOST:PORT")
    sw.add_argument("--run-dir", default=None, help="sweep directory")
    sw.add_argument("--json", action="store_true", help="print points and table as JSON")
    sw.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    sw.add_argument("--refresh", action="store_true", help="recompute points already done")


def params_of(args: Any) -> SweepParams:
    from ganflow.flows.gan import parse_grid
    from ganflow.flows.params import settings_dict

    return SweepParams.from_dict(
        {
            "flow": args.flow,
            "grid": parse_grid(args.grid),
            "seeds": args.seeds,
            "params": settings_dict(args.params, "--param"),
            "runner": args.runner,
            "workers": args.workers,
            "dask_address": args.dask_address,
            "run_dir": args.run_dir,
        }
    )
