import numpy as np
import pytest
import torch

from ganflow.tasks.evaluate.classification import (
    classification_metrics,
    confusion_matrix,
    predict,
    predict_features,
)
from ganflow.tasks.evaluate.metrics import mean_std


def test_confusion_and_metrics_hand_computed():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    m = classification_metrics(y_true, y_pred, 3)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["test_error"] == pytest.approx(2 / 6)
    assert m["per_class_accuracy"] == pytest.approx([0.5, 2 / 3, 1.0])


def test_absent_class_has_no_accuracy_and_empty_set_is_refused():
    m = classification_metrics(np.array([0, 0]), np.array([0, 1]), 3)
    assert m["per_class_accuracy"][2] is None and m["per_class_accuracy"][0] == 0.5
    with pytest.raises(ValueError, match="empty"):
        classification_metrics(np.array([]), np.array([]), 2)


def test_mean_std_uses_the_sample_std():
    assert mean_std([0.1, 0.2, 0.3]) == pytest.approx((0.2, 0.1))
    assert mean_std([0.25]) == (0.25, 0.0)


def test_predict_scales_uint8_and_batches():
    class Echo(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :2], x.flatten(1)

    x = torch.tensor([[[[255, 0]]], [[[51, 102]]], [[[0, 255]]]], dtype=torch.uint8)  # (3, 1, 1, 2)
    out = predict(Echo(), x, batch_size=2)
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0], [0.2, 0.4], [0.0, 1.0]]))


def test_predict_features_returns_the_second_output_batch_by_batch():
    class LogitsAndFeatures(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1), -3 * x.flatten(1)

    x = torch.tensor([[[[255, 0]]], [[[51, 102]]], [[[0, 255]]]], dtype=torch.uint8)
    logits, features = predict_features(LogitsAndFeatures(), x, batch_size=2)
    want = torch.tensor([[1.0, 0.0], [0.2, 0.4], [0.0, 1.0]])
    torch.testing.assert_close(logits, want)
    torch.testing.assert_close(features, -3 * want)
