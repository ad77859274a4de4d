"""Networks of the K+1-class semi-supervised GAN (Salimans et al. 2016).

Architectures:
  mlp28  the paper's permutation-invariant MNIST model (released code): D is 1000-500-250-
         250-250 with Gaussian noise; G is 500-500 softplus with (virtual) batch norm.
  mlp8   the same model for 8x8 images, their default (scikit-learn digits): with the
         graph labels it generalises better than mlp8s (benchmarks/README.md)
  mlp8s  the same design sized for 64 pixels, D 500-250-250, G 250-250 (half the time)
  conv32 the paper's CIFAR-10 model: D is the 96/192-channel all-conv net with dropout and
         weight norm; G is a 4x4x512 -> 32x32 transposed-conv net.
  conv28 a small conv net for 28x28 images (Fashion-MNIST, MNIST).
  conv28s a narrow strided conv D (32-64-128 channels) with mlp28's generator: a conv net
         at about twice mlp28's cost on a CPU.
  conv8  a small conv net for 8x8 images (scikit-learn digits).
  conv   conv32 at any side: stride-2 stages of the same design down to an 8x8 map (conv32
         is this net at 32 pixels).
  convs  a narrow strided conv D (32 channels at the side, doubling to 256) and a DCGAN-style
         G, at any side: the default on a CPU for sides below 16 (other than 8).
  scat   a hybrid D (Oyallon et al. 2017): fixed log-scattering maps of the image (J=2, L=8;
         colour: the luminance scattered, the colour averaged; sides above 32 resized to 32)
         standardised per channel, then conv3x3 w, conv3x3 w, conv3x3 stride 2 to 2w,
         conv3x3 2w, conv1x1 2w and global pooling (w = 128); convs's G. The scattering's
         stability to small shifts and deformations is the prior a CNN learns only from many
         labels: trained on the same labels it generalises better (benchmarks/README.md).
         The default on a CPU from 16 pixels up (other than 28); without graph labels
         (graph_weight 0), which it learns past.

Discriminators return (class logits (N, K), features (N, F)): the features are the last
hidden layer, the one feature matching uses. Generators map z (N, z_dim) to images in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ganflow.models import stages
from ganflow.models.layers import (
    GaussianNoise,
    MinibatchDiscrimination,
    Reshape,
    Standardise,
    VBNSequential,
    VirtualBatchNorm,
    maybe_weight_norm,
)
from ganflow.models.scattering import ScatteringMaps
from ganflow.models.ssgan.config import (
    ARCH_IMAGE_SIZE,
    ARCHS,
    SCAT_SMALLEST,
    SIDE_ARCHS,
    SSGANConfig,
)

# hidden widths of the MLP discriminators (the last is the feature layer) and generators
MLP_D_WIDTHS = {"mlp28": (1000, 500, 250, 250, 250), "mlp8": (1000, 500, 250, 250, 250),
                "mlp8s": (500, 250, 250)}  # fmt: skip
MLP_G_WIDTH = {"mlp28": 500, "mlp8": 500, "mlp8s": 250, "conv28s": 500}  # conv28s: mlp28's G


class Discriminator(nn.Module):
    """body -> features f (N, F) -> [minibatch discrimination] -> [Gaussian noise, training
    only] -> linear head -> K logits.
    The logit of the fake class is fixed at 0 and never materialised (see losses.py)."""

    def __init__(
        self,
        body: nn.Module,
        feature_dim: int,
        num_classes: int,
        mbd: MinibatchDiscrimination | None,
        wn: bool,
        head_noise: float = 0.0,
    ) -> None:
        super().__init__()
        self.body, self.mbd = body, mbd
        head_in = mbd.out_features if mbd is not None else feature_dim
        self.noise = GaussianNoise(head_noise) if head_noise > 0 else None
        self.head = maybe_weight_norm(nn.Linear(head_in, num_classes), wn)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)  # (N, F)
        h = self.mbd(f) if self.mbd is not None else f
        if self.noise is not None:  # training only; f, which feature matching reads, is clean
            h = self.noise(h)
        return self.head(h), f


def _regularisers(noise: float, dropout: float) -> list[nn.Module]:
    """Dropout then Gaussian noise, each only when switched on."""
    out: list[nn.Module] = []
    if dropout > 0:
        out.append(nn.Dropout(dropout))
    if noise > 0:
        out.append(GaussianNoise(noise))
    return out


def _conv(cin: int, cout: int, k: int, s: int, p: int, wn: bool) -> list[nn.Module]:
    return [maybe_weight_norm(nn.Conv2d(cin, cout, k, s, p), wn), nn.LeakyReLU(0.2)]


def discriminator_body(
    arch: str, channels: int, cfg: SSGANConfig, size: int = 0
) -> tuple[nn.Module, int]:
    """Build the feature extractor of D for images of side `size` (the fixed-size archs know
    theirs); returns (module, feature width)."""
    wn, hn, dr = cfg.weight_norm, cfg.hidden_noise, cfg.dropout
    reg = _regularisers(cfg.input_noise, cfg.input_dropout)
    if arch.startswith("mlp"):
        size = ARCH_IMAGE_SIZE[arch]
        widths = [channels * size * size, *MLP_D_WIDTHS[arch]]
        layers: list[nn.Module] = [nn.Flatten(), *reg]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers += [maybe_weight_norm(nn.Linear(a, b), wn), nn.ReLU()]
            if i < len(widths) - 2:  # the last hidden layer is the feature layer: no noise on it
                layers += _regularisers(hn, dr)
        return nn.Sequential(*layers), widths[-1]
    if arch == "conv8":
        layers = [*reg, *_conv(channels, 32, 3, 1, 1, wn), *_conv(32, 64, 3, 2, 1, wn)]  # 4x4
        layers += [*_regularisers(hn, dr), *_conv(64, 128, 3, 2, 1, wn)]  # 2x2
        layers += [*_regularisers(hn, dr), *_conv(128, 128, 2, 1, 0, wn), nn.Flatten()]
        return nn.Sequential(*layers), 128
    if arch == "conv28s":  # a narrow, strided conv net: about twice mlp28's cost
        layers = [*reg, *_conv(channels, 32, 5, 2, 2, wn), *_regularisers(hn, dr)]  # 14x14
        layers += [*_conv(32, 64, 3, 2, 1, wn), *_regularisers(hn, dr)]  # 7x7
        layers += [*_conv(64, 128, 3, 1, 0, wn), nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # 5x5
        return nn.Sequential(*layers), 128
    if arch == "conv28":
        layers = [*reg, *_conv(channels, 32, 3, 1, 1, wn), *_conv(32, 64, 4, 2, 1, wn)]  # 14x14
        layers += [*_regularisers(hn, dr), *_conv(64, 64, 3, 1, 1, wn)]
        layers += [*_conv(64, 128, 4, 2, 1, wn), *_regularisers(hn, dr)]  # 7x7
        layers += [*_conv(128, 128, 3, 1, 0, wn), *_conv(128, 128, 1, 1, 0, wn)]  # 5x5
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        return nn.Sequential(*layers), 128
    if arch == "conv32":  # the paper's CIFAR-10 discriminator: conv at its own side
        return _side_body("conv", channels, 32, cfg)
    if arch in SIDE_ARCHS:
        return _side_body(arch, channels, size, cfg)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")


def _side_body(arch: str, channels: int, size: int, cfg: SSGANConfig) -> tuple[nn.Module, int]:
    """D's body for the archs that follow the side (models/stages.py):
    conv   each stage conv3x3, conv3x3, conv3x3 stride 2 (96 channels, then 192) down to an
           8x8 map, then conv3x3 valid, 1x1, 1x1 and global pooling: the paper's CIFAR-10 net
           (conv32) at any side;
    convs  each stage one conv3x3 stride 2 (32 channels at the side, doubling to 256) down to
           a 4-7 pixel map, then a conv3x3 and global pooling."""
    wn, hn, dr = cfg.weight_norm, cfg.hidden_noise, cfg.dropout
    layers: list[nn.Module] = list(_regularisers(cfg.input_noise, cfg.input_dropout))
    c_in = channels
    if arch == "conv":
        p = stages.plan(size, 96, 192, f"architecture {arch}", smallest=8)
        for c in p.widths:
            layers += [*_conv(c_in, c, 3, 1, 1, wn), *_conv(c, c, 3, 1, 1, wn)]
            layers += [*_conv(c, c, 3, 2, 1, wn), *_regularisers(hn, dr)]
            c_in = c
        layers += [*_conv(c_in, c_in, 3, 1, 0, wn), *_conv(c_in, c_in, 1, 1, 0, wn)]
        layers += [*_conv(c_in, c_in, 1, 1, 0, wn), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        return nn.Sequential(*layers), c_in
    if arch == "scat":
        return _hybrid_body(channels, size, cfg)
    p = stages.plan(size, 32, 256, f"architecture {arch}")
    for c in p.widths:
        layers += [*_conv(c_in, c, 3, 2, 1, wn), *_regularisers(hn, dr)]
        c_in = c
    layers += [*_conv(c_in, c_in, 3, 1, 1, wn), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), c_in


SCAT_WIDTH = 128  # w of the scat arch's conv net: w, w, then 2w channels


def _hybrid_body(channels: int, size: int, cfg: SSGANConfig) -> tuple[nn.Module, int]:
    """scat's body: scattering maps -> standardised -> the small conv net (see the module)."""
    if size < SCAT_SMALLEST:
        raise ValueError(
            f"architecture scat takes sides of {SCAT_SMALLEST} pixels or more, got {size}"
        )
    wn, hn, dr, w = cfg.weight_norm, cfg.hidden_noise, cfg.dropout, SCAT_WIDTH
    maps = ScatteringMaps(channels, size)
    layers: list[nn.Module] = [maps, Standardise(maps.out_channels)]
    layers += _regularisers(cfg.input_noise, cfg.input_dropout)
    layers += [*_conv(maps.out_channels, w, 3, 1, 1, wn), *_conv(w, w, 3, 1, 1, wn)]
    layers += [*_conv(w, 2 * w, 3, 2, 1, wn), *_regularisers(hn, dr)]
    layers += [*_conv(2 * w, 2 * w, 3, 1, 1, wn), *_conv(2 * w, 2 * w, 1, 1, 0, wn)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), 2 * w


