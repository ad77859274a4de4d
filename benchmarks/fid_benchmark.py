"""FID benchmark: ganflow's symmetric eigen route against the scipy.linalg.sqrtm route, on
the same feature statistics (default 10,000 x 2048 features per set, Inception's size).

    python benchmarks/fid_benchmark.py [--n 10000] [--dim 2048] [--repeats 3] [--json]

Prints both FIDs, their relative difference and the times of the distance step (the
statistics are computed once and shared), then PASS/FAIL against the targets: relative
difference at most 1e-6, ganflow at least 4x faster.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import scipy.linalg

from ganflow.tasks.evaluate.metrics import FeatureStats, frechet_distance


def scipy_fid(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The common reference implementation (pytorch-fid, torch-fidelity's fallback)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def features(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated, non-negative feature sets (like post-ReLU pool3 features) that differ
    in mean and covariance."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    real = np.maximum(rng.normal(size=(n, dim)) @ mix, 0.0)
    fake = np.maximum(
        rng.normal(0.1, 1.2, size=(n, dim))
        @ (mix + 0.05 * rng.normal(size=(dim, dim)) / np.sqrt(dim)),
        0.0,
    )
    return real, fake


def timed(fn, repeats: int) -> tuple[float, float]:
    best, value = float("inf"), float("nan")
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return value, best


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=10_000, help="features per set")
    ap.add_argument("--dim", type=int, default=2048, help="feature size")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (best is kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    real, fake = features(args.n, args.dim, args.seed)
    t0 = time.perf_counter()
    a, b = FeatureStats.of(real), FeatureStats.of(fake)
    mu1, s1, mu2, s2 = a.mean, a.cov, b.mean, b.cov
    t_stats = time.perf_counter() - t0

    ours, t_ours = timed(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats)
    ref, t_ref = timed(lambda: scipy_fid(mu1, s1, mu2, s2), args.repeats)
    rel = abs(ours - ref) / abs(ref)
    speedup = t_ref / t_ours
    ok = rel <= 1e-6 and speedup >= 4.0
    row = {
        "n": args.n,
        "dim": args.dim,
        "fid_ganflow": ours,
        "fid_scipy": ref,
        "rel_diff": rel,
        "time_ganflow_s": t_ours,
        "time_scipy_s": t_ref,
        "speedup": speedup,
        "stats_time_s": t_stats,
        "pass": ok,
    }
    if args.json:
        print(json.dumps(row))
        return 0 if ok else 1
    print(f"FID on {args.n} x {args.dim} features per set (statistics: {t_stats:.2f} s, shared)")
    print(f"{'route':<34} {'FID':>18} {'time (s)':>10}")
    print(f"{'ganflow: eigh(S1), eigvalsh(...)':<34} {ours:>18.10f} {t_ours:>10.3f}")
    print(f"{'scipy.linalg.sqrtm(S1 S2)':<34} {ref:>18.10f} {t_ref:>10.3f}")
    print(
        f"relative difference {rel:.2e} (target <= 1e-6); speed-up {speedup:.1f}x (target >= 4x): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
