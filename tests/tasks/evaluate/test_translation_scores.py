"""The translation scores against hand-computed values."""

import pytest
import torch

from ganflow.tasks.evaluate.translation import l1_error, psnr, ssim


def test_l1_psnr_ssim_by_hand():
    x = torch.full((2, 1, 16, 16), 0.5, dtype=torch.float64)
    y = torch.full((2, 1, 16, 16), 0.25, dtype=torch.float64)
    assert l1_error(x, y) == pytest.approx(0.25)
    assert psnr(x, y) == pytest.approx(10 * torch.log10(torch.tensor(1 / 0.0625)).item())
    # constant images: no variance, so SSIM is the luminance term alone
    c1 = 0.01**2
    assert ssim(x, y) == pytest.approx((2 * 0.5 * 0.25 + c1) / (0.25 + 0.0625 + c1))
    z = torch.rand(3, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    assert ssim(z, z) == pytest.approx(1.0) and psnr(z, z) == pytest.approx(100.0)
    w = torch.rand(3, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    assert abs(ssim(z, w)) < 0.1  # unrelated noise images
    u8 = (z * 255).round().to(torch.uint8)
    assert l1_error(u8, u8) == 0.0 and ssim(u8, u8) == pytest.approx(1.0)