def build_discriminator(
    arch: str, channels: int, num_classes: int, cfg: SSGANConfig, size: int = 0
) -> Discriminator:
    body, fdim = discriminator_body(arch, channels, cfg, size)
    mbd = (
        MinibatchDiscrimination(fdim, cfg.mbd_kernels, cfg.mbd_kernel_dim)
        if cfg.minibatch_discrimination
        else None
    )
    return Discriminator(body, fdim, num_classes, mbd, cfg.weight_norm, cfg.head_noise)


def _generator_layers(
    arch: str, channels: int, z_dim: int, norm: Callable[[int, bool], nn.Module], size: int = 0
) -> list[nn.Module]:
    """norm(width, spatial) builds the normalisation layer (VBN or batch norm)."""
    if arch in MLP_G_WIDTH:  # the MLP generators
        size, w = ARCH_IMAGE_SIZE[arch], MLP_G_WIDTH[arch]
        return [
            nn.Linear(z_dim, w),
            norm(w, False),
            nn.Softplus(),
            nn.Linear(w, w),
            norm(w, False),
            nn.Softplus(),
            maybe_weight_norm(nn.Linear(w, channels * size * size), True),
            nn.Sigmoid(),
            Reshape(channels, size, size),
        ]
    if arch in ("conv8", "conv28"):  # s/4 x s/4 -> s/2 x s/2 -> s x s
        s = ARCH_IMAGE_SIZE[arch] // 4
        return [
            nn.Linear(z_dim, 128 * s * s),
            Reshape(128, s, s),
            norm(128, True),
            nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1),
            norm(64, True),
            nn.ReLU(),
            maybe_weight_norm(nn.ConvTranspose2d(64, channels, 4, 2, 1), True),
            nn.Sigmoid(),
        ]
    if arch == "conv32":  # the paper's CIFAR-10 generator: conv at its own side
        return _side_generator("conv", channels, z_dim, 32, norm)
    if arch in SIDE_ARCHS:
        return _side_generator(arch, channels, z_dim, size, norm)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")


