"""The Laplacian pyramid of Denton et al. 2015, section 3.1, with d = 2x2 average pooling and
u = nearest-neighbour upsampling:
    I_0 = I,  I_{k+1} = d(I_k),  h_k = I_k - u(I_{k+1})  (k < K),  h_K = I_K
and its inverse, I_k = u(I_{k+1}) + h_k, exact by construction (d and u: models/images.py)."""

from __future__ import annotations

import torch

from ganflow.models.images import down, up


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[h_0 (finest residual), ..., h_{levels-2}, I_{levels-1} (the coarse image)]; the side
    must halve levels - 1 times."""
    if x.shape[-1] % 2 ** (levels - 1):
        raise ValueError(f"a side of {x.shape[-1]} cannot be halved {levels - 1} times")
    out, cur = [], x
    for _ in range(levels - 1):
        low = down(cur)
        out.append(cur - up(low))
        cur = low
    return [*out, cur]


def reconstruct(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """The image of a pyramid: I_k = u(I_{k+1}) + h_k from the coarsest level up."""
    cur = pyramid[-1]
    for h in reversed(pyramid[:-1]):
        cur = up(cur) + h
    return cur
