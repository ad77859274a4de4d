"""Export benchmark: images/s and peak memory of exporting 2,000 and 20,000 28x28 images from a
conditional DCGAN (Fashion-MNIST shapes). Each size runs in a fresh process, and its resident
memory is sampled every 5 ms during the export; the generator is trained for a few steps only, since
speed and memory do not depend on sample quality.

    python benchmarks/export_benchmark.py                  # 2,000 and 20,000
    python benchmarks/export_benchmark.py --sizes 2000,20000,50000 --arrays

Target (issue 6): peak memory grows by less than 20 % from 2,000 to 20,000 images.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_checkpoint(out: Path) -> str:
    """A projection-conditioned DCGAN on random 28x28 images with 10 classes (20 steps)."""
    import torch

    from ganflow.flows.gan import make_config
    from ganflow.tasks.data.streams import GANData
    from ganflow.tasks.train.gan import train_gan
    from ganflow.tasks.train.trainer import RunConfig

    g = torch.Generator().manual_seed(0)
    data = GANData(
        "random28",
        (1, 28, 28),
        1000,
        {"id": "random28"},
        [f"class{i}" for i in range(10)],
        torch.randint(0, 256, (1000, 1, 28, 28), generator=g, dtype=torch.uint8),
        torch.arange(1000) % 10,
    )
    cfg = make_config("random28", {"arch": "dcgan", "condition": "projection", "width": 32})
    return train_gan(data, cfg, RunConfig(seed=0), out, steps=20)["checkpoint"]


def _rss_mib() -> float:
    """Current resident memory of this process (Linux /proc), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def one_size(checkpoint: str, n: int, root: str, arrays: bool) -> dict:
    """Export n images; peak RSS sampled every 5 ms during the export, beside the RSS before."""
    import threading

    from ganflow.tasks.export.layout import ExportOptions
    from ganflow.tasks.export.writer import export_dataset

    before, peak, done = _rss_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.monotonic()
    r = export_dataset(
        checkpoint, f"bench-{n}", ExportOptions(per_class=n // 10, arrays=arrays), root
    )
    wall = time.monotonic() - t0
    done.set()
    t.join()
    return {
        "images": r["count"],
        "wall_s": wall,
        "images_per_s": r["count"] / wall,
        "peak_rss_mib": max(peak[0], before),
        "rss_before_mib": before,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="2000,20000")
    ap.add_argument("--arrays", action="store_true", help="also write arrays.npz")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--_one", nargs=3, help=argparse.SUPPRESS)  # checkpoint n root (child process)
    a = ap.parse_args()
    if a._one:
        print(json.dumps(one_size(a._one[0], int(a._one[1]), a._one[2], a.arrays)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_checkpoint(Path(tmp) / "gan")
        for n in [int(s) for s in a.sizes.split(",")]:
            cmd = [sys.executable, __file__, "--_one", ckpt, str(n), str(Path(tmp) / "ds")]
            out = subprocess.run(
                cmd + (["--arrays"] if a.arrays else []), capture_output=True, text=True, check=True
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    growth = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"] - 1
    if a.json:
        print(json.dumps({"rows": rows, "peak_growth": growth}))
        return
    print(
        f"export of 28x28 grey images, conditional DCGAN, arrays.npz {'on' if a.arrays else 'off'}"
    )
    print(
        f"{'images':>8} {'wall s':>8} {'images/s':>9} {'peak RSS MiB':>13} {'RSS before export MiB':>22}"
    )
    for r in rows:
        cells = (
            r["images"],
            r["wall_s"],
            r["images_per_s"],
            r["peak_rss_mib"],
            r["rss_before_mib"],
        )
        print("{:>8} {:>8.1f} {:>9.0f} {:>13.0f} {:>22.0f}".format(*cells))
    verdict = "target met" if growth < 0.2 else "target NOT met"
    print(
        f"peak memory growth {rows[0]['images']} -> {rows[-1]['images']}: {100 * growth:+.1f} % ({verdict})"
    )


if __name__ == "__main__":
    main()
