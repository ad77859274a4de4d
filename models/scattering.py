"""A 2-D wavelet scattering transform (Bruna & Mallat 2013) in plain torch.

Scattering coefficients are local averages of wavelet-modulus cascades:
  order 0: x * phi
  order 1: |x * psi_{j,l}| * phi
  order 2: ||x * psi_{j1,l1}| * psi_{j2,l2}| * phi,   j2 > j1
with Morlet wavelets psi at J scales and L orientations and a Gaussian low-pass phi of width
2^J, subsampled by 2^J. They are stable to small translations and deformations and need no
training, which makes them a front end for clustering images without labels: nearest
neighbours among scattering coefficients share their class far more often than nearest
neighbours among pixels.

The filters follow the standard Morlet design of Kymatio's Scattering2D (Andreux et al. 2020:
sigma = 0.8 2^j, xi = 3 pi / 4 / 2^j, slant 4 / L); convolutions are done as products in
Fourier on the reflect-padded image at full resolution, then cropped and subsampled.
"""

from __future__ import annotations

import functools
import math
import operator

import torch
import torch.nn.functional as F
from torch import nn


def _gabor(
    m: int, n: int, sigma: float, theta: float, xi: float, slant: float = 1.0
) -> torch.Tensor:
    """A periodised 2-D Gabor filter on an (m, n) grid, in space. complex (m, n)"""
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    curv = rot @ torch.diag(torch.tensor([1.0, slant * slant], dtype=torch.float64)) @ rot.T
    curv = curv / (2 * sigma * sigma)
    out = torch.zeros(m, n, dtype=torch.complex128)
    for ex in range(-2, 3):
        for ey in range(-2, 3):
            xx = torch.arange(ex * m, ex * m + m, dtype=torch.float64)[:, None]
            yy = torch.arange(ey * n, ey * n + n, dtype=torch.float64)[None, :]
            arg = -(
                curv[0, 0] * xx * xx + (curv[0, 1] + curv[1, 0]) * xx * yy + curv[1, 1] * yy * yy
            )
            out += torch.exp(torch.complex(arg, xi * (xx * c + yy * s)))
    return out / (2 * math.pi * sigma * sigma / slant)


def _morlet(m: int, n: int, sigma: float, theta: float, xi: float, slant: float) -> torch.Tensor:
    """Gabor minus a Gaussian envelope, so that the wavelet has zero mean."""
    wave, env = _gabor(m, n, sigma, theta, xi, slant), _gabor(m, n, sigma, theta, 0.0, slant)
    return wave - (wave.sum() / env.sum()) * env


def scattering_channels(J: int, L: int) -> int:
    """Coefficient maps per input channel: order 0, J L of order 1, L^2 J (J - 1) / 2 of 2."""
    return 1 + J * L + L * L * J * (J - 1) // 2


