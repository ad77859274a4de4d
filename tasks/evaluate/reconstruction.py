"""Reconstruction and translation metrics on images in [0, 1]: L1, PSNR, SSIM.

Inputs are (N, C, H, W) tensors or arrays, uint8 (divided by 255) or float in [0, 1].
Every metric is a mean over images of a per-image value, computed in float64.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

L1 = "l1"
PSNR = "psnr"
SSIM = "ssim"


def _unit(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 4:
        raise ValueError(f"expected images shaped (N, C, H, W), got {tuple(t.shape)}")
    return t.double() / 255.0 if t.dtype == torch.uint8 else t.double()


def _pair(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _unit(a), _unit(b)
    if x.shape != y.shape:
        raise ValueError(f"image batches differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    return x, y


def l1(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Mean absolute difference per pixel."""
    x, y = _pair(a, b)
    return float((x - y).abs().mean())


def psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Mean over images of 10 log10(1 / MSE) (data range 1); inf when every pair is equal."""
    x, y = _pair(a, b)
    mse = ((x - y) ** 2).flatten(1).mean(dim=1)
    with np.errstate(divide="ignore"):
        per_image = 10.0 * np.log10(1.0 / mse.numpy())
    return float(per_image.mean())


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    g = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(g**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]  # (size, size)


def ssim_window(size: int) -> int:
    """The standard 11x11 window, shrunk (odd) for images smaller than 11 pixels."""
    w = min(11, size)
    return w if w % 2 else w - 1


def ssim(
    a: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean SSIM (Wang et al. 2004): Gaussian window (11x11, sigma 1.5), per channel, over
    the valid part of the image (no padding), data range 1."""
    x, y = _pair(a, b)
    c = x.shape[1]
    size = ssim_window(min(x.shape[-2:]))
    w = _gaussian_window(size, sigma)[None, None].repeat(c, 1, 1, 1)  # (C, 1, s, s)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = k1**2, k2**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.flatten(1).mean(dim=1).mean())


def reconstruction_metrics(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor
) -> dict[str, float]:
    return {L1: l1(a, b), PSNR: psnr(a, b), SSIM: ssim(a, b)}
