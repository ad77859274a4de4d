"""Wall time of a 4-point digits sweep (labels_per_class 3,5 x seeds 0,1) run serially and on
Dask LocalCluster workers, side by side, each as a user runs it (`ganflow sweep ...`, its own
temporary Prefect server) from a cold cache (a fresh data root, nothing reused).

    .venv/bin/python benchmarks/sweep_benchmark.py [--epochs 5] [--workers 2] [--json]

Serial: one point after another, torch using every core. Dask: `--workers` single-threaded
worker processes, one point each at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

GANFLOW = [sys.executable, "-m", "ganflow.flows.cli"]


def timed_sweep(runner: list[str], epochs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ganflow-sweep-bench-") as root:
        env = {**os.environ, "GANFLOW_DATA": root, "PREFECT_HOME": os.path.join(root, "prefect"),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
        env.pop("PREFECT_API_URL", None)
        env.pop("GANFLOW_CACHE", None)
        cmd = [*GANFLOW, "sweep", "semi-supervised", "--grid", "labels_per_class=3,5",
               "--seeds", "0,1", "--param", f"epochs={epochs}", *runner, "--json", "--quiet"]  # fmt: skip
        t = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode != 0:
            raise SystemExit(f"sweep failed ({done.returncode}):\n{done.stderr[-3000:]}")
        out = json.loads(done.stdout)
    return {
        "wall_s": round(wall, 1),
        "completed": sum(p["state"] == "Completed" for p in out["points"]),
        "gan_test_errors": [r["gan_test_error"] for r in out["table"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = {
        "serial": timed_sweep(["--runner", "serial"], a.epochs),
        f"dask x{a.workers}": timed_sweep(["--workers", str(a.workers)], a.epochs),
    }
    serial = rows["serial"]["wall_s"]
    for r in rows.values():
        r["speedup"] = round(serial / r["wall_s"], 2)
    if a.json:
        print(json.dumps({"epochs": a.epochs, "cores": os.cpu_count(), "rows": rows}))
        return
    print(f"4-point digits sweep, {a.epochs} epochs per point, {os.cpu_count()} cores")
    print(f"{'runner':<10} {'wall s':>8} {'speedup':>8} {'done':>5}  GAN test errors")
    for name, r in rows.items():
        errs = ", ".join(f"{100 * e:.1f}" for e in r["gan_test_errors"])
        print(f"{name:<10} {r['wall_s']:>8.1f} {r['speedup']:>8.2f} {r['completed']:>5}  {errs}")


if __name__ == "__main__":
    main()
