"""Step-pure batches of image pairs (pix2pix) and of two unpaired domains (CycleGAN), with
pix2pix's jitter (section 6.2: resize to a load size, random crop back to the image side,
random horizontal flip), the same crop and flip for both sides of a pair.

Images are stored as uint8 (N, C, L, L) at the load size L; batch t is a pure function of
(seed, t), so a resumed run draws exactly the batches an unbroken run draws.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ganflow.models.engine import Batch, IndexStream
from ganflow.models.images import to_uint8


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range of the tanh generators."""
    return x.float().div(127.5).sub(1.0)


class Jitter:
    """Random crop of side `size` out of the stored side, and a horizontal flip with
    probability 1/2 when `flip`; the draws of step t come from (seed, t, salt)."""

    def __init__(self, size: int, flip: bool, seed: int, salt: int) -> None:
        self.size, self.flip, self.seed, self.salt = size, flip, seed, salt

    def draws(self, step: int, n: int, stored: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 17 + self.salt)
        offsets = torch.randint(0, stored - self.size + 1, (n, 2), generator=g)
        flips = torch.rand(n, generator=g) < 0.5
        return offsets, flips & self.flip

    def apply(self, xs: list[torch.Tensor], step: int) -> list[torch.Tensor]:
        """The same crop and flip to each tensor of xs (all (N, C, L, L), one per side)."""
        n, stored = xs[0].shape[0], xs[0].shape[-1]
        if stored == self.size and not self.flip:
            return xs
        offsets, flips = self.draws(step, n, stored)
        return [crop_flip(x, offsets, flips, self.size) for x in xs]


def crop_flip(
    x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, size: int
) -> torch.Tensor:
    """Image i of x (N, C, H, W) cropped to size x size at offsets[i] = (top, left) and
    mirrored left-right where flips[i]: one gather for the whole batch. (N, C, size, size)"""
    offsets, flips = offsets.to(x.device), flips.to(x.device)
    r = torch.arange(size, device=x.device)
    rows = offsets[:, 0, None] + r  # (N, size)
    cols = offsets[:, 1, None] + torch.where(flips[:, None], size - 1 - r, r)  # (N, size)
    n = torch.arange(len(x), device=x.device)[:, None, None, None]
    c = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return x[n, c, rows[:, None, :, None], cols[:, None, None, :]]


class Shift:
    """Random translation by up to `shift` pixels each way (zero padding) and, when `flip`,
    a horizontal flip with probability 1/2: the augmentation of the K+1 GAN's real batches.
    The draws of step t come from (seed, t, salt), so batches stay step-pure."""

    def __init__(self, shift: int, flip: bool, seed: int, salt: int) -> None:
        self.shift, self.flip, self.seed, self.salt = shift, flip, seed, salt

    def __call__(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """x (N, C, S, S) -> the same images shifted (and flipped), (N, C, S, S)."""
        s, size = self.shift, x.shape[-1]
        padded = torch.nn.functional.pad(x, (s, s, s, s)) if s > 0 else x
        jitter = Jitter(size, self.flip, self.seed, self.salt)
        offsets, flips = jitter.draws(step, len(x), size + 2 * s)
        return crop_flip(padded, offsets, flips, size)


def paired_batches(
    a: torch.Tensor, b: torch.Tensor, batch_size: int, seed: int, jitter: Jitter
) -> Callable[[int], Batch]:
    """step -> {'a', 'b'}: aligned pairs in [-1, 1], (N, C, S, S) each."""
    stream = IndexStream(len(a), batch_size, seed * 7 + 1)

    def batch(step: int) -> Batch:
        i = stream(step).to(a.device)
        xa, xb = jitter.apply([a[i], b[i]], step)
        return {"a": to_unit(xa), "b": to_unit(xb)}

    return batch


def unpaired_batches(
    a: torch.Tensor, b: torch.Tensor, batch_size: int, seed: int, jitter: Jitter
) -> Callable[[int], Batch]:
    """step -> {'a', 'b'}: independent draws from each domain in [-1, 1]."""
    sa = IndexStream(len(a), batch_size, seed * 7 + 2)
    sb = IndexStream(len(b), batch_size, seed * 7 + 3)
    jitter_b = Jitter(jitter.size, jitter.flip, jitter.seed, jitter.salt + 1)

    def batch(step: int) -> Batch:
        (xa,) = jitter.apply([a[sa(step).to(a.device)]], step)
        (xb,) = jitter_b.apply([b[sb(step).to(b.device)]], step)
        return {"a": to_unit(xa), "b": to_unit(xb)}

    return batch


@torch.no_grad()
def translate_images(G: torch.nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """uint8 (N, C, S, S) through a generator in eval mode -> uint8 (N, C', S, S) on the CPU."""
    device = next(G.parameters()).device
    was = G.training
    G.eval()
    out = [
        to_uint8(G(to_unit(x[i : i + batch_size].to(device))), -1.0)
        for i in range(0, len(x), batch_size)
    ]
    G.train(was)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)
