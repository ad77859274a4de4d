"""Network-changing GAN tricks as layers (Salimans et al. 2016, "Improved Techniques for
Training GANs", arXiv 1606.03498), plus the small regularising layers of its released models.

Every layer here is pure PyTorch and can be switched off from a family's config by not
inserting it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm


class GaussianNoise(nn.Module):
    """Adds N(0, sigma^2) noise in training mode only (the released MNIST discriminator uses
    sigma 0.3 on the input and 0.5 on hidden layers)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.sigma == 0.0:
            return x
        return x + self.sigma * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


def maybe_weight_norm(layer: nn.Module, enabled: bool) -> nn.Module:
    """Weight normalisation w = g v / ||v|| (Salimans & Kingma 2016), as in the paper's
    released discriminators; a no-op when disabled."""
    return weight_norm(layer) if enabled else layer


class Standardise(nn.Module):
    """Per-channel (x - mean) / std with mean and std buffers (saved with the model), set from
    data by weight_norm_data_init; the identity until then."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("std", torch.ones(1, channels, 1, 1))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean((0, 2, 3), keepdim=True))
        self.std.copy_(x.std((0, 2, 3), keepdim=True).add(1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@torch.no_grad()
def weight_norm_data_init(module: nn.Module, x: torch.Tensor) -> None:
    """Data-dependent initialisation of weight normalisation (Salimans & Kingma 2016, section
    3; the released K+1 GAN code's init pass): layer by layer in the order of the forward
    pass, each weight-normalised Conv2d or Linear gets g <- g / std and b <- (b - mean) / std,
    with the mean and std of its outputs on x per output unit, so that its outputs on x have
    zero mean and unit variance (a Standardise layer takes its inputs' per-channel mean and
    std). Without it a deep weight-normalised net with PyTorch's
    default initialisation shrinks its activations several-fold per layer, and a nine-layer
    discriminator starts (and stays) with near-constant outputs. Runs in eval mode (no noise
    or dropout); module's RNG use is left as it was."""

    def normalise(layer: nn.Module, _inputs: tuple, out: torch.Tensor) -> torch.Tensor:
        dims = [0, *range(2, out.dim())]
        mean = out.mean(dims)
        std = out.var(dims, unbiased=False).add(1e-8).sqrt()
        g = layer.parametrizations.weight.original0
        g.div_(std.view(g.shape))
        layer.bias.sub_(mean).div_(std)
        shape = [1, -1] + [1] * (out.dim() - 2)
        return (out - mean.view(shape)) / std.view(shape)

    def standardise(layer: Standardise, inputs: tuple) -> None:
        layer.fit(inputs[0])

    hooks = [m.register_forward_pre_hook(standardise) for m in module.modules()
             if isinstance(m, Standardise)]  # fmt: skip
    hooks += [
        m.register_forward_hook(normalise)
        for m in module.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
        and hasattr(m, "parametrizations")
        and hasattr(m.parametrizations, "weight")
        and hasattr(m.parametrizations.weight, "original0")
        and m.bias is not None
    ]
    was = module.training
    module.eval()
    try:
        module(x)
    finally:
        for h in hooks:
            h.remove()
        module.train(was)


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2).

    For features f(x_i) in R^A and a learned tensor T in R^{A x B x C}:
        M_i = f(x_i) T                                  # (N, B, C)
        c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1)
        o(x_i)_b = sum_{j != i} c_b(x_i, x_j)           # (N, B)
    and the layer returns [f(x_i), o(x_i)] of width A + B. The self term (always exp(0) = 1)
    is left out, as in the released code, so a batch of one gives o = 0.
    """

    def __init__(self, in_features: int, num_kernels: int = 50, kernel_dim: int = 5) -> None:
        super().__init__()
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * 0.05)

    @property
    def out_features(self) -> int:
        return self.in_features + self.num_kernels

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        n = f.shape[0]
        m = (f @ self.T).view(n, self.num_kernels, self.kernel_dim)  # (N, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)  # (N, N, B)
        c = torch.exp(-l1)
        o = c.sum(dim=1) - 1.0  # (N, B): drop the j == i term, exp(0) = 1
        return torch.cat([f, o], dim=1)


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, section 3): (N, C, ...) ->
    (N, C + 1, ...), for feature maps (N, C, H, W) or feature vectors (N, C). The batch is
    split into groups of `group` samples (the largest size up to `group` that divides N;
    sample i belongs to group i % (N / g)); within each group the standard deviation of
    every feature at every position, averaged to one number, becomes one more constant
    channel of each member. A collapsed generator's batch then shows D a near-zero channel
    that real batches never do."""

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, rest = x.shape[0], x.shape[2:]
        g = next(d for d in range(min(self.group, n), 0, -1) if n % d == 0)
        y = x.reshape(g, n // g, *x.shape[1:]).float()
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().flatten(1).mean(1)  # (N / g,)
        s = std.to(x.dtype).repeat(g).view(n, 1, *(1 for _ in rest)).expand(n, 1, *rest)
        return torch.cat([x, s], dim=1)


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalisation (Salimans et al. 2016, section 3.5).

    Each example x is normalised with the statistics of a reference batch, fixed once at the
    start of training, together with x itself:
        mean  = w * mean(x)   + (1 - w) * mean(ref),      w = 1 / (|ref| + 1)
        mean2 = w * mean(x^2) + (1 - w) * mean(ref^2)
        y = gamma * (x - mean) / sqrt(mean2 - mean^2 + eps) + beta
    The reference batch itself is normalised with its own statistics. For (N, C, H, W)
    inputs the statistics are per channel, over the spatial positions. Because the reference
    statistics depend on the layers below, they are recomputed on every forward pass (see
    VBNSequential), which roughly doubles the generator's cost: the price the paper names.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def _shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (1, -1, 1, 1) if x.dim() == 4 else (1, -1)

    def reference_stats(self, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature mean and mean of squares of the reference batch, shaped to broadcast."""
        dims = (0, 2, 3) if ref.dim() == 4 else (0,)
        return ref.mean(dims, keepdim=True), (ref * ref).mean(dims, keepdim=True)

    def _normalise(
        self, x: torch.Tensor, mean: torch.Tensor, mean_sq: torch.Tensor
    ) -> torch.Tensor:
        var = (mean_sq - mean * mean).clamp_min(0.0)
        shape = self._shape(x)
        return (x - mean) / torch.sqrt(var + self.eps) * self.gamma.view(shape) + self.beta.view(
            shape
        )

    def normalise_reference(
        self, ref: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, int]]:
        mean, mean_sq = self.reference_stats(ref)
        return self._normalise(ref, mean, mean_sq), (mean, mean_sq, ref.shape[0])

    def forward(
        self, x: torch.Tensor, ref_stats: tuple[torch.Tensor, torch.Tensor, int]
    ) -> torch.Tensor:
        ref_mean, ref_mean_sq, ref_size = ref_stats
        if x.dim() == 4:
            ex_mean, ex_mean_sq = x.mean((2, 3), keepdim=True), (x * x).mean((2, 3), keepdim=True)
        else:
            ex_mean, ex_mean_sq = x, x * x
        w = 1.0 / (ref_size + 1.0)
        mean = w * ex_mean + (1.0 - w) * ref_mean
        mean_sq = w * ex_mean_sq + (1.0 - w) * ref_mean_sq
        return self._normalise(x, mean, mean_sq)


class VBNSequential(nn.Module):
    """A Sequential that carries a fixed reference input through the stack beside the real
    input, so that every VirtualBatchNorm layer sees the reference statistics of its own
    input. The reference input is a buffer: it is saved in every checkpoint.
    """

    def __init__(self, layers: list[nn.Module], reference: torch.Tensor) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.register_buffer("reference", reference)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = len(self.reference)
        both = torch.cat([self.reference.to(x.dtype), x])  # one pass for the two batches
        for layer in self.layers:
            if isinstance(layer, VirtualBatchNorm):
                h_ref, stats = layer.normalise_reference(both[:r])
                both = torch.cat([h_ref, layer(both[r:], stats)])
            else:
                both = layer(both)
        return both[r:]


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)


def maybe_spectral_norm(layer: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018): W / sigma(W), sigma estimated by one
    power iteration per training forward pass; a no-op when disabled."""
    return spectral_norm(layer) if enabled else layer


class SelfAttention(nn.Module):
    """SAGAN self-attention block (Zhang et al. 2018, section 3), for (N, C, H, W) maps:
        f = W_f x, g = W_g x (C/8 channels), h = W_h x (C channels), all 1x1 convolutions,
        beta = softmax_j(f_j^T g_i)          # (N, HW, HW): how much position i attends to j
        o_i = sum_j beta_ij h_j,   y = gamma * o + x
    gamma starts at 0, so the block begins as the identity and learns how much to use."""

    def __init__(self, channels: int, spectral: bool = False) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        conv = lambda c_out: maybe_spectral_norm(nn.Conv2d(channels, c_out, 1), spectral)  # noqa: E731
        self.f, self.g, self.h = conv(inner), conv(inner), conv(channels)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, hh, ww = x.shape
        f = self.f(x).flatten(2)  # (N, C', HW)
        g = self.g(x).flatten(2)  # (N, C', HW)
        h = self.h(x).flatten(2)  # (N, C, HW)
        beta = torch.softmax(g.transpose(1, 2) @ f, dim=2)  # (N, HW_i, HW_j)
        o = (h @ beta.transpose(1, 2)).view(n, c, hh, ww)  # o_i = sum_j beta_ij h_j
        return x + self.gamma * o


# --- Progressive growing's layers (Karras et al. 2018, section 4) ---------------------------


class EqualizedLinear(nn.Module):
    """Equalised learning rate (Karras et al. 2018, section 4.1): weights drawn from N(0, 1)
    and scaled at run time by He's constant sqrt(2 / fan_in), so Adam's per-parameter
    normalisation gives every layer the same effective learning rate."""

    def __init__(self, n_in: int, n_out: int, gain: float = 2**0.5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.scale = gain / n_in**0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """A k x k convolution (stride 1, same padding) with the equalised learning rate."""

    def __init__(self, c_in: int, c_out: int, k: int, gain: float = 2**0.5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale, self.pad = gain / (c_in * k * k) ** 0.5, k // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


class PixelNorm(nn.Module):
    """Pixelwise feature normalisation in G (section 4.2): each pixel's feature vector scaled
    to unit mean square, b = a / sqrt(mean_c a_c^2 + eps). (N, C, ...) -> (N, C, ...)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)