class Scattering2D(nn.Module):
    """(N, C, H, W) float images -> (N, C * (1 + J L + L^2 J (J - 1) / 2), H / 2^J, W / 2^J)
    scattering coefficients. H and W must be divisible by 2^J."""

    def __init__(self, shape: tuple[int, int], J: int = 2, L: int = 8) -> None:
        super().__init__()
        h, w = shape
        if J < 1 or L < 1 or h % 2**J or w % 2**J:
            raise ValueError(
                f"scattering needs J >= 1, L >= 1 and a size divisible by 2^J; got J={J}, L={L}, {h}x{w}"
            )
        self.J, self.L, self.shape = J, L, (h, w)
        # pad to the next multiple of 2^J with at least 2^J on each side (as Kymatio does)
        self.ph, self.pw = (
            (((h + 2**J) // 2**J + 1) * 2**J - h) // 2,
            (((w + 2**J) // 2**J + 1) * 2**J - w) // 2,
        )
        m, n = h + 2 * self.ph, w + 2 * self.pw
        psi = torch.stack(
            [
                torch.fft.fft2(
                    _morlet(
                        m,
                        n,
                        0.8 * 2**j,
                        (L // 2 - 1 - t) * math.pi / L,
                        0.75 * math.pi / 2**j,
                        4.0 / L,
                    )
                ).real
                for j in range(J)
                for t in range(L)
            ]
        ).float()
        phi = torch.fft.fft2(_gabor(m, n, 0.8 * 2 ** (J - 1), 0.0, 0.0)).real.float()
        # filters at each resolution 2^-res the signal is computed at (res < J)
        for res in range(J):
            self.register_buffer(f"phi{res}", _periodize(phi, 2**res), persistent=False)
            self.register_buffer(
                f"psi{res}", _periodize(psi, 2**res), persistent=False
            )  # (J L, m', n')

    @property
    def channels_per_input(self) -> int:
        return scattering_channels(self.J, self.L)

    def _filters(self, kind: str, res: int) -> torch.Tensor:
        return getattr(self, f"{kind}{res}")

    def _lowpass(self, u_hat: torch.Tensor, res: int) -> torch.Tensor:
        """Average a signal at resolution 2^-res with phi, subsample to 2^-J, back to space,
        crop the padding."""
        s = torch.fft.ifft2(_subsample(u_hat * self._filters("phi", res), 2 ** (self.J - res))).real
        top, left = self.ph // 2**self.J, self.pw // 2**self.J
        return s[
            ..., top : top + self.shape[0] // 2**self.J, left : left + self.shape[1] // 2**self.J
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[-2:]) != self.shape:
            raise ValueError(
                f"scattering expects (N, C, {self.shape[0]}, {self.shape[1]}) images, got {tuple(x.shape)}"
            )
        n, c = x.shape[:2]
        J, L = self.J, self.L
        x = F.pad(x.float(), (self.pw, self.pw, self.ph, self.ph), mode="reflect")
        x_hat = torch.fft.fft2(x)[:, :, None]  # (N, C, 1, m, n)
        out = [self._lowpass(x_hat, 0)]
        second: list[list[torch.Tensor]] = [[] for _ in range(J)]  # by j1, then j2
        for j1 in range(J):
            # |x * psi_{j1, l}| for all l, computed at resolution 2^-j1
            u1 = torch.fft.ifft2(
                _subsample(x_hat * self._filters("psi", 0)[j1 * L : (j1 + 1) * L], 2**j1)
            ).abs()
            u1_hat = torch.fft.fft2(u1)  # (N, C, L, m / 2^j1, n / 2^j1)
            out.append(self._lowpass(u1_hat, j1))
            for j2 in range(j1 + 1, J):
                psi2 = self._filters("psi", j1)[j2 * L : (j2 + 1) * L]  # (L, ...)
                u2 = torch.fft.ifft2(_subsample(u1_hat[:, :, :, None] * psi2, 2 ** (j2 - j1))).abs()
                second[j1].append(self._lowpass(torch.fft.fft2(u2), j2))  # (N, C, L1, L2, ...)
        # order 0, then order 1 by (j1, l1), then order 2 by (j1, l1, j2, l2), as Kymatio orders them
        out2 = [s[:, :, l1] for j1 in range(J) for l1 in range(L) for s in second[j1]]
        coeffs = torch.cat(out + out2, dim=2)
        return coeffs.reshape(n, c * self.channels_per_input, *coeffs.shape[-2:])


def _subsample(x_hat: torch.Tensor, k: int) -> torch.Tensor:
    """The Fourier transform of the signal subsampled by k in space, from its Fourier
    transform: the mean of the k x k aliased copies of the spectrum (summed slice by slice,
    which is several times faster than a strided reduction)."""
    if k == 1:
        return x_hat
    rows = functools.reduce(operator.add, x_hat.chunk(k, dim=-2))
    return functools.reduce(operator.add, rows.chunk(k, dim=-1)) / (k * k)


def _periodize(f_hat: torch.Tensor, k: int) -> torch.Tensor:
    """A filter given in Fourier at full size, for signals subsampled by k: its frequencies
    beyond the new Nyquist band are dropped, and the k x k aliased copies summed."""
    if k == 1:
        return f_hat
    m, n = f_hat.shape[-2:]
    mask = torch.ones(m, n)
    mask[m // (2 * k) : m // (2 * k) + m - m // k] = 0
    mask[:, n // (2 * k) : n // (2 * k) + n - n // k] = 0
    return (f_hat * mask).unflatten(-1, (k, n // k)).unflatten(-3, (k, m // k)).sum(dim=(-4, -2))


# images per scattering pass on the CPU: small batches keep the spectra in cache (about 1.8x
# the speed of 1000 on 2 cores, the same coefficients bit for bit; benchmarks/README); on a
# GPU, large ones
CPU_BATCH, GPU_BATCH = 64, 1024
EXACT_PCA_MAX = 4096  # the front end's PCA is exact up to this many coefficients, randomised above


# the largest side the front end scatters at: larger images are first resized to it
# (antialiased), which keeps a 64 or 256 pixel photograph's cost that of a 32 pixel one
FRONT_SIDE = 32
# weight of the colour (chroma) averages beside the luminance's log-scattering coefficients
CHROMA_SCALE = 4.0


def front_side(side: int) -> int:
    """The side the front end scatters images of this side at."""
    return side if side <= FRONT_SIDE else FRONT_SIDE


def front_fits(image_shape: tuple[int, ...]) -> bool:
    """Whether ScatteringFront takes images of this shape (..., H, W): square, sides
    divisible by 4, at least 8."""
    h, w = image_shape[-2:]
    return h == w and h % 4 == 0 and h >= 8


class ScatteringMaps(nn.Module):
    """(N, C, H, W) images in [0, 1] -> (N, M, S/4, S/4) log-scattering maps (J=2, L=8) at
    S = front_side(H): the first layers of a hybrid network (Oyallon et al. 2017, "Scaling
    the scattering transform": fixed scattering, then a trained CNN, which generalises from
    few labels better than a CNN on pixels). Colour images as ScatteringFront reads them:
    the luminance scattered and the colour averaged over the same 4x4 windows (M = 81 + 2);
    grey images scattered per channel (M = 81 C). Differentiable, with no parameters: the
    filters are rebuilt, not saved."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.colour, self.side = channels == 3, front_side(side)
        self.scattering = Scattering2D((self.side, self.side), J=2, L=8)
        per = scattering_channels(2, 8)
        self.out_channels = per + 2 if self.colour else channels * per

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> maps; maps computed before (N, out_channels, S/4, S/4), as
        precomputed real batches come, pass through."""
        if x.shape[1] == self.out_channels and x.shape[-1] == self.side // 4:
            return x
        if x.shape[-1] != self.side:
            x = F.interpolate(x, size=(self.side, self.side), mode="bilinear", antialias=True)
        if not self.colour:
            return torch.log1p(10.0 * self.scattering(x))
        r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        lum = 0.299 * r + 0.587 * g + 0.114 * b
        chroma = F.avg_pool2d(torch.cat([b - lum, r - lum], 1), 4)
        return torch.cat([torch.log1p(10.0 * self.scattering(lum)), CHROMA_SCALE * chroma], 1)


class ScatteringFront(nn.Module):
    """A fixed front end for the encoder: log-scattering coefficients (J=2, L=8), projected
    on their top `dims` whitened principal components and scaled to norm sqrt(dims) (unit
    variance per coordinate). Grey images are scattered as they are; colour images are
    resized to at most FRONT_SIDE, their luminance Y = 0.299 R + 0.587 G + 0.114 B scattered
    and their colour (B - Y, R - Y) averaged over the same 4x4 windows (order 0 only): on
    photographs this spreads labels better than scattering R, G and B, at a fifth of the
    cost (benchmarks/README.md). The projection is fitted on the training images (fit) and
    saved with the model; the scattering filters are rebuilt on load."""

    def __init__(self, image_shape: tuple[int, int, int], dims: int) -> None:
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise ValueError(f"the scattering front end takes square images, got {h}x{w}")
        self.maps = ScatteringMaps(c, h)
        n_coeffs = self.coefficient_count(image_shape)
        if dims > n_coeffs:
            raise ValueError(
                f"frontend_dims={dims} is more than the {n_coeffs} scattering coefficients of an image"
            )
        self.dims = dims
        self.register_buffer("mean", torch.zeros(n_coeffs))
        self.register_buffer("proj", torch.zeros(n_coeffs, dims))
        self.register_buffer("fitted", torch.tensor(False))

    @staticmethod
    def coefficient_count(image_shape: tuple[int, int, int]) -> int:
        """Scattering coefficients of one image of shape (C, H, W), without building the
        filters: the most principal components the front end can keep."""
        c, h, _ = image_shape
        s = front_side(h)
        if c == 3:  # the luminance scattered, two colour averages
            return (scattering_channels(2, 8) + 2) * (s // 4) ** 2
        return c * scattering_channels(2, 8) * (s // 4) ** 2

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> (N, coefficients) log-scattering coefficients (and the
        colour averages of colour images): ScatteringMaps's maps, flattened."""
        return self.maps(x).flatten(1)

    def _scatter(
        self, x: torch.Tensor, batch_size: int | None = None, progress=None
    ) -> torch.Tensor:
        """(N, coefficients) of uint8 images x, batch_size images a pass (by default CPU_BATCH
        or GPU_BATCH); progress(done, N) after each."""
        on_cpu = self.mean.device.type == "cpu"
        batch_size = batch_size or (CPU_BATCH if on_cpu else GPU_BATCH)
        coeffs = [torch.zeros(0, self.mean.numel(), device=self.mean.device)]
        for i in range(0, len(x), batch_size):
            coeffs.append(
                self.coefficients(x[i : i + batch_size].to(self.mean.device).float() / 255.0)
            )
            if progress is not None:
                progress(min(i + batch_size, len(x)), len(x))
        return torch.cat(coeffs)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, batch_size: int | None = None, progress=None) -> torch.Tensor:
        """Fit the whitening projection on uint8 images x; returns their features (N, dims)."""
        c = self._scatter(x, batch_size, progress)
        if len(c) <= self.dims:
            raise ValueError(
                f"the scattering front end needs more than frontend_dims={self.dims} training images, got {len(c)}"
            )
        mean = c.mean(0)
        c -= mean
        if c.shape[1] <= EXACT_PCA_MAX:  # from the covariance: exact, and small (81 x 49 for 28x28)
            var, vecs = torch.linalg.eigh((c.T @ c).double() / (len(c) - 1))
            var, vecs = var.flip(0)[: self.dims], vecs.flip(1)[:, : self.dims]
        else:  # colour or large images (15,552 coefficients for 3x32x32): randomised PCA
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                _, sv, vecs = torch.pca_lowrank(
                    c, q=min(self.dims + 10, *c.shape), center=False, niter=4
                )
            var, vecs = (
                (sv[: self.dims].double() ** 2) / (len(c) - 1),
                vecs[:, : self.dims].double(),
            )
        var = var.clamp_min(1e-12)
        self.mean.copy_(mean)
        self.proj.copy_((vecs / var.sqrt()).float())
        self.fitted.fill_(True)
        return self.project(c, centred=True)

    def project(self, c: torch.Tensor, centred: bool = False) -> torch.Tensor:
        f = (c if centred else c - self.mean) @ self.proj
        return F.normalize(f, dim=1) * math.sqrt(self.dims)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """(N, dims) the features of uint8 images x (N, C, H, W), projected batch_size at a
        time (scattered as fit does)."""
        self._check_fitted()
        parts = [
            self.project(self._scatter(x[i : i + batch_size])) for i in range(0, len(x), batch_size)
        ]
        return torch.cat(parts) if parts else torch.zeros(0, self.dims)

    def _check_fitted(self) -> None:
        if not bool(self.fitted):
            raise RuntimeError(
                "the scattering front end is not fitted: call fit(training images) first"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_fitted()
        return self.project(self.coefficients(x))
