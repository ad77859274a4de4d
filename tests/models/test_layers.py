import math

import pytest
import torch
from torch import nn

from ganflow.models.layers import (
    GaussianNoise,
    MinibatchDiscrimination,
    MinibatchStd,
    VBNSequential,
    VirtualBatchNorm,
)


def test_minibatch_discrimination_hand_computed():
    mbd = MinibatchDiscrimination(1, num_kernels=1, kernel_dim=1)
    with torch.no_grad():
        mbd.T.fill_(1.0)
    f = torch.tensor([[0.0], [1.0], [3.0]])
    out = mbd(f)
    # L1 distances: |0-1| = 1, |0-3| = 3, |1-3| = 2; o_i = sum_{j != i} exp(-d_ij)
    e = math.exp
    expected_o = torch.tensor([[e(-1) + e(-3)], [e(-1) + e(-2)], [e(-3) + e(-2)]])
    assert out.shape == (3, 2)
    torch.testing.assert_close(out[:, :1], f)
    torch.testing.assert_close(out[:, 1:], expected_o)


def test_minibatch_discrimination_identical_samples_saturate():
    mbd = MinibatchDiscrimination(4, num_kernels=3, kernel_dim=2)
    f = torch.ones(5, 4)
    o = mbd(f)[:, 4:]
    torch.testing.assert_close(o, torch.full((5, 3), 4.0))  # 4 identical neighbours, exp(0) each
    assert mbd.out_features == 7


def test_minibatch_std_is_the_spread_within_each_group_hand_computed():
    # 8 samples in groups of 4: sample i is in group i mod 2; one feature, one pixel
    x = torch.tensor([0.0, 5.0, 2.0, 5.0, 0.0, 5.0, 2.0, 5.0]).view(8, 1, 1, 1)
    out = MinibatchStd(group=4)(x)
    assert out.shape == (8, 2, 1, 1)
    torch.testing.assert_close(out[:, :1], x)
    spread = out[:, 1].flatten()
    # group 0 holds 0, 2, 0, 2 (std 1); group 1 holds four 5s (std ~0, a collapsed batch)
    torch.testing.assert_close(spread[0::2], torch.ones(4), atol=1e-4, rtol=0)
    assert spread[1::2].abs().max() < 1e-3
    # a batch that does not divide by the group size takes the largest size that does: 6
    # samples in groups of 3, samples i and i + 2 and i + 4 together, two spreads
    odd = MinibatchStd(group=4)(torch.randn(6, 3, 2, 2))
    assert odd.shape == (6, 4, 2, 2) and torch.unique(odd[:, 3]).numel() == 2
    assert torch.equal(odd[0::2, 3], odd[0:1, 3].expand(3, 2, 2))


def test_virtual_batch_norm_hand_computed():
    vbn = VirtualBatchNorm(1, eps=0.0)
    ref = torch.tensor([[1.0], [3.0]])  # mean 2, mean of squares 5
    ref_out, stats = vbn.normalise_reference(ref)
    torch.testing.assert_close(ref_out, torch.tensor([[-1.0], [1.0]]))
    # x = 5: w = 1/3, mean = 5/3 + 4/3 = 3, mean_sq = 25/3 + 10/3, var = 35/3 - 9 = 8/3
    out = vbn(torch.tensor([[5.0]]), stats)
    torch.testing.assert_close(out, torch.tensor([[2.0 / math.sqrt(8.0 / 3.0)]]))


def _vbn_layers() -> list[nn.Module]:
    """VBN over features, then over the channels of a (2, 3, 3) map."""
    return [
        nn.Linear(4, 6),
        VirtualBatchNorm(6),
        nn.ReLU(),
        nn.Linear(6, 2 * 3 * 3),
        nn.Unflatten(1, (2, 3, 3)),
        VirtualBatchNorm(2),
    ]


def test_vbn_output_of_an_example_does_not_depend_on_its_batch():
    torch.manual_seed(0)
    net = VBNSequential(_vbn_layers(), reference=torch.randn(16, 4))
    x = torch.randn(8, 4)
    full = net(x)
    single = torch.cat([net(x[i : i + 1]) for i in range(8)])
    torch.testing.assert_close(full, single)
    assert "reference" in net.state_dict()


def test_vbn_one_pass_equals_the_reference_carried_beside_the_input():
    torch.manual_seed(0)
    layers = _vbn_layers()
    ref, x = torch.randn(16, 4), torch.randn(8, 4)
    net = VBNSequential(layers, reference=ref)
    h_ref, h = ref, x  # the definition: the reference goes through the stack on its own
    for layer in layers:
        if isinstance(layer, VirtualBatchNorm):
            h_ref, stats = layer.normalise_reference(h_ref)
            h = layer(h, stats)
        else:
            h_ref, h = layer(h_ref), layer(h)
    torch.testing.assert_close(net(x), h)


def test_batch_norm_by_contrast_depends_on_the_batch():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6))
    x = torch.randn(8, 4)
    assert not torch.allclose(net(x)[:2], net(x[:2]))


def test_gaussian_noise_only_in_training():
    layer = GaussianNoise(0.5)
    x = torch.zeros(20000)
    layer.train()
    assert layer(x).std().item() == pytest.approx(0.5, rel=0.05)
    layer.eval()
    assert torch.equal(layer(x), x)


def test_weight_norm_data_init_gives_each_layer_unit_outputs_on_the_batch():
    from ganflow.models.layers import maybe_weight_norm, weight_norm_data_init

    torch.manual_seed(0)
    convs = [maybe_weight_norm(torch.nn.Conv2d(c, 8, 3, 1, 1), True) for c in (3, 8, 8, 8)]
    net = torch.nn.Sequential(*[m for c in convs for m in (c, torch.nn.LeakyReLU(0.2))])
    x = torch.rand(64, 3, 8, 8)
    with torch.no_grad():
        before = net(x).std().item()
    seen = []
    hook = convs[-1].register_forward_hook(lambda m, i, o: seen.append(o))
    weight_norm_data_init(net, x)
    with torch.no_grad():
        net(x)
    hook.remove()
    out = seen[-1]  # the last conv's pre-activations, after the init
    assert out.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (out.std(dim=(0, 2, 3), unbiased=False) - 1).abs().max() < 1e-3
    # a default-initialised stack shrinks its activations: the init undoes that
    assert before < 0.1 and net.training
