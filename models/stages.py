"""The stage plan every convolutional image family is built from: a stack of stride-2 stages
between a small first map and the image side, with channel widths that double from a base
up to a cap, so a new image side is not a new table of layers.

    side 28  -> maps 7, 14, 28          (2 stages)
    side 32  -> maps 4, 8, 16, 32       (3 stages)
    side 48  -> maps 6, 12, 24, 48      (3 stages)
    side 64  -> maps 4, 8, ..., 64      (4 stages)
    side 256 -> maps 4, 8, ..., 256     (6 stages)

The first map is the side halved while the half is a whole number of at least 4 pixels.
Widths count from the image side: the stage that works at the side (a discriminator's
first, a generator's last) has `base` channels, each smaller map twice as many, up to `cap`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

# the sides the convolutional families take: any multiple of 4 in this range, and 28
MIN_SIDE, MAX_SIDE = 8, 256


class SideError(ValueError):
    """An image side a network cannot be built for; the message names the sides it takes."""


@dataclass(frozen=True)
class StagePlan:
    side: int  # the image side S
    first: int  # the smallest map s0 = S / 2^n
    widths: tuple[int, ...]  # channels at maps S/2, S/4, ..., s0 (n entries, image side first)

    @property
    def stages(self) -> int:
        """n, the number of stride-2 stages between s0 and S."""
        return len(self.widths)

    @property
    def maps(self) -> tuple[int, ...]:
        """The map sides after each stride-2 stage of a discriminator: S/2, ..., s0."""
        return tuple(self.side >> (i + 1) for i in range(self.stages))

    def down(self) -> list[tuple[int, int]]:
        """(c_in, c_out) of each stride-2 stage of a discriminator, from the image side down;
        c_in of the first is 0: the caller puts the image channels there."""
        return list(zip((0, *self.widths[:-1]), self.widths, strict=True))

    def up(self) -> list[tuple[int, int]]:
        """(c_in, c_out) of each stride-2 stage of a generator from s0 up to S/2 (n - 1
        stages); the last stage to the side S maps widths[0] to the image channels."""
        rev = self.widths[::-1]
        return list(zip(rev[:-1], rev[1:], strict=True))


def first_map(side: int, smallest: int = 4) -> int:
    """s0: side halved while the half is a whole number of at least `smallest` pixels."""
    s = side
    while s % 2 == 0 and s // 2 >= smallest:
        s //= 2
    return s


def check_side(side: int, family: str, sizes: str | None = None) -> None:
    """Refuse a side the convolutional stage plan cannot take, naming the sides it takes."""
    taken = sizes or f"28, or a multiple of 4 from {MIN_SIDE} to {MAX_SIDE}"
    if side == 28 or (MIN_SIDE <= side <= MAX_SIDE and side % 4 == 0):
        return
    raise SideError(f"{family} takes images of side {taken}; got {side} (resize with --image-size)")


def plan(
    side: int,
    base: int,
    cap: int,
    family: str = "this network",
    deepest: int = 0,
    smallest: int = 4,
) -> StagePlan:
    """The stage plan of a network for square images of `side` pixels. With `deepest`, the
    base doubles until the smallest map has at least that many channels (a side of few
    stages still ends as wide as DCGAN's 32-pixel net). smallest: the least side of the first
    map (the paper's CIFAR-10 D stops at 8)."""
    check_side(side, family)
    s0 = first_map(side, smallest)
    n = (side // s0).bit_length() - 1
    while base * 2 ** (n - 1) < min(deepest, cap):
        base *= 2
    widths = tuple(min(base * 2**i, max(cap, base)) for i in range(n))
    return StagePlan(side=side, first=s0, widths=widths)


def down_convs(p: StagePlan, channels: int, slope: float) -> list[nn.Module]:
    """DCGAN-style stride-2 stages down the plan, from `channels` image channels: a 4x4 conv,
    batch norm after the first, LeakyReLU(slope). (N, C, S, S) -> (N, widths[-1], s0, s0)"""
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(p.down()):
        layers.append(nn.Conv2d(c_in or channels, c_out, 4, 2, 1))
        layers += [nn.BatchNorm2d(c_out)] if i > 0 else []
        layers.append(nn.LeakyReLU(slope))
    return layers


def up_convs(p: StagePlan) -> list[nn.Module]:
    """DCGAN-style stride-2 stages up the plan from s0 to S/2: a 4x4 transposed conv, batch
    norm, ReLU; the caller adds the last stage to the image. (N, widths[-1], s0, s0) ->
    (N, widths[0], S/2, S/2)"""
    layers: list[nn.Module] = []
    for c_in, c_out in p.up():
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
    return layers
