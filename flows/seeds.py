"""The seeds of a flow through a task runner: `--workers N` (a Dask LocalCluster) or
`--dask-address` (an existing scheduler) runs each seed of semi-supervised, cluster,
train-gan or augment as one task in a worker, the steps inside it cached as usual; without
them (and with --no-prefect) the seeds run one after another in this process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ganflow.flows.params import param
from ganflow.models.config import Config, ConfigError

SeedMap = Callable[[Callable[[int], dict[str, Any]], list[int]], list[dict[str, Any]]]


def serial(fn: Callable[[int], dict[str, Any]], seeds: list[int]) -> list[dict[str, Any]]:
    return [fn(s) for s in seeds]


@dataclass
class SeedWorkers(Config):
    """The fields a flow with --seeds takes to spread its seeds (a base of its params)."""

    workers: int | None = param(
        None, "run the seeds on a Dask LocalCluster of this many workers (Prefect mode)"
    )
    dask_address: str | None = param(None, "run the seeds on this Dask scheduler (tcp://...)")

    def check_workers(self) -> None:
        """workers, and the seeds beside them: each a non-negative integer, none twice."""
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        seeds = getattr(self, "seeds", None) or []
        bad = [s for s in seeds if s < 0 or s >= 2**32]
        if bad:
            raise ConfigError(f"seeds must be integers in [0, 2**32), got {bad[0]}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"seeds must differ from one another, got {seeds}")


def seed_map(p: SeedWorkers) -> SeedMap:
    """How the flow maps its per-seed function over the seeds: serially, or as one task per
    seed on the Dask task runner p names, gathered in seed order (a failure is raised)."""
    if not p.dask_address and (p.workers or 1) <= 1:
        return serial

    def on_dask(fn: Callable[[int], dict[str, Any]], seeds: list[int]) -> list[dict[str, Any]]:
        from prefect import task

        from ganflow.flows.runners import task_runner

        runner = task_runner("dask", p.workers, p.dask_address)
        per_seed = task(fn, name="seed", task_run_name="seed-{seed}")
        with runner:
            futures = [runner.submit(per_seed, parameters={"seed": s}) for s in seeds]
            return [f.result() for f in futures]

    return on_dask
