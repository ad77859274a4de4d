"""`ganflow datasets list | show NAME | verify NAME [--version vN]`: the published versions."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ganflow.flows.outputs import datasets_table


def add_datasets_parser(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("datasets", help="list, show or verify exported data sets")
    ds.add_argument("action", choices=("list", "show", "verify"))
    ds.add_argument("name", nargs="?", default=None, help="data set name (show, verify)")
    ds.add_argument("--version", default="latest", help="latest (default), vN or N")
    ds.add_argument("--root", default=None, help="data sets directory (default data/datasets)")
    ds.add_argument("--json", action="store_true", help="print the result as JSON")


def run_datasets_command(args: argparse.Namespace) -> tuple[Any, int]:
    """(result, exit code): verify exits 1 when a check fails."""
    from ganflow.tasks.export.layout import ExportError
    from ganflow.tasks.export.reader import list_datasets, read_manifest, verify, version_dir

    if args.action == "list":
        return list_datasets(args.root), 0
    if not args.name:
        raise ExportError(f"datasets {args.action} needs a data set name")
    path = version_dir(args.name, args.version, args.root)
    if args.action == "show":
        return {"path": str(path), **read_manifest(path)}, 0
    res = verify(path)
    return res, 0 if res["ok"] else 1


def main(args: argparse.Namespace) -> int:
    result, code = run_datasets_command(args)
    print(json.dumps(result, default=str) if args.json else datasets_table(args.action, result))
    return code
