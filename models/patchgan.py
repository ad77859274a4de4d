"""The PatchGAN discriminator of pix2pix and CycleGAN (Isola et al. 2017, section 3.2.2 and
appendix 6.1.2): a fully convolutional net that scores every N x N patch of its input as
real or fake, so the loss looks at local structure and L1 (or the cycle) takes care of the
low frequencies.

    C64 - C128 - ... (stride-2 4x4 convs, LeakyReLU 0.2, no norm on the first)
    then one stride-1 4x4 conv and a stride-1 4x4 conv to 1 channel: a map of patch logits

With `layers` stride-2 convs the receptive field is 16, 34, 70, 142 pixels for 1, 2, 3, 4
layers (r(n) = 2 r(n-1) + 2): the paper's 70x70 at 256x256 is 3 layers.
"""

from __future__ import annotations

from torch import nn

from ganflow.models.config import ConfigError

# the paper's 70x70 patch on 256x256 images, as a share of the image side
PATCH_SHARE = 70 / 256


def receptive_field(layers: int) -> int:
    """Side in pixels of the patch one output logit sees, for `layers` stride-2 convs."""
    r = 16
    for _ in range(layers - 1):
        r = 2 * r + 2
    return r


def patch_layers(image_size: int) -> int:
    """The number of stride-2 layers whose patch is nearest the paper's share of the side
    (256 -> 3 layers, 70 px; 128 -> 2, 34 px; 64 and below -> 1, 16 px)."""
    target = PATCH_SHARE * image_size
    fits = [n for n in range(1, 6) if image_size // 2**n >= 1]
    return min(fits, key=lambda n: (abs(receptive_field(n) - target), n))


def resolve_patch(layers: int | None, image_size: int) -> tuple[int, int]:
    """(stride-2 layers, patch side) of a PatchGAN on image_size: the given layers, or those
    nearest the paper's share; refused when the map would shrink below 2x2."""
    layers = layers if layers is not None else patch_layers(image_size)
    if image_size // 2**layers < 2:
        raise ConfigError(f"patch_layers {layers} is too many for {image_size}x{image_size}")
    return layers, receptive_field(layers)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """batch (pix2pix) | instance (CycleGAN, affine-free as in the reference code)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    raise ValueError(f"norm must be batch or instance, got {kind!r}")


class PatchDiscriminator(nn.Module):
    """(N, in_channels, H, W) -> patch logits (N, 1, H', W')."""

    def __init__(self, in_channels: int, ndf: int, layers: int, norm: str) -> None:
        super().__init__()
        mods: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        ch = ndf
        for i in range(1, layers + 1):  # layers - 1 more stride-2 convs, then one stride-1
            out = ndf * min(2**i, 8)
            stride = 2 if i < layers else 1
            mods += [
                nn.Conv2d(ch, out, 4, stride, 1, bias=False),
                norm_layer(norm, out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch = out
        mods.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)
