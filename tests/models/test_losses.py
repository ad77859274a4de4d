import math

import torch
import torch.nn.functional as F

from ganflow.models.losses import (
    binary_ce_with_logits,
    feature_matching_loss,
    generator_nonsaturating_loss,
    real_logit,
    supervised_loss,
    unsupervised_loss,
)

ZERO2 = torch.zeros(1, 2)  # two class logits of 0: Z = 2, D(x) = Z / (Z + 1) = 2/3


def test_real_logit_is_logsumexp():
    torch.testing.assert_close(real_logit(ZERO2), torch.tensor([math.log(2.0)]))


def test_unsupervised_loss_hand_computed():
    # -log D(x_real) = -log(2/3); -log(1 - D(G(z))) = -log(1/3); the released code halves each
    expected = 0.5 * (-math.log(2 / 3) - math.log(1 / 3))
    assert unsupervised_loss(ZERO2, ZERO2).item() == torch.tensor(expected).item()


def test_one_sided_label_smoothing_only_changes_the_real_term():
    smoothed = unsupervised_loss(ZERO2, ZERO2, real_target=0.9).item()
    real = -(0.9 * math.log(2 / 3) + 0.1 * math.log(1 / 3))
    fake = -math.log(1 / 3)  # fakes keep target 0
    assert abs(smoothed - 0.5 * (real + fake)) < 1e-6


def test_binary_ce_matches_torch():
    s = torch.tensor([-3.0, 0.0, 2.5, 40.0])
    for t in (0.0, 0.9, 1.0):
        ref = F.binary_cross_entropy_with_logits(s, torch.full_like(s, t))
        torch.testing.assert_close(binary_ce_with_logits(s, t), ref)


def test_supervised_loss_is_cross_entropy_over_k_logits():
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert abs(supervised_loss(logits, torch.tensor([0])).item() - expected) < 1e-6


def test_feature_matching_hand_computed_and_no_gradient_to_real():
    real = torch.tensor([[0.0, 2.0], [2.0, 2.0]], requires_grad=True)  # mean (1, 2)
    fake = torch.zeros(3, 2, requires_grad=True)
    loss = feature_matching_loss(real, fake)
    assert loss.item() == 2.5  # ((1 - 0)^2 + (2 - 0)^2) / 2
    loss.backward()
    assert real.grad is None
    torch.testing.assert_close(fake.grad, torch.tensor([[-1 / 3, -2 / 3]] * 3))


def test_generator_nonsaturating():
    assert abs(generator_nonsaturating_loss(ZERO2).item() + math.log(2 / 3)) < 1e-6


def test_consistency_loss_hand_computed_and_no_gradient_to_the_target():
    from ganflow.models.losses import consistency_loss

    # softmax([0, 0]) = (1/2, 1/2); softmax([ln 3, 0]) = (3/4, 1/4): squared distance 2/16
    a = torch.zeros(1, 2, requires_grad=True)
    b = torch.tensor([[math.log(3.0), 0.0]], requires_grad=True)
    loss = consistency_loss(a, b)
    torch.testing.assert_close(loss, torch.tensor(0.125))
    loss.backward()
    assert b.grad is None and a.grad is not None and a.grad.abs().sum() > 0
    assert consistency_loss(b.detach(), b.detach()).item() == 0.0


def test_entropy_loss_hand_computed():
    from ganflow.models.losses import entropy_loss

    # two equal logits: entropy ln 2; probabilities (3/4, 1/4): -(3/4 ln 3/4 + 1/4 ln 1/4)
    torch.testing.assert_close(entropy_loss(torch.zeros(1, 2)), torch.tensor(math.log(2.0)))
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    got = entropy_loss(torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]]))
    torch.testing.assert_close(got, torch.tensor((expected + math.log(2.0)) / 2))