def _side_generator(
    arch: str, channels: int, z_dim: int, size: int, norm: Callable[[int, bool], nn.Module]
) -> list[nn.Module]:
    """G for the archs that follow the side: z -> linear -> the first map of the stage plan ->
    stride-2 transposed convs -> sigmoid. conv: the paper's CIFAR-10 G (512 channels at 4x4,
    halving, 5x5 kernels); convs: DCGAN's 4x4 kernels, 256 channels halving to 32."""
    arch = "convs" if arch == "scat" else arch  # scat's G is convs's
    k, pad, out_pad = (5, 2, 1) if arch == "conv" else (4, 1, 0)
    p = stages.plan(size, 128, 512) if arch == "conv" else stages.plan(size, 32, 256)
    c0 = p.widths[-1]
    layers: list[nn.Module] = [
        nn.Linear(z_dim, c0 * p.first * p.first),
        Reshape(c0, p.first, p.first),
        norm(c0, True),
        nn.ReLU(),
    ]
    for c_in, c_out in p.up():
        layers += [nn.ConvTranspose2d(c_in, c_out, k, 2, pad, output_padding=out_pad)]
        layers += [norm(c_out, True), nn.ReLU()]
    last = nn.ConvTranspose2d(p.widths[0], channels, k, 2, pad, output_padding=out_pad)
    return [*layers, maybe_weight_norm(last, True), nn.Sigmoid()]


