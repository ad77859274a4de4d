"""Prefect artifacts every per-seed run publishes: its markdown report and a table of its
per-seed scalar results."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact


def publish_report_and_seeds(
    report: str,
    key: str,
    description: str,
    per_seed: list[dict[str, Any]],
    table_key: str,
    table_description: str,
) -> None:
    create_markdown_artifact(report, key=key, description=description)
    rows = [{k: v for k, v in r.items() if not isinstance(v, list | dict)} for r in per_seed]
    create_table_artifact(rows, key=table_key, description=table_description)
