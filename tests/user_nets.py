"""A user's downstream classifier, as `--classifier user_nets:tiny_mlp` names it in tests."""

from torch import nn


def tiny_mlp(image_shape, num_classes):
    c, h, w = image_shape
    return nn.Sequential(
        nn.Flatten(), nn.Linear(c * h * w, 16), nn.ReLU(), nn.Linear(16, num_classes)
    )


def not_a_module(image_shape, num_classes):
    return "a string"
