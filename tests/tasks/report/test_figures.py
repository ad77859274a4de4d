"""The report's image grids."""

import pytest
import torch

from ganflow.tasks.report.figures import _tile, image_grid


@pytest.mark.parametrize("n,c,nrow", [(10, 1, 4), (7, 3, 3), (5, 3, 10)])
def test_image_tiles_are_torchvisions_make_grid_layout(n, c, nrow):
    from torchvision.utils import make_grid

    x = torch.rand(n, c, 6, 5)
    assert torch.equal(_tile(x, nrow, 2, 1.0), make_grid(x, nrow=nrow, padding=2, pad_value=1.0))


def test_small_images_are_upscaled_and_uint8_is_read_as_0_255():
    g = image_grid(torch.full((4, 1, 8, 8), 255, dtype=torch.uint8), nrow=2)
    assert g.shape == (2 * 34 + 2, 2 * 34 + 2, 3) and g.dtype.name == "uint8" and g.min() == 255
