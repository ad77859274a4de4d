"""`ganflow serve`: register flows with cron or interval schedules on a running Prefect server
and execute their scheduled runs in this process until it is stopped (Ctrl-C).

    prefect server start                                   # terminal 1 (or a server you run)
    ganflow serve augment --interval 86400 --param data=fashion-mnist --param per_class=1000
    ganflow serve --pipeline spec.toml --cron '0 3 * * *'  # a pipeline file (flows/pipeline.py)

Schedules need a real server: PREFECT_API_URL must point at it (`prefect config set
PREFECT_API_URL=http://127.0.0.1:4200/api`); with Prefect's ephemeral mode nothing would
ever trigger the runs, so serve refuses to start without one.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from typing import Any

from ganflow.flows.params import settings_dict

# flow name -> "module:function"; imported only when served
FLOWS = {
    "augment": "ganflow.flows.augment:augment_flow",
    "export": "ganflow.flows.export:export_flow",
    "semi-supervised": "ganflow.flows.semi_supervised:semi_supervised",
    "cluster": "ganflow.flows.cluster:cluster",
    "evaluate": "ganflow.flows.evaluate:evaluate",
    "train-gan": "ganflow.flows.gan:train_gan_flow",
    "gan-grid": "ganflow.flows.gan:gan_grid_flow",
    "translate": "ganflow.flows.translate:translate_flow",
    "text2image": "ganflow.flows.text2image:text_to_image",
}


def load_flow(name: str) -> Any:
    if name not in FLOWS:
        raise ValueError(f"unknown flow {name!r}; servable flows: {', '.join(FLOWS)}")
    module, attr = FLOWS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def _api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()


def build_deployments(args: argparse.Namespace) -> list[Any]:
    """One deployment per flow named, each with the schedule and parameters given."""
    if (args.cron is None) == (args.interval is None):
        raise ValueError("give one schedule: --cron 'MIN HOUR DOM MON DOW' or --interval SECONDS")
    if args.interval is not None and args.interval <= 0:
        raise ValueError(f"--interval must be positive, got {args.interval}")
    if args.cron is not None:
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=args.cron)
        except ValueError as e:
            raise ValueError(
                f"--cron {args.cron!r} is not a cron schedule: five fields, "
                "'MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK', e.g. '0 3 * * *'"
            ) from e
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    params: dict[str, Any] = settings_dict(args.params, "--param")
    if not args.flows and not args.pipeline:
        raise ValueError("name the flow(s) to serve, or a pipeline file with --pipeline")
    deployments = []
    if args.pipeline:
        from pathlib import Path

        from ganflow.flows.pipeline import pipeline_flow, read_pipeline

        if params:
            raise ValueError("--param goes with flows; a pipeline's parameters are in its file")
        spec = str(Path(args.pipeline).resolve())
        pipe = read_pipeline(spec)  # every step checked now, and again when each run starts
        deployments.append(
            pipeline_flow.to_deployment(
                name=args.name or f"pipeline-{pipe.name}",
                cron=args.cron,
                interval=args.interval,
                parameters={"spec": spec},
                description=f"ganflow pipeline {pipe.name} ({spec}) on a schedule",
                tags=["ganflow", "pipeline"],
            )
        )
    for name in args.flows:
        f = load_flow(name)
        known = set(f.parameters.properties)
        bad = sorted(set(params) - known)
        if bad:
            raise ValueError(
                f"flow {name!r} has no parameter(s) {bad}; it takes: {', '.join(sorted(known))}"
            )
        if getattr(f, "params_class", None) is not None:  # types and domains, checked now
            f.params_class.from_dict(params)
        deployments.append(
            f.to_deployment(
                name=args.name or f"{name}-scheduled",
                cron=args.cron,
                interval=args.interval,
                parameters=params,
                description=f"ganflow {name} on a schedule",
                tags=["ganflow"],
            )
        )
    return deployments


def run_serve(args: argparse.Namespace) -> int:
    if not _api_url():
        raise ValueError(
            "schedules need a running Prefect server: start one with `prefect server start` and "
            "set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)"
        )
    deployments = build_deployments(args)
    from prefect import serve

    serve(*deployments, limit=args.limit)
    return 0


def add_serve_parser(sub: argparse._SubParsersAction, setting: Any) -> None:
    sv = sub.add_parser(
        "serve", help="run flows on a cron or interval schedule (needs a Prefect server)"
    )
    sv.add_argument(
        "flows", nargs="*", metavar="FLOW", help=f"flow(s) to serve: {', '.join(FLOWS)}"
    )
    sv.add_argument(
        "--pipeline", default=None, metavar="SPEC", help="serve a pipeline file (TOML) instead"
    )
    sv.add_argument("--cron", default=None, help="cron schedule, e.g. '0 3 * * *' (daily at 03:00)")
    sv.add_argument("--interval", type=float, default=None, help="run every this many seconds")
    sv.add_argument(
        "--param",
        dest="params",
        type=setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="flow parameter (JSON values), e.g. --param data=digits --param seeds=[0,1]",
    )
    sv.add_argument("--name", default=None, help="deployment name (default <flow>-scheduled)")
    sv.add_argument(
        "--limit",
        type=int,
        default=1,
        help="at most this many runs at once (default 1: a training flow uses the whole machine, "
        "and runs that pile up on a short interval would slow each other down; later ones wait)",
    )
    sv.add_argument(
        "--dry-run", action="store_true", help="check the flows and parameters, print, exit"
    )


def describe(args: argparse.Namespace) -> str:
    return json.dumps(
        {
            "flows": args.flows,
            "pipeline": args.pipeline,
            "cron": args.cron,
            "interval": args.interval,
            "parameters": settings_dict(args.params, "--param"),
            "name": args.name,
        }
    )


def main(args: argparse.Namespace) -> int:
    """`ganflow serve`: with --dry-run, check the flows and parameters and print them."""
    if args.dry_run:
        build_deployments(args)
        print(describe(args))
        return 0
    return run_serve(args)
