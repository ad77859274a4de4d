"""Colour photographs at the sizes they come in: one table, every figure beside its baseline.

    .venv/bin/python benchmarks/photos_benchmark.py --shared ../shared/data [--sections ...]

Sections (all by default; each prints its rows as it ends, and the table comes last):
  load       a folder of --load-images 64x64 JPEGs (hard links to Tiny-ImageNet-10's files,
             so their decoding cost is a photograph's) decoded cold and read back warm
  frontend   the scattering front end's rate on Tiny-ImageNet-10's 5,000 training images at
             64x64 RGB, beside scattering R, G and B at full size (the front end before)
  inception  the FID Inception network on 2 CPU cores: 8 images a pass beside 256
  celeba     CelebA-3k at 64: DCGAN and the ResNet GAN for --gan-minutes each, FID, KID,
             precision and recall in Inception features beside the real-vs-real floor
  cgan       Tiny-ImageNet-10 at 64: the class-conditional ResNet GAN (projection D, BigGAN's
             shared embedding is not used here) for --gan-minutes, FID and CAS beside real data
  ssl-cifar  the K+1 GAN on CIFAR-10-small at 32 with 40 labels per class, beside its
             supervised-only baseline, LabelSpreading and logistic regression (ssl_benchmark)
  ssl-tiny   the same on Tiny-ImageNet-10 at 64 with 50 labels per class

Every training has a CPU budget (--gan-minutes, --ssl-minutes per round); the table says it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

SECTIONS = ("load", "frontend", "inception", "celeba", "cgan", "ssl-cifar", "ssl-tiny")
ROWS: list[dict[str, Any]] = []


def row(section: str, what: str, value: Any, baseline: Any = "", note: str = "") -> None:
    r = {"section": section, "what": what, "value": value, "baseline": baseline, "note": note}
    ROWS.append(r)
    print(f"  {what}: {value}" + (f" (baseline {baseline})" if baseline != "" else ""), flush=True)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table() -> str:
    head = f"{'section':<10} {'figure':<46} {'value':>12} {'baseline':>12}  note"
    lines = [head, "-" * len(head)]
    for r in ROWS:
        lines.append(f"{r['section']:<10} {r['what']:<46} {_fmt(r['value']):>12} "
                     f"{_fmt(r['baseline']):>12}  {r['note']}")  # fmt: skip
    return "\n".join(lines)


# --- sections ----------------------------------------------------------------------------


def section_load(shared: Path, work: Path, n: int) -> None:
    from ganflow.tasks.data.decode import cached_decode
    from ganflow.tasks.data.folders import image_files

    src = image_files(shared / "tiny-imagenet-10")
    folder = work / "load"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = []
    for i in range(n):
        f = folder / f"{i // 1000:03d}" / f"{i}.jpg"
        f.parent.mkdir(exist_ok=True)
        os.link(src[i % len(src)], f)
        files.append(f)
    cache = work / "decoded"
    shutil.rmtree(cache, ignore_errors=True)
    t = time.perf_counter()
    x = cached_decode(files, 64, 3, cache, "load benchmark")
    cold = time.perf_counter() - t
    t = time.perf_counter()
    again = cached_decode(files, 64, 3, cache, "load benchmark")
    warm = time.perf_counter() - t
    assert np.array_equal(x, again)
    row("load", f"{n:,} JPEGs at 64x64, cold (s)", round(cold, 1), 60, "target <= 60 s")
    row("load", f"{n:,} JPEGs at 64x64, warm (s)", round(warm, 2), 5, "target <= 5 s")
    row("load", "cold rate (img/s)", round(n / cold))


def section_frontend(shared: Path) -> None:
    from ganflow.models.scattering import Scattering2D, ScatteringFront
    from ganflow.tasks.data.folders import load_image_folder
    from ganflow.tasks.data.sources import SourceOptions

    root = str(shared / "tiny-imagenet-10")
    raw = load_image_folder(SourceOptions(root=root, image_size=64, channels=3))
    x = torch.from_numpy(raw.train_x)
    front = ScatteringFront((3, 64, 64), 100)
    t = time.perf_counter()
    front._scatter(x)
    scatter = len(x) / (time.perf_counter() - t)
    t = time.perf_counter()
    front.fit(x)
    rate = len(x) / (time.perf_counter() - t)
    # the front end before: R, G and B scattered at 64x64, 1000 images of them (the
    # coefficients alone, without the PCA that made it slower still)
    sc, xs = Scattering2D((64, 64), J=2, L=8), x[:1000].float() / 255
    t = time.perf_counter()
    for i in range(0, len(xs), 64):
        torch.log1p(10 * sc(xs[i : i + 64]))
    old = len(xs) / (time.perf_counter() - t)
    row("frontend", "scattering, 64x64 RGB (img/s)", round(scatter), round(old),
        "target >= 1000; baseline: R, G, B scattered at 64")  # fmt: skip
    row("frontend", "front end fit: scattering + PCA (img/s)", round(rate), "",
        f"{len(x):,} images, 100 whitened components")  # fmt: skip


def section_inception() -> None:
    from ganflow.tasks.evaluate.extractors import inception_extractor

    ext, how = inception_extractor()
    if ext is None:
        row("inception", "FID Inception (img/s)", "n/a", note=how)
        return
    g = torch.Generator().manual_seed(0)
    rates = {}
    for batch in (256, 8):  # new images each time: the extractor keeps its last results
        x = torch.randint(0, 256, (72, 3, 64, 64), dtype=torch.uint8, generator=g)
        ext.cpu_batch = batch
        ext._run(x[:8], batch)  # warm-up (and TorchScript's first-call optimisation)
        t = time.perf_counter()
        ext._run(x[8:], batch)
        rates[batch] = (len(x) - 8) / (time.perf_counter() - t)
    row("inception", "FID Inception, 8 a pass (img/s)", round(rates[8], 1), round(rates[256], 1),
        "target >= 15; baseline: 256 a pass")  # fmt: skip


def _gan(name: str, params: dict[str, Any], work: Path) -> dict[str, Any]:
    from ganflow.flows.gan import GANParams, run_gan

    p = GANParams(run_dir=str(work / name), seeds=[0], **params)
    t = time.perf_counter()
    s = run_gan(p)
    s["seconds"] = time.perf_counter() - t
    return s


# a ResNet GAN a CPU can train: SAGAN's recipe for one D step per G step (Zhang et al. 2019):
# hinge loss, spectral norm in D, Adam(0, 0.9), D at 4e-4 and G at 1e-4 (TTUR). With both at
# 2e-4 its FID on CelebA-3k at 30 CPU minutes was 242.6, with TTUR 137.9 (DCGAN: 180.0)
RESNET_CPU = {"arch": "resnet", "width": 32, "loss": "hinge", "spectral_norm": True,
              "beta1": 0.0, "beta2": 0.9, "lr_d": 4e-4, "lr_g": 1e-4, "batch_size": 32}  # fmt: skip


def section_celeba(shared: Path, work: Path, minutes: float, samples: int) -> None:
    base = {"data": "folder", "data_root": str(shared / "celeba-3k"), "image_size": 64,
            "channels": 3, "epochs": 10_000, "max_minutes": minutes, "num_samples": samples}  # fmt: skip
    for name, model in (("dcgan", {"width": 64}), ("resnet", RESNET_CPU)):
        s = _gan(f"celeba-{name}", {**base, "model": model}, work)
        seed = s["per_seed"][0]
        metrics = json.loads((Path(s["run_dir"]) / "seed0" / "metrics.json").read_text())
        floor = metrics.get("floor", {})
        for key in ("fid", "kid_mean", "precision", "recall"):
            row("celeba", f"{name} {key}", metrics[key], floor.get(key, ""),
                f"{seed['steps']} steps in {minutes:g} min; baseline: real vs real")  # fmt: skip
        row("celeba", f"{name} sample grid", seed["samples_png"])


def section_cgan(shared: Path, work: Path, minutes: float, samples: int) -> None:
    from ganflow.flows.evaluate import run_evaluation
    from ganflow.tasks.evaluate.protocol import EvalParams

    params = {"data": "folder", "data_root": str(shared / "tiny-imagenet-10"), "image_size": 64,
              "channels": 3, "epochs": 10_000, "max_minutes": minutes, "num_samples": samples,
              "model": {**RESNET_CPU, "condition": "projection"}}  # fmt: skip
    s = _gan("tiny-cgan", params, work)
    ev = run_evaluation(EvalParams(checkpoint=s["checkpoints"][0], num_samples=samples,
                                   run_dir=str(work / "tiny-cgan-eval")))  # fmt: skip
    steps = s["per_seed"][0]["steps"]
    note = f"{steps} steps in {minutes:g} min; baseline: real vs real"
    row("cgan", "conditional ResNet GAN fid", ev["fid"], ev["floor"]["fid"], note)
    row("cgan", "CAS accuracy", ev["cas_accuracy"], ev["real_accuracy"],
        "train on samples, test on real; baseline: train on real")  # fmt: skip
    row("cgan", "per-class grid", s["per_seed"][0]["samples_png"])


def section_ssl(name: str, shared: Path, work: Path, minutes: float, seeds: str) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import ssl_benchmark

    data, side, labels = {"ssl-cifar": ("cifar10-small", 32, 40), "ssl-tiny": ("tiny-imagenet-10", 64, 50)}[name]  # fmt: skip
    out = work / name
    argv = ["--data", "folder", "--data-root", str(shared / data), "--image-size", str(side),
            "--channels", "3", "--labels-per-class", str(labels), "--seeds", seeds,
            "--max-minutes", str(minutes), "--out", str(out), "--json"]  # fmt: skip
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = ssl_benchmark.main(argv)
    if code:
        row(name, "K+1 GAN", "failed", note=f"ssl_benchmark exit {code}")
        return
    doc = json.loads(buf.getvalue())
    res = doc
    gan, base = res["gan"], res["baseline"]
    note = f"{labels} labels/class, {minutes:g} min per round, seeds {seeds}"
    row(name, "K+1 GAN test error", f"{gan['test_error_mean']:.4f} ± {gan['test_error_std'] or 0:.4f}",
        note=note)  # fmt: skip
    row(name, "supervised-only baseline", f"{base['test_error_mean']:.4f}")
    for k in ("label_spreading", "logistic_regression"):
        if k in res:
            row(name, k.replace("_", " "), f"{res[k]['test_error_mean']:.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--shared", default="../shared/data", help="the folder holding the data sets")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--load-images", type=int, default=100_000)
    ap.add_argument("--gan-minutes", type=float, default=30.0)
    ap.add_argument("--ssl-minutes", type=float, default=15.0, help="per training round")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--samples", type=int, default=1000, help="generated images scored")
    ap.add_argument("--work", default=None, help="runs and caches (default: a temporary folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(
            f"photos_benchmark: unknown sections {unknown}; choose from {SECTIONS}", file=sys.stderr
        )
        return 2
    shared = Path(args.shared)
    if not shared.is_dir():
        print(f"photos_benchmark: {shared} does not exist (--shared DIR)", file=sys.stderr)
        return 2
    work = Path(args.work or tempfile.mkdtemp(prefix="photos-bench-"))
    print(f"photos benchmark: {torch.get_num_threads()} threads, work in {work}", flush=True)
    for s in sections:
        print(f"[{s}]", flush=True)
        t = time.perf_counter()
        if s == "load":
            section_load(shared, work, args.load_images)
        elif s == "frontend":
            section_frontend(shared)
        elif s == "inception":
            section_inception()
        elif s == "celeba":
            section_celeba(shared, work, args.gan_minutes, args.samples)
        elif s == "cgan":
            section_cgan(shared, work, args.gan_minutes, args.samples)
        else:
            section_ssl(s, shared, work, args.ssl_minutes, args.seeds)
        print(f"[{s}] {time.perf_counter() - t:.0f} s", flush=True)
    print(json.dumps(ROWS, indent=1) if args.json else table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
