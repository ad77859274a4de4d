"""Conditioning augmentation: its KL against the closed form of two Gaussians, and the
reparameterised sample's statistics."""

import math

import pytest
import torch

from ganflow.models.stackgan.conditioning import ConditioningAugmentation, kl_to_standard_normal


def test_kl_matches_the_closed_form_per_dimension():
    mu = torch.tensor([[0.5, -1.0], [0.0, 2.0]])
    sigma = torch.tensor([[1.0, 0.5], [2.0, 1.0]])
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2) / 2 - 1/2, per dimension
    closed = (torch.log(1 / sigma) + (sigma**2 + mu**2) / 2 - 0.5).sum(1).mean()
    got = kl_to_standard_normal(mu, torch.log(sigma**2))
    assert got.item() == pytest.approx(closed.item())
    assert kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0
    # one dimension by hand: mu 0.5, sigma 1 -> 0.125
    assert kl_to_standard_normal(torch.tensor([[0.5]]), torch.zeros(1, 1)).item() == pytest.approx(
        0.125
    )
    assert math.isfinite(got.item())


def test_sample_is_mu_plus_sigma_eps_and_the_mean_in_eval():
    torch.manual_seed(0)
    ca = ConditioningAugmentation(8, 3)
    phi = torch.randn(1, 8).expand(20000, 8)
    c, mu, logvar = ca(phi, torch.Generator().manual_seed(1))
    assert c.shape == mu.shape == logvar.shape == (20000, 3)
    torch.testing.assert_close(c.mean(0), mu[0], atol=0.05, rtol=0)
    torch.testing.assert_close(c.var(0), logvar[0].exp(), atol=0.05, rtol=0.05)
    ca.eval()
    c_eval, mu_eval, _ = ca(phi[:2])
    assert torch.equal(c_eval, mu_eval)
