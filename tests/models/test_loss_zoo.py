"""The GAN loss zoo and its penalties against hand-computed values on tiny tensors."""

import math

import pytest
import torch

from ganflow.models import losses as L

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def sp(x: float) -> float:  # softplus
    return math.log1p(math.exp(x))


def test_minimax_d_and_saturating_g():
    # D: mean softplus(-s_real) + mean softplus(s_fake)
    want = (sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2
    assert L.d_minimax(REAL, FAKE).item() == pytest.approx(want, rel=1e-6)
    # G minimises E log(1 - D(G(z))) = -mean softplus(s_fake)
    assert L.g_minimax(FAKE).item() == pytest.approx(-(sp(0.5) + sp(-3)) / 2, rel=1e-6)


def test_nonsaturating_g_and_label_smoothing():
    assert L.g_nonsaturating(FAKE).item() == pytest.approx((sp(-0.5) + sp(3)) / 2, rel=1e-6)
    # real target 0.9: 0.9 softplus(-s) + 0.1 softplus(s) for the real half
    real_half = sum(0.9 * sp(-s) + 0.1 * sp(s) for s in (2.0, -1.0)) / 2
    fake_half = (sp(0.5) + sp(-3)) / 2
    assert L.d_minimax(REAL, FAKE, 0.9).item() == pytest.approx(real_half + fake_half, rel=1e-6)


def test_least_squares():
    # 1/2 mean (D(x) - 1)^2 + 1/2 mean D(G(z))^2 = 0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2
    assert L.d_least_squares(REAL, FAKE).item() == pytest.approx(1.25 + 2.3125)
    assert L.g_least_squares(FAKE).item() == pytest.approx(0.5 * (0.25 + 16) / 2)


def test_wasserstein_and_hinge():
    assert L.d_wasserstein(REAL, FAKE).item() == pytest.approx(-1.25 - 0.5)
    assert L.g_wasserstein(FAKE).item() == pytest.approx(1.25)
    # mean max(0, 1 - real) = (0 + 2) / 2; mean max(0, 1 + fake) = (1.5 + 0) / 2
    assert L.d_hinge(REAL, FAKE).item() == pytest.approx(1.0 + 0.75)


def test_ebgan_margin_loss():
    # energies: D pays the reals' mean energy and [m - e]^+ of each fake: m = 1 ->
    # (2 + 0.5) / 2 + (max(0, 1 - 0.5) + max(0, 1 - 3)) / 2
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([0.5, 3.0])
    assert L.d_energy(real, fake, 1.0).item() == pytest.approx(1.25 + 0.25)
    assert L.d_energy(real, fake, 4.0).item() == pytest.approx(1.25 + (3.5 + 1.0) / 2)
    assert L.g_energy(fake).item() == pytest.approx(1.75)
    assert L.LOSSES["ebgan"].energy and not L.LOSSES["ebgan"].smoothable


def test_pulling_away_term_by_hand():
    # orthogonal codes (whatever their lengths): 0; identical or opposite ones: 1
    assert (
        L.pulling_away(torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.5]])).item()
        == 0.0
    )
    assert L.pulling_away(
        torch.tensor([[1.0, 2.0], [1.0, 2.0], [-2.0, -4.0]])
    ).item() == pytest.approx(1.0)
    # two codes at 60 degrees: cos^2 = 1/4 for each of the 2 ordered pairs, / (2 * 1)
    s = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    assert L.pulling_away(s).item() == pytest.approx(0.25)
    # three codes: (0, 1), (1, 0), (1, 1): pairs' cos^2 0, 1/2, 1/2, each twice, / (3 * 2)
    t = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert L.pulling_away(t).item() == pytest.approx(2 * (0 + 0.5 + 0.5) / 6)
    assert L.pulling_away(torch.ones(1, 4)).item() == 0.0  # one code has no pairs


def test_registry_names_every_loss_and_its_penalty():
    assert set(L.LOSSES) == {
        "minimax",
        "nonsaturating",
        "lsgan",
        "wgan",
        "wgan-gp",
        "dragan",
        "hinge",
        "ebgan",
    }
    assert L.LOSSES["wgan-gp"].penalty == "gp" and L.LOSSES["dragan"].penalty == "dragan"
    assert L.LOSSES["wgan"].clip and not L.LOSSES["hinge"].smoothable


def test_gradient_penalty_of_a_linear_critic_is_analytic():
    # f(x) = w . x has gradient w everywhere: penalty (||w|| - 1)^2 = (5 - 1)^2
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    pts = torch.randn(7, 2)
    pen = L.gradient_norm_penalty(lambda x: x @ w, pts)
    assert pen.item() == pytest.approx(16.0)
    # and it is differentiable in the critic's parameters: d/dw (||w|| - 1)^2 = 2 (5 - 1) w / 5
    (grad,) = torch.autograd.grad(pen, w)
    assert torch.allclose(grad, 2 * 4 * w.detach() / 5)


def test_quadratic_critic_penalty():
    # f(x) = ||x||^2 / 2 has gradient x: penalty is mean (||x|| - 1)^2
    pts = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert L.gradient_norm_penalty(lambda x: 0.5 * x.pow(2).sum(1), pts).item() == pytest.approx(
        8.0
    )


def test_r1_norm_from_the_forward_pass_is_analytic():
    # f(x) = ||x||^2 / 2 has gradient x: E ||x||^2 = (25 + 1) / 2, differentiable in w
    pts = torch.tensor([[3.0, 4.0], [0.0, 1.0]], requires_grad=True)
    w = torch.tensor(1.0, requires_grad=True)
    sq = L.input_gradient_sq_norm(0.5 * w * pts.pow(2).sum(1), pts)
    assert sq.item() == pytest.approx(13.0)
    (grad,) = torch.autograd.grad(sq, w)  # d/dw w^2 * 13 = 2 w 13
    assert grad.item() == pytest.approx(26.0)
    assert sq.item() == pytest.approx(
        L.gradient_norm_penalty(lambda x: 0.5 * x.pow(2).sum(1), pts, target=0.0).item()
    )


def test_penalty_points():
    real, fake = torch.zeros(5, 3), torch.ones(5, 3)
    pts = L.wgan_gp_points(real, fake, torch.Generator().manual_seed(0))
    # on the segments: every coordinate of a row is the same eps in [0, 1]
    assert ((pts >= 0) & (pts <= 1)).all() and torch.allclose(pts, pts[:, :1].expand_as(pts))
    x = torch.randn(50, 2)
    near = L.dragan_points(x, torch.Generator().manual_seed(0))
    # x + alpha * delta with 0 <= alpha, delta < 0.5 std(x)
    gap = near - x
    assert (gap >= 0).all() and (gap < 0.5 * x.std()).all()


def test_flip_labels_swaps_only_flagged_pairs():
    r, f = L.flip_labels(
        torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -2.0]), torch.tensor([True, False])
    )
    assert r.tolist() == [-1.0, 2.0] and f.tolist() == [1.0, -2.0]
