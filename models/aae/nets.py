"""Networks of the adversarial autoencoder: MLP encoder, decoder and latent discriminators
(two hidden layers each, as in Makhzani et al. 2015's MNIST networks)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models.aae.config import AAEConfig
from ganflow.models.layers import MinibatchDiscrimination
from ganflow.models.scattering import Scattering2D


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_out),
    )


def _categorical_discriminator(cfg: AAEConfig) -> nn.Module:
    if not cfg.y_minibatch_discrimination:
        return _mlp(cfg.clusters, cfg.hidden, 1)
    mbd = MinibatchDiscrimination(cfg.hidden, 50, 5)
    return nn.Sequential(
        nn.Linear(cfg.clusters, cfg.hidden),
        nn.ReLU(),
        nn.Linear(cfg.hidden, cfg.hidden),
        nn.ReLU(),
        mbd,
        nn.Linear(mbd.out_features, 1),
    )


class Encoder(nn.Module):
    """x (N, C, H, W) in [0, 1] -> (y logits (N, K) or None, z (N, d))."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: AAEConfig) -> None:
        super().__init__()
        self.k, self.d = cfg.clusters, cfg.z_dim
        self.net = _mlp(math.prod(image_shape), cfg.hidden, self.k + self.d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        h = self.net(x.flatten(1))
        return (h[:, : self.k] if self.k else None), h[:, self.k :]


EXACT_PCA_MAX = 4096  # the front end's PCA is exact up to this many coefficients, randomised above


class ScatteringFront(nn.Module):
    """A fixed front end for the encoder: log-scattering coefficients (J=2, L=8) of each
    channel, projected on their top `dims` whitened principal components and scaled to norm
    sqrt(dims) (unit variance per coordinate). The projection is fitted on the training
    images (fit) and saved with the model; the scattering filters are rebuilt on load."""

    def __init__(self, image_shape: tuple[int, int, int], dims: int) -> None:
        super().__init__()
        self.scattering = Scattering2D(image_shape[1:], J=2, L=8)
        n_coeffs = (
            image_shape[0]
            * self.scattering.channels_per_input
            * (image_shape[1] // 4)
            * (image_shape[2] // 4)
        )
        if dims > n_coeffs:
            raise ValueError(
                f"frontend_dims={dims} is more than the {n_coeffs} scattering coefficients of an image"
            )
        self.dims = dims
        self.register_buffer("mean", torch.zeros(n_coeffs))
        self.register_buffer("proj", torch.zeros(n_coeffs, dims))
        self.register_buffer("fitted", torch.tensor(False))

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> (N, coefficients) log-scattering coefficients."""
        return torch.log1p(10.0 * self.scattering(x).flatten(1))

    @torch.no_grad()
    def fit(self, x: torch.Tensor, batch_size: int = 1000, progress=None) -> torch.Tensor:
        """Fit the whitening projection on uint8 images x; returns their features (N, dims)."""
        coeffs = []
        for i in range(0, len(x), batch_size):
            coeffs.append(
                self.coefficients(x[i : i + batch_size].to(self.mean.device).float() / 255.0)
            )
            if progress is not None:
                progress(min(i + batch_size, len(x)), len(x))
        c = torch.cat(coeffs)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.fitted):
            raise RuntimeError(
                "the scattering front end is not fitted: call fit(training images) first"
            )
        return self.project(self.coefficients(x))


class FrontEndEncoder(nn.Module):
    """The encoder on a fixed front end: x -> head(front(x)). Training feeds the head
    precomputed front-end features of the training images (fast); new images go through
    forward. Same outputs as Encoder."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: AAEConfig) -> None:
        super().__init__()
        self.front = ScatteringFront(image_shape, cfg.frontend_dims)
        self.head = Encoder((cfg.frontend_dims, 1, 1), cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        return self.head(self.front(x))


class Decoder(nn.Module):
    """(y (N, K) probabilities or one-hot, z (N, d)) -> x (N, C, H, W) logits."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: AAEConfig) -> None:
        super().__init__()
        self.shape = image_shape
        self.net = _mlp(cfg.clusters + cfg.z_dim, cfg.hidden, math.prod(image_shape))

    def forward(self, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        code = z if y is None else torch.cat([y, z], dim=1)
        return self.net(code).view(-1, *self.shape)


def build_models(
    image_shape: tuple[int, int, int], cfg: AAEConfig, num_labels: int, seed: int
) -> dict[str, nn.Module]:
    """E, Dec, D_z (its input carries a one-hot label + 'unlabelled' slot when the mixture prior
    is label-conditioned), and D_y when there is a categorical head."""
    cfg.validate()
    cfg = cfg.resolved(image_shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cond = num_labels + 1 if cfg.label_conditioned else 0
        encoder = FrontEndEncoder if cfg.frontend == "scattering" else Encoder
        models = {
            "E": encoder(image_shape, cfg),
            "Dec": Decoder(image_shape, cfg),
            "D_z": _mlp(cfg.z_dim + cond, cfg.hidden, 1),
        }
        if cfg.clusters:
            models["D_y"] = _categorical_discriminator(cfg)
    return models
