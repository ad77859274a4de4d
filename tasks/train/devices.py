"""Where training runs and in which precision."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def select_device(preference: str = "auto") -> torch.device:
    """auto: CUDA, then MPS, then the CPU; otherwise the named device, refused with a clear
    error when it is not there."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(preference)
    except RuntimeError as e:
        raise ValueError(
            f"device {preference!r} is not a device name; use auto, cpu, cuda, cuda:N or mps"
        ) from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for but CUDA is not available here; use --device auto or cpu"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {preference!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError("device 'mps' was asked for but MPS is not available here")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {preference!r} is not supported; use auto, cpu, cuda or mps")
    return dev


def autocast_for(
    device: torch.device, precision: str
) -> Callable[[], contextlib.AbstractContextManager] | None:
    """bf16 autocast on CUDA by default (no loss scaling needed for bf16); fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return None
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def prepare_device(device: torch.device) -> None:
    """Fast kernels where they change nothing a user would notice (cuDNN autotuning, TF32)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
