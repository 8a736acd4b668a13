"""The benchmark's "trained from scratch" reference: train until validation accuracy stops
improving (early stopping, with a cap), report the test accuracy of the best checkpoint.

The reference trains on the training images minus a validation eighth (the last ones of the
seeded split), from PyTorch's default initialisation, with the protocol's optimiser (Adam,
lr 1e-3, batch 128). Every ``every`` steps it measures validation and test accuracy;
training stops after ``patience`` checks without a better validation accuracy, or at
``max_steps``. The reported accuracy is the test accuracy at the best validation check, so
the test images never choose anything.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_positive_int
from ._calibrate import calibrate_batchnorm

__all__ = ["VALIDATION_FRACTION", "train_reference"]

VALIDATION_FRACTION = 1 / 8
Data = tuple[Tensor, Tensor]


def accuracy(model: nn.Module, calibration: Tensor, data: Data) -> float:
    """Accuracy on ``data`` after recomputing BatchNorm statistics from ``calibration``."""
    model = calibrate_batchnorm(model, calibration)
    with torch.no_grad():
        correct = sum(
            int((model(x).argmax(1) == y).sum())
            for x, y in zip(data[0].split(500), data[1].split(500), strict=True)
        )
    model.train()
    return correct / max(len(data[0]), 1)


def train_reference(
    model: nn.Module,
    train: Data,
    test: Data,
    *,
    max_steps: int,
    seed: int,
    every: int = 100,
    patience: int = 3,
) -> dict[str, Any]:
    """Train a copy of ``model`` to convergence (early stopping on a validation split).

    Args:
        model: the randomly initialised network (left untouched; a copy is trained).
        train: training images; the last ``VALIDATION_FRACTION`` of them validate.
        test: the test images, only measured.
        max_steps: the cap on Adam steps.
        seed: the batch order.
        every: steps between two checks (at most ``max_steps``).
        patience: checks without a better validation accuracy before stopping.

    Returns:
        ``trained_accuracy`` (test accuracy at the best validation check),
        ``trained_validation_accuracy``, ``trained_steps`` (the best check's step),
        ``trained_stopped_at`` (last step run) and ``trained_capped`` (True when the best
        check came within ``patience`` checks of the cap: perhaps not converged).

    Raises:
        ValueError: ``max_steps``, ``every`` or ``patience`` is not positive, or the
            training set is too small to hold out a validation split.

    Example:
        >>> from torch import nn
        >>> x, y = torch.randn(400, 5), torch.randint(0, 2, (400,))
        >>> ref = train_reference(nn.Linear(5, 2), (x, y), (x, y), max_steps=50, seed=0, every=10)
        >>> ref["trained_steps"] <= ref["trained_stopped_at"] <= 50
        True
    """
    for value, name in ((max_steps, "max_steps"), (every, "every"), (patience, "patience")):
        check_positive_int(value, name)
    n_val = int(len(train[0]) * VALIDATION_FRACTION)
    if n_val < 1 or n_val >= len(train[0]):
        raise ValueError(
            f"the training set must hold at least {int(1 / VALIDATION_FRACTION)} samples to "
            f"hold out a validation split, got {len(train[0])}"
        )
    fit = (train[0][:-n_val], train[1][:-n_val])
    val = (train[0][-n_val:], train[1][-n_val:])
    calibration = fit[0][:1000]
    every = min(every, max_steps)
    model = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    best = (accuracy(model, calibration, val), 0, accuracy(model, calibration, test))
    waited, step = 0, 0
    model.train()
    while step < max_steps and waited < patience:
        step += 1
        batch = torch.randint(0, len(fit[0]), (128,), generator=gen)
        loss = F.cross_entropy(model(fit[0][batch]), fit[1][batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % every == 0 or step == max_steps:
            score = accuracy(model, calibration, val)
            if score > best[0]:
                best, waited = (score, step, accuracy(model, calibration, test)), 0
            else:
                waited += 1
    return {
        "trained_accuracy": best[2],
        "trained_validation_accuracy": best[0],
        "trained_steps": best[1],
        "trained_stopped_at": step,
        "trained_capped": waited < patience,
    }
