"""The everyday commands, timed as a user runs them: each README command on the built-in data,
and `evaluate` on a small folder, from a cold cache (a fresh data root) and again warm (the
same root: prepared data, cached extractors and generators reused), in one run, with the
targets beside.

    .venv/bin/python benchmarks/everyday_benchmark.py [--only NAME,...] [--no-prefect] [--json]

Fixtures (not timed): a 1,200-image reference folder (800 training, 400 test images of
Fashion-MNIST, 28x28 grey, one subfolder per class) and 400 sample images, and two Fashion-MNIST
K+1 GAN checkpoints (1 epoch, seeds 0 and 1) for `evaluate` of 10,000 samples: cold scores
the first, warm the second (new samples: only the domain classifier and the real baseline
come from the cache). Fashion-MNIST comes from
`apt-get install dataset-fashion-mnist`; without it those rows are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GANFLOW = [sys.executable, "-m", "ganflow.flows.cli"]


def _fashion():
    from ganflow.tasks.data.sources import DataError, SourceOptions, load_source

    try:
        return load_source("fashion-mnist", SourceOptions())
    except DataError:
        return None


def _write_folder(root: Path, x: np.ndarray, y: np.ndarray | None, names: list[str]) -> Path:
    from PIL import Image

    for i, img in enumerate(x):
        d = root / (names[y[i]].replace("/", "_") if y is not None else "")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0]).save(d / f"{i:05d}.png")
    return root


def fixtures(work: Path, fashion, checkpoint: bool = True) -> dict[str, str]:
    out: dict[str, str] = {}
    if fashion is None:
        return out
    rng = np.random.default_rng(0)
    tr = rng.choice(len(fashion.train_y), 1200, replace=False)
    te = rng.choice(len(fashion.test_y), 400, replace=False)
    names = fashion.class_names
    ref = work / "reference"
    _write_folder(ref / "train", fashion.train_x[tr[:800]], fashion.train_y[tr[:800]], names)
    _write_folder(ref / "test", fashion.test_x[te], fashion.test_y[te], names)
    _write_folder(work / "samples", fashion.train_x[tr[800:]], None, names)
    out["reference"], out["samples"] = str(ref), str(work / "samples")
    if not checkpoint:
        return out
    env = {**os.environ, "GANFLOW_DATA": str(work / "fixture-data"), "GANFLOW_QUIET": "1"}
    run = subprocess.run([*GANFLOW, "semi-supervised", "--data", "fashion-mnist", "--labels-per-class", "10",
                          "--epochs", "1", "--seeds", "0,1", "--no-prefect", "--json", "--run-dir", str(work / "fashion-ssgan")],
                         env=env, capture_output=True, text=True, check=True)  # fmt: skip
    out["fashion_ckpt"], out["fashion_ckpt_2"] = json.loads(run.stdout)["gan"]["checkpoints"][:2]
    return out


def commands(fx: dict[str, str]) -> list[tuple[str, list[str], dict[str, float]]]:
    """(name, arguments, {cold target s, warm target s}); None: no target."""
    rows = [
        ("semi-supervised (default job)", ["semi-supervised"], {"cold": 60, "warm": 60}),
        ("augment digits, 5 per class, seed 0",
         ["augment", "--data", "digits", "--labels-per-class", "5", "--seeds", "0"], {"cold": 120, "warm": 120}),
        ("cluster digits", ["cluster", "--data", "digits"], {}),
        ("train-gan ring", ["train-gan", "--data", "ring"], {}),
    ]  # fmt: skip
    if "reference" in fx:
        rows.append(("evaluate 400 images vs a 1,200-image folder",
                     ["evaluate", "--samples", fx["samples"], "--data", "folder", "--data-root", fx["reference"],
                      "--image-size", "28", "--channels", "1", "--no-cas", "--no-floor"], {"cold": 60}))  # fmt: skip
    if "fashion_ckpt" in fx:
        rows.append(("evaluate 10,000 Fashion-MNIST samples",
                     ["evaluate", "--checkpoint", fx["fashion_ckpt"], "--data", "fashion-mnist"],  # warm: the 2nd
                     {"cold": 180, "warm": 60}))  # fmt: skip
    return rows


def timed(
    args: list[str], data_root: Path, run_dir: Path, no_prefect: bool
) -> tuple[float, int, str]:
    env = {
        **os.environ,
        "GANFLOW_DATA": str(data_root),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    extra = ["--no-prefect"] if no_prefect else []
    t0 = time.monotonic()
    proc = subprocess.run([*GANFLOW, *args, *extra, "--json", "--run-dir", str(run_dir)], env=env,
                          capture_output=True, text=True)  # fmt: skip
    return (
        time.monotonic() - t0,
        proc.returncode,
        proc.stderr.strip().splitlines()[-1:] and proc.stderr.strip().splitlines()[-1] or "",
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default="", help="comma-separated substrings of the rows to run")
    ap.add_argument("--no-prefect", action="store_true", help="time the commands with --no-prefect")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ganflow-everyday-"))
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    t0 = time.monotonic()
    fx = fixtures(
        work,
        _fashion(),
        checkpoint=not wanted or any("10,000" in w or "Fashion" in w for w in wanted),
    )
    print(f"fixtures: {time.monotonic() - t0:.0f} s in {work}", file=sys.stderr)
    results = []
    for i, (name, cmd, target) in enumerate(commands(fx)):
        if wanted and not any(w in name for w in wanted):
            continue
        root = work / f"data-{i}"  # cold: a fresh data root; warm: the same one again
        row = {"command": "ganflow " + " ".join(cmd), "name": name, "target": target}
        for phase in ("cold", "warm"):
            if phase == "warm" and "fashion_ckpt" in fx:  # other samples, the same reference
                cmd = [fx["fashion_ckpt_2"] if c == fx["fashion_ckpt"] else c for c in cmd]
            s, rc, last = timed(cmd, root, work / f"run-{i}-{phase}", args.no_prefect)
            row[phase] = round(s, 1)
            row[f"{phase}_ok"] = rc == 0 and (phase not in target or s <= target[phase])
            if rc != 0:
                row[f"{phase}_error"] = last
            print(f"{name} [{phase}]: {s:.1f} s (exit {rc})", file=sys.stderr)
        results.append(row)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{'command':<46} {'cold s':>8} {'target':>7} {'warm s':>8} {'target':>7}  met")
    for r in results:
        t = r["target"]
        met = "yes" if r["cold_ok"] and r["warm_ok"] else "NO"
        print(
            f"{r['name']:<46} {r['cold']:>8} {t.get('cold', '-'):>7} {r['warm']:>8} {t.get('warm', '-'):>7}  {met}"
        )
    print(f"mode: {'--no-prefect' if args.no_prefect else 'Prefect (ephemeral server per command)'}; "
          f"cores: {os.cpu_count()}; load average at the end: {os.getloadavg()[0]:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
