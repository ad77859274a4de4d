"""The Prefect task runners that sweeps and a flow's seeds are submitted through."""

from __future__ import annotations

import os
from typing import Any

from ganflow.models.config import ConfigError

RUNNERS = ("dask", "ray", "serial")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def gpus() -> int:
    import torch

    return torch.cuda.device_count()


def task_runner(
    runner: str = "dask", workers: int | None = None, dask_address: str | None = None
) -> Any:
    """The Prefect task runner: dask (a LocalCluster of `workers` single-threaded worker
    processes, by default one per GPU or core, or the scheduler at dask_address), ray, serial."""
    if runner == "serial":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1)
    if runner == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as e:
            raise ConfigError(
                "--runner ray needs prefect-ray: pip install prefect-ray (not installed)"
            ) from e
        return RayTaskRunner(address=dask_address) if dask_address else RayTaskRunner()
    import logging

    from prefect_dask import DaskTaskRunner

    logging.getLogger("distributed").setLevel(logging.WARNING)  # the cluster's chatter
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    n_gpus = gpus()
    kwargs: dict[str, Any] = {
        "n_workers": workers or (n_gpus or cores()),
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": ":0",  # a free port: two sweeps on one machine do not collide
    }
    if n_gpus:
        kwargs["resources"] = {"GPU": 1}
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=kwargs)
