"""The contrastive loss against a hand computation, and R-precision's ranking and its
leaving out of rivals that say the same."""

import math

import torch

from ganflow.models.text.matching import contrastive_loss, r_precision


def test_contrastive_loss_by_hand():
    e = torch.eye(2)
    # logits [[1, 0], [0, 1]] at temperature 1: each row's CE is log(1 + e^-1)
    assert abs(contrastive_loss(e, e, temperature=1.0).item() - math.log(1 + math.exp(-1))) < 1e-6
    swapped = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert contrastive_loss(e, swapped, 1.0) > contrastive_loss(e, e, 1.0)


def test_r_precision_ranks_the_own_caption_and_masks_same_sayers():
    g = torch.Generator().manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(50, 32, generator=g), dim=1)
    own = torch.arange(50)  # the pool is the captions themselves: one's own is no rival
    assert r_precision(text, text, text, candidates=10, keys=own, pool_keys=own) == 1.0
    assert r_precision(text, text, text, candidates=10) < 1.0  # drawn again, it ties
    noise = torch.randn(50, 32, generator=g)
    assert r_precision(noise, text, text, candidates=10) < 0.5
    # every caption has a twin saying the same: without keys a twin ties and wins nothing
    twins = torch.cat([text, text])
    keys = torch.arange(100) % 50
    assert r_precision(twins, twins, twins, candidates=100) < 0.5
    assert r_precision(twins, twins, twins, candidates=100, keys=keys, pool_keys=keys) == 1.0
