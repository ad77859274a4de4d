"""Command-line options every training command shares: device, run directory, Prefect or
not, JSON output."""

from __future__ import annotations

import argparse


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps"
    )
    p.add_argument("--run-dir", default=None, help="run directory (an existing one is resumed)")
    p.add_argument(
        "--no-prefect", action="store_true", help="run the same steps without Prefect tracking"
    )
    p.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