def sample_z(
    n: int, z_dim: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
) -> torch.Tensor:
    """z ~ U(0, 1)^z_dim, as in the released code. (N, z_dim)"""
    return torch.rand(n, z_dim, device=device, generator=generator)


def build_generator(
    arch: str, channels: int, cfg: SSGANConfig, seed: int, size: int = 0
) -> nn.Module:
    """A generator with virtual batch norm (reference z drawn once from `seed` and stored as a
    buffer) or with ordinary batch norm."""
    if cfg.virtual_batch_norm:
        layers = _generator_layers(
            arch, channels, cfg.z_dim, lambda w, _s: VirtualBatchNorm(w), size
        )
        z_ref = sample_z(
            cfg.vbn_reference_size, cfg.z_dim, generator=torch.Generator().manual_seed(seed + 7919)
        )
        return VBNSequential(layers, z_ref)
    layers = _generator_layers(
        arch,
        channels,
        cfg.z_dim,
        lambda w, s: nn.BatchNorm2d(w) if s else nn.BatchNorm1d(w),
        size,
    )
    return nn.Sequential(*layers)


def build_models(
    cfg: SSGANConfig, channels: int, num_classes: int, seed: int, size: int = 0
) -> dict[str, nn.Module]:
    """{'D': discriminator/classifier, 'G': generator} for a resolved config; `size`, the
    image side, is needed by the archs that follow it (conv, convs)."""
    return {
        "D": build_discriminator(cfg.arch, channels, num_classes, cfg, size),
        "G": build_generator(cfg.arch, channels, cfg, seed, size),
    }
