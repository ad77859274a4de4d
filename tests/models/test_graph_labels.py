"""Label spreading over a neighbour graph and the K+1 GAN's term on the spread labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganflow.models.losses import graph_label_loss
from ganflow.tasks.data.neighbours import (
    induced_labels,
    knn_graph,
    nearest_neighbours,
    neighbour_weights,
    propagate_labels,
)


def _chain() -> torch.Tensor:
    """Six images on a line, each with its two nearest others as neighbours: two clusters
    {0, 1, 2} and {3, 4, 5} joined by the edge 2-3."""
    return torch.tensor([[1, 2], [0, 2], [1, 3], [4, 2], [3, 5], [4, 3]])


def test_knn_graph_is_symmetric_and_normalised_by_degree():
    s = knn_graph(_chain()).toarray()
    w = np.zeros((6, 6))
    for i, row in enumerate(_chain().tolist()):
        for j in row:
            w[i, j] = w[j, i] = 1.0
    d = w.sum(1)
    np.testing.assert_allclose(s, w / np.sqrt(np.outer(d, d)))


def test_edge_weights_are_clipped_cosines_to_the_power_gamma():
    f = torch.tensor([[1.0, 0.0], [3.0, 4.0], [0.0, 2.0], [-1.0, 0.0]])
    nb = torch.tensor([[1, 3], [2, 0], [1, 3], [0, 2]])
    w = neighbour_weights(f, nb, 3.0)
    # cos(0,1) = 0.6, cos(0,3) = -1 -> 0; cos(1,2) = 0.8; cos(2,3) = 0
    want = torch.tensor([[0.6, 0.0], [0.8, 0.6], [0.8, 0.0], [0.0, 0.0]]) ** 3
    assert torch.allclose(w, want)
    assert neighbour_weights(f, nb, 0.0) is None  # gamma 0: every edge weighs 1
    with pytest.raises(ValueError, match="gamma"):
        neighbour_weights(f, nb, -1.0)


def test_new_points_find_their_neighbours_and_weights_among_other_points():
    base = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [5.0, 5.0]])
    new = torch.tensor([[0.9, 0.1], [0.0, 0.0]])
    nb = nearest_neighbours(new, 2, among=base)
    # (0.9, 0.1): 1 then 0; (0, 0) is base point 0 itself, which counts among them
    assert nb.tolist() == [[1, 0], [0, 1]]
    assert nearest_neighbours(base, 2).tolist()[0] == [1, 2]  # within one set: never itself
    f_new, f_base = torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, -2.0]])
    w = neighbour_weights(f_new, torch.tensor([[0, 1]]), 2.0, among=f_base)
    # cos to (1, 0) = 1/sqrt(2), squared 0.5; to (0, -2) = -1/sqrt(2), clipped to 0
    assert torch.allclose(w, torch.tensor([[0.5, 0.0]]))


def test_induced_labels_average_the_neighbours_spread_labels_by_weight():
    labels = torch.tensor([[1.0, 0.0], [0.2, 0.8], [0.5, 0.5]])
    nb = torch.tensor([[0, 1], [2, 1], [0, 2]])
    w = torch.tensor([[3.0, 1.0], [0.0, 2.0], [0.0, 0.0]])
    got = induced_labels(labels, nb, w)
    # (3 (1, 0) + (0.2, 0.8)) / 4.0; only the second; no weight at all: uniform
    want = torch.tensor([[0.8, 0.2], [0.2, 0.8], [0.5, 0.5]])
    assert torch.allclose(got, want)
    even = induced_labels(labels, nb, None)  # no weights: the plain average
    assert torch.allclose(even[0], torch.tensor([0.6, 0.4]))


def test_a_weighted_graph_keeps_the_larger_weight_of_each_edge():
    weights = torch.tensor([[0.5, 0.2], [0.5, 0.9], [0.9, 0.1], [1.0, 0.1], [1.0, 0.3], [0.3, 0.4]])
    s = knn_graph(_chain(), weights).toarray()
    w = np.zeros((6, 6))
    for i, (row, ws) in enumerate(zip(_chain().tolist(), weights.tolist(), strict=True)):
        for j, v in zip(row, ws, strict=True):
            w[i, j] = max(w[i, j], v)
    w = np.maximum(w, w.T)
    d = w.sum(1)
    np.testing.assert_allclose(s, w / np.sqrt(np.outer(d, d)), rtol=1e-6)
    # spreading follows the weights: the fixed point of the weighted graph
    alpha = 0.9
    f = propagate_labels(
        _chain(), torch.tensor([0, 5]), torch.tensor([1, 0]), 2, alpha, weights=weights
    )
    y = np.zeros((6, 2))
    y[0, 1] = y[5, 0] = 1.0
    closed = (1 - alpha) * np.linalg.solve(np.eye(6) - alpha * s, y)
    np.testing.assert_allclose(f.numpy(), closed / closed.sum(1, keepdims=True), atol=1e-5)


def test_class_mass_normalisation_gives_each_class_its_share_of_the_labels():
    # image 2 (class 0) sits at the bridge, 5 (class 1) at an end: class 0 spreads more mass
    lab, cls, alpha = torch.tensor([2, 5]), torch.tensor([0, 1]), 0.9
    plain = propagate_labels(_chain(), lab, cls, 2, alpha)
    f = propagate_labels(_chain(), lab, cls, 2, alpha, class_mass=True)
    s = knn_graph(_chain()).toarray()
    y = np.zeros((6, 2))
    y[[2, 5], [0, 1]] = 1.0
    closed = (1 - alpha) * np.linalg.solve(np.eye(6) - alpha * s, y)
    assert closed.sum(0)[0] > closed.sum(0)[1]
    closed *= 0.5 / closed.sum(0)  # each class half the mass, as half the labels
    np.testing.assert_allclose(f.numpy(), closed / closed.sum(1, keepdims=True), atol=1e-5)
    assert (f[:, 1] > plain[:, 1] + 1e-3).all()  # on every image class 1 gains


def test_propagation_reaches_the_closed_form_fixed_point():
    alpha = 0.8
    f = propagate_labels(_chain(), torch.tensor([0, 5]), torch.tensor([1, 0]), 2, alpha)
    s = knn_graph(_chain()).toarray()
    y = np.zeros((6, 2))
    y[0, 1] = y[5, 0] = 1.0
    closed = (1 - alpha) * np.linalg.solve(np.eye(6) - alpha * s, y)
    closed /= closed.sum(1, keepdims=True)
    np.testing.assert_allclose(f.numpy(), closed, atol=1e-5)
    # each cluster takes the label of its labelled end
    assert f.argmax(1).tolist() == [1, 1, 1, 0, 0, 0]
    assert torch.allclose(f.sum(1), torch.ones(6))


def test_an_image_no_label_reaches_is_uniform():
    # two components; only the first holds a label
    nb = torch.tensor([[1], [0], [3], [2]])
    f = propagate_labels(nb, torch.tensor([0]), torch.tensor([2]), 3, 0.5)
    assert f[0].argmax() == 2 and f[1].argmax() == 2
    assert torch.allclose(f[2:], torch.full((2, 3), 1 / 3))


def test_propagation_refuses_alpha_outside_its_domain():
    with pytest.raises(ValueError, match="alpha"):
        propagate_labels(_chain(), torch.tensor([0]), torch.tensor([0]), 2, 1.0)


def test_graph_label_loss_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    target = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    h = lambda p: -sum(v * math.log(v) for v in p)  # noqa: E731
    w = [1 - h([0.9, 0.1]) / math.log(2), 1 - h([0.3, 0.7]) / math.log(2), 0.0]
    ce = [
        -math.log(math.exp(2) / (math.exp(2) + 1)),  # label 0
        -math.log(math.exp(1) / (math.exp(1) + 1)),  # label 1
        math.log(2),  # undecided: weight 0
    ]
    want = sum(a * b for a, b in zip(w, ce, strict=True)) / 3
    assert graph_label_loss(logits, target).item() == pytest.approx(want, rel=1e-5)


def test_graph_label_loss_follows_the_labels_gradient():
    logits = torch.zeros(4, 3, requires_grad=True)
    target = F.one_hot(torch.tensor([0, 1, 2, 1]), 3).float()
    graph_label_loss(logits, target).backward()
    # certain labels: the gradient of the mean cross-entropy toward each label
    want = (logits.detach().softmax(1) - target) / 4
    assert torch.allclose(logits.grad, want, atol=1e-5)


def test_graph_label_loss_without_certainty_counts_every_label_fully():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    target = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    want = F.cross_entropy(logits, torch.tensor([0, 1, 0]))
    assert graph_label_loss(logits, target, certainty=False).item() == pytest.approx(want.item())
    assert graph_label_loss(logits, target).item() < want.item()


def test_a_prior_spreads_with_the_labels_to_the_closed_form():
    alpha = 0.8
    prior = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.1, 0.9], [0.2, 0.8], [0.9, 0.1]])
    f = propagate_labels(_chain(), torch.tensor([0]), torch.tensor([0]), 2, alpha, prior=prior)
    y = prior.double().numpy().copy()
    y[0] = [1.0, 0.0]  # the labelled row keeps its label
    s = knn_graph(_chain()).toarray()
    closed = (1 - alpha) * np.linalg.solve(np.eye(6) - alpha * s, y)
    closed /= closed.sum(1, keepdims=True)
    np.testing.assert_allclose(f.numpy(), closed, atol=1e-5)
    # without the prior the one label takes the whole chain; with it the far end turns
    alone = propagate_labels(_chain(), torch.tensor([0]), torch.tensor([0]), 2, alpha)
    assert alone.argmax(1).tolist() == [0] * 6
    assert f[3:5].argmax(1).tolist() == [1, 1]
    with pytest.raises(ValueError, match="prior"):
        propagate_labels(_chain(), torch.tensor([0]), torch.tensor([0]), 2, alpha, prior=prior[:3])
