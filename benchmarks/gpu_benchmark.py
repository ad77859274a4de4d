"""Each image family's training speed at 32, 64 and 128 pixels on the device at hand: images
per second, peak memory and the achieved TFLOP/s beside the card's peak.

    .venv/bin/python benchmarks/gpu_benchmark.py [--sides 32,64,128] [--steps 30] [--compile]

Each family trains with its own objective (the phases the trainer runs) on random uint8
images already on the device, bf16 autocast on CUDA (fp32 elsewhere) and channels-last
inputs; the first steps warm up (cuDNN autotuning, torch.compile) and are not timed. FLOPs
per step are counted once with torch.utils.flop_counter (forward and backward of every
phase). On a CPU it runs too, at small batches, as a check that every family builds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

# dense bf16 tensor-core peaks (TFLOP/s) of the cards this benchmark has met, by name part
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def _images(n: int, side: int, device: torch.device) -> torch.Tensor:
    x = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, device=device)
    return x.contiguous(memory_format=torch.channels_last)


def gan_training(arch: str, side: int, batch: int, device: torch.device) -> Any:
    from ganflow.models.gan.config import GANConfig
    from ganflow.models.gan.nets import build_models
    from ganflow.models.gan.objective import build_training

    extra = {"loss": "hinge", "spectral_norm": True} if arch == "resnet" else {}
    cfg = GANConfig(arch=arch, batch_size=batch, **extra)
    models = {k: m.to(device) for k, m in build_models(cfg, (3, side, side), 0).items()}
    x = _images(4 * batch, side, device)

    def real(step: int) -> torch.Tensor:
        i = torch.randint(0, len(x), (batch,), device=device)
        return x[i].float() / 127.5 - 1

    return models, build_training(models, cfg, real, 10**6, 0)


def ssgan_training(arch: str, side: int, batch: int, device: torch.device) -> Any:
    from ganflow.models.ssgan.config import SSGANConfig, resolve
    from ganflow.models.ssgan.nets import build_models
    from ganflow.models.ssgan.objective import build_training

    cfg = resolve(SSGANConfig(arch=arch, batch_size=batch, labelled_batch_size=batch,
                              graph_weight=0.0), side)  # fmt: skip
    models = {k: m.to(device) for k, m in build_models(cfg, 3, 10, 0, side).items()}
    x = _images(4 * batch, side, device)
    data = {"x_lab": x[:batch], "y_lab": torch.arange(batch, device=device) % 10, "x_unl": x}
    return models, build_training(models, cfg, data, 10**6, 0)


def infogan_training(side: int, batch: int, device: torch.device) -> Any:
    from ganflow.models.infogan.config import InfoGANConfig
    from ganflow.models.infogan.nets import build_models
    from ganflow.models.infogan.objective import build_training

    cfg = InfoGANConfig(batch_size=batch)
    models = {k: m.to(device) for k, m in build_models(cfg, (3, side, side), 0).items()}
    x = _images(4 * batch, side, device)
    return models, build_training(
        models, cfg, lambda step: x[torch.randint(0, len(x), (batch,), device=device)].float() / 127.5 - 1, 0
    )  # fmt: skip


def translation_training(kind: str, side: int, batch: int, device: torch.device) -> Any:
    """pix2pix or CycleGAN at the side, with the paper's networks for it (the U-Net's depth,
    the PatchGAN, 6 or 9 residual blocks), on random pairs."""
    from ganflow.models.image_batches import Jitter, paired_batches, unpaired_batches
    from ganflow.tasks.train.translation import model_config

    cfg = model_config(kind, {"batch_size": batch}, side)
    a, b = _images(4 * batch, side, device), _images(4 * batch, side, device)
    jitter = Jitter(side, False, 0, salt=5)
    if kind == "cyclegan":
        from ganflow.models.cyclegan import nets, objective

        models = {k: m.to(device) for k, m in nets.build_models(cfg, 3, 3, 0).items()}
        batches = unpaired_batches(a, b, batch, 0, jitter)
        return models, objective.build_training(models, cfg, batches, 10**6, 0)
    from ganflow.models.pix2pix import nets, objective

    models = {k: m.to(device) for k, m in nets.build_models(cfg, 3, 3, 0).items()}
    return models, objective.build_training(
        models, cfg, paired_batches(a, b, batch, 0, jitter), 10**6
    )


FAMILIES: dict[str, Callable[..., Any]] = {
    "dcgan": lambda s, b, d: gan_training("dcgan", s, b, d),
    "resnet-gan": lambda s, b, d: gan_training("resnet", s, b, d),
    "k+1 convs": lambda s, b, d: ssgan_training("convs", s, b, d),
    "k+1 conv": lambda s, b, d: ssgan_training("conv", s, b, d),
    "k+1 scat": lambda s, b, d: ssgan_training("scat", s, b, d),
    "infogan": infogan_training,
    "pix2pix": lambda s, b, d: translation_training("pix2pix", s, b, d),
    "cyclegan": lambda s, b, d: translation_training("cyclegan", s, b, d),
}


def measure(name: str, side: int, batch: int, steps: int, device: torch.device,
            compile_: bool) -> dict[str, Any]:  # fmt: skip
    from torch.utils.flop_counter import FlopCounterMode

    from ganflow.models.engine import run_phases
    from ganflow.tasks.train.devices import autocast_for, prepare_device

    prepare_device(device)
    models, training = FAMILIES[name](side, batch, device)
    if compile_:
        for m in models.values():
            m.compile()
    autocast = autocast_for(device, "auto")
    warm = 3
    for step in range(warm):
        run_phases(training.phases, training.next_batch(step), step, autocast)
    with FlopCounterMode(display=False) as counter:
        run_phases(training.phases, training.next_batch(warm), warm, autocast)
    flops = counter.get_total_flops()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter()
    for step in range(warm + 1, warm + 1 + steps):
        run_phases(training.phases, training.next_batch(step), step, autocast)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    tflops = flops * steps / seconds / 1e12
    card = peak_tflops(device)
    return {"family": name, "side": side, "batch": batch, "images_per_s": batch * steps / seconds,
            "peak_gib": peak, "tflops": tflops,
            "share_of_peak": tflops / card if card else None}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sides", default="32,64,128")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=None, help="default: 128 on CUDA, 16 elsewhere")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true", help="torch.compile every network")
    args = ap.parse_args(argv)
    from ganflow.tasks.train.devices import select_device

    device = select_device(args.device)
    batch = args.batch or (128 if device.type == "cuda" else 16)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(f"{where}, batch {batch}, {args.steps} timed steps, compile {args.compile}", flush=True)
    head = f"{'family':<12} {'side':>5} {'img/s':>9} {'peak GiB':>9} {'TFLOP/s':>8} {'of peak':>8}"
    print(head)
    print("-" * len(head))
    for name in args.families.split(","):
        for side in (int(s) for s in args.sides.split(",")):
            try:
                r = measure(name, side, batch, args.steps, device, args.compile)
            except (RuntimeError, ValueError) as e:  # out of memory, a side a net cannot take
                print(f"{name:<12} {side:>5} failed: {str(e).splitlines()[0][:80]}", flush=True)
                continue
            peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-"
            share = f"{100 * r['share_of_peak']:.1f} %" if r["share_of_peak"] else "-"
            print(f"{name:<12} {side:>5} {r['images_per_s']:>9.3g} {peak:>9} "
                  f"{r['tflops']:>8.2f} {share:>8}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
