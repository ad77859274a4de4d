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


def test_grey_is_the_luminance_and_an_unchanged_image_has_ssim_one_to_its_input():
    from ganflow.tasks.evaluate.translation import grey, ssim

    x = torch.zeros(1, 3, 12, 12, dtype=torch.uint8)
    x[:, 0] = 255  # pure red: luminance 0.299
    torch.testing.assert_close(grey(x), torch.full((1, 1, 12, 12), 0.299, dtype=torch.float64))
    img = torch.randint(0, 256, (2, 3, 12, 12), dtype=torch.uint8)
    assert ssim(grey(img), grey(img)) == pytest.approx(1.0)
    assert ssim(grey(img), grey(255 - img)) < 0.5


class _MeanColour:
    """A stand-in feature extractor: each image's mean colour."""

    name = "mean colour"

    def features(self, x, keep=False):
        return x.double().mean((2, 3)).numpy()


def test_domain_judge_reads_which_domain_an_image_looks_like():
    from ganflow.tasks.data.translation import TranslationData
    from ganflow.tasks.evaluate.translation import domain_judge, unpaired_scores

    g = torch.Generator().manual_seed(0)
    dark = lambda n: torch.randint(0, 80, (n, 3, 8, 8), generator=g, dtype=torch.uint8)  # noqa: E731
    bright = lambda n: torch.randint(170, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)  # noqa: E731
    data = TranslationData("t", False, dark(30).numpy(), bright(30).numpy(),
                           dark(10).numpy(), bright(10).numpy())  # fmt: skip
    judge = domain_judge(data, _MeanColour(), torch.from_numpy(data.test_a),
                         torch.from_numpy(data.test_b))  # fmt: skip
    assert judge.info["test_accuracy"] == 1.0 and judge.info["trained_on"] == [30, 30]
    assert judge.target_rate(bright(5)) == 1.0 and judge.target_rate(dark(5)) == 0.0
    a = dark(6)
    half = torch.cat([bright(3), dark(3)])  # three translated, three left as they were
    scores = unpaired_scores(half, None, a, bright(6), None, None, None, judge)
    assert scores["target_domain_rate"] == 0.5 and scores["ssim_to_input"] < 1
