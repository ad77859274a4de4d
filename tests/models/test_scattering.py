"""Scattering transform and the AAE's scattering front end."""

import math

import pytest
import torch
import torch.nn.functional as F

from ganflow.models import scattering as scattering_module
from ganflow.models.scattering import Scattering2D, ScatteringFront


def _naive(x: torch.Tensor, s: Scattering2D) -> torch.Tensor:
    """Reference: every convolution at full resolution on the padded image, subsampled only
    at the end (the textbook definition, no multi-resolution shortcuts)."""
    pad = torch.nn.functional.pad(x, (s.pw, s.pw, s.ph, s.ph), mode="reflect")
    psi, phi = s.psi0, s.phi0

    def low(u):
        out = torch.fft.ifft2(torch.fft.fft2(u) * phi).real
        out = out[..., s.ph : s.ph + s.shape[0], s.pw : s.pw + s.shape[1]]
        return out[..., :: 2**s.J, :: 2**s.J]

    u1 = [torch.fft.ifft2(torch.fft.fft2(pad) * p).abs() for p in psi]
    coeffs = [low(pad)] + [low(u) for u in u1]
    scale_of = [j for j in range(s.J) for _ in range(s.L)]
    for i, j1 in enumerate(scale_of):
        coeffs += [
            low(torch.fft.ifft2(torch.fft.fft2(u1[i]) * psi[k]).abs())
            for k, j2 in enumerate(scale_of)
            if j2 > j1
        ]
    return torch.stack(coeffs, dim=2).flatten(1, 2)


def test_scattering_shapes_and_the_textbook_definition():
    s = Scattering2D((28, 28), J=2, L=8)
    assert s.channels_per_input == 81
    x = torch.rand(3, 2, 28, 28, generator=torch.Generator().manual_seed(0))
    out = s(x)
    assert out.shape == (3, 2 * 81, 7, 7)
    ref = torch.cat([_naive(x[:, c : c + 1], s) for c in range(2)], dim=1)
    # the fast path computes coarse-scale paths at lower resolution: equal up to aliasing
    assert ((out - ref).norm() / ref.norm()).item() < 0.01
    # order 0 is a local average: a constant image scatters to its value there, and to
    # (almost) nothing at orders 1 and 2 since every wavelet has zero mean
    const = s(torch.full((1, 1, 28, 28), 0.5))
    assert torch.allclose(const[0, 0], torch.full((7, 7), 0.5), atol=1e-3)
    assert const[0, 1:].abs().max() < 1e-3
    assert s.psi0[:, 0, 0].abs().max() < 1e-4  # zero mean: no DC in any wavelet
    with pytest.raises(ValueError, match="divisible"):
        Scattering2D((30, 30))
    with pytest.raises(ValueError, match="expects"):
        s(torch.rand(1, 1, 32, 32))


def test_scattering_is_stable_to_small_shifts():
    """A one-pixel shift of thin bars changes their pixels by 0.8 of their norm, their
    scattering coefficients (averaged over 4 x 4 pixels) by well under half of that."""
    g = torch.Generator().manual_seed(1)
    x = torch.zeros(8, 1, 28, 28)
    for i in range(8):  # bars and blobs away from the border
        r, c = torch.randint(6, 16, (2,), generator=g).tolist()
        x[i, 0, r : r + 8, c : c + 3] = 1.0
    shifted = torch.roll(x, 1, dims=3)
    s = Scattering2D((28, 28))

    def rel(a, b):
        return ((a - b).norm() / a.norm()).item()

    assert rel(s(x), s(shifted)) < 0.5 * rel(x, shifted)


def test_front_end_fits_whitens_and_round_trips(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (300, 1, 8, 8), generator=g, dtype=torch.uint8)
    front = ScatteringFront((1, 8, 8), dims=12)
    with pytest.raises(RuntimeError, match="not fitted"):
        front(x.float() / 255)
    f = front.fit(x, batch_size=64)
    assert f.shape == (300, 12)
    assert torch.allclose(f.norm(dim=1), torch.full((300,), math.sqrt(12)), atol=1e-4)
    assert torch.allclose(front(x.float() / 255), f, atol=1e-4)  # training features = forward
    # whitened before the norm is fixed: no direction dominates
    cov = torch.cov(f.T)
    assert cov.diagonal().max() / cov.diagonal().min() < 10
    path = tmp_path / "front.pt"
    torch.save(front.state_dict(), path)
    again = ScatteringFront((1, 8, 8), dims=12)
    again.load_state_dict(torch.load(path, weights_only=True))
    assert torch.allclose(again(x[:5].float() / 255), f[:5], atol=1e-4)
    with pytest.raises(ValueError, match="more than"):
        ScatteringFront((1, 8, 8), dims=12).fit(x[:10])
    # many coefficients (colour images): randomised PCA, the same whitened subspace
    monkeypatch.setattr(scattering_module, "EXACT_PCA_MAX", 0)
    approx = ScatteringFront((1, 8, 8), dims=12)
    f2 = approx.fit(x, batch_size=64)
    assert torch.allclose(f2.norm(dim=1), torch.full((300,), math.sqrt(12)), atol=1e-4)
    overlap = torch.linalg.svdvals(
        F.normalize(front.proj, dim=0).T @ F.normalize(approx.proj, dim=0)
    )
    assert overlap.min() > 0.9  # top principal axes agree
    with pytest.raises(ValueError, match="frontend_dims"):
        ScatteringFront((1, 8, 8), dims=1000)


def test_the_front_end_scatters_in_small_batches_with_the_coefficients_of_one_pass():
    """fit and encode scatter a few images a pass (faster on the CPU): the features are
    those of one pass over all images, bit for bit, and progress reaches every image."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (150, 1, 8, 8), generator=g, dtype=torch.uint8)
    seen = []
    small = ScatteringFront((1, 8, 8), dims=12)
    f = small.fit(x, batch_size=16, progress=lambda done, total: seen.append((done, total)))
    whole = ScatteringFront((1, 8, 8), dims=12)
    assert torch.equal(f, whole.fit(x, batch_size=len(x)))
    assert seen[-1] == (150, 150) and len(seen) == 10
    assert torch.equal(small.encode(x, batch_size=150), whole.project(whole._scatter(x, 150)))
    assert small.encode(x[:0]).shape == (0, 12)
    with pytest.raises(RuntimeError, match="not fitted"):
        ScatteringFront((1, 8, 8), dims=12).encode(x)
