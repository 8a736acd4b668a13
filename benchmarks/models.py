"""Benchmark targets: the MLP 64-256-256-10 and LeNet-5 (28×28), and their inputs."""

from __future__ import annotations

import torch
from torch import nn


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def lenet5() -> nn.Module:
    """LeNet-5 for 28×28 inputs (LeCun et al. 1998, ReLU and max-pooling): 61,706 weights."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def small_cnn() -> nn.Module:
    """A small CNN for 8×8 digits (per-sample benchmark): 2 convs and a linear head."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, 10),
    )


TARGETS = {
    "MLP 64-256-256-10": (mlp, lambda b: torch.randn(b, 64)),
    "LeNet-5 28x28": (lenet5, lambda b: torch.randn(b, 1, 28, 28)),
}
