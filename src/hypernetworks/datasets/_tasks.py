"""Supervised tasks, and the two continual-learning benchmarks built from digits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._images import load_digits
from ._require import require

__all__ = ["Task", "digits_splits", "permuted_digits", "split_digits"]


@dataclass
class Task:
    """One task: training and test inputs with integer labels (within-task labels).

    ``classes`` maps a within-task label to a global class id, for class-incremental
    evaluation (``None``: within-task labels are already global).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: Tensor | None = None


def _digits_split(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """digits as ``[N, 64]`` in [0, 1], one stratified 70/30 split per seed."""
    selection = require("sklearn.model_selection", "scikit-learn", "demo")
    x, y = load_digits()
    train, test = selection.train_test_split(
        np.arange(len(y)), test_size=0.3, stratify=y.numpy(), random_state=seed
    )
    train, test = torch.from_numpy(train), torch.from_numpy(test)
    return x[train], y[train], x[test], y[test]


def permuted_digits(num_tasks: int = 10, seed: int = 0) -> list[Task]:
    """Digits with the 64 pixels in a fixed random order per task (task 0 keeps them).

    Returns:
        ``num_tasks`` 10-way tasks: ``x`` ``[n, 64]`` float32 in [0, 1], ``y`` int64.

    Raises:
        ValueError: ``num_tasks`` < 1.

    Example:
        >>> from hypernetworks.datasets import permuted_digits
        >>> tasks = permuted_digits(3)
        >>> len(tasks), tuple(tasks[0].x_train.shape)
        (3, (1257, 64))
    """
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1:
        raise ValueError(f"permuted-digits needs num_tasks >= 1, got {num_tasks!r}")
    x_tr, y_tr, x_te, y_te = _digits_split(seed)
    rng = np.random.default_rng(seed)
    perms = [np.arange(64)] + [rng.permutation(64) for _ in range(num_tasks - 1)]
    return [
        Task(x_tr[:, torch.from_numpy(p)], y_tr, x_te[:, torch.from_numpy(p)], y_te) for p in perms
    ]


def split_digits(num_tasks: int = 5, seed: int = 0) -> list[Task]:
    """Digits split into tasks of two classes ((0, 1), (2, 3), ...), labels 0/1 per task.

    Returns:
        ``num_tasks`` (1-5) binary tasks; ``Task.classes`` maps labels to the digits.

    Raises:
        ValueError: ``num_tasks`` outside 1-5.

    Example:
        >>> from hypernetworks.datasets import split_digits
        >>> [t.classes.tolist() for t in split_digits(2)]
        [[0, 1], [2, 3]]
    """
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or not 1 <= num_tasks <= 5:
        raise ValueError(f"split-digits has 1 to 5 tasks of two digits, got {num_tasks!r}")
    x_tr, y_tr, x_te, y_te = _digits_split(seed)
    tasks = []
    for t in range(num_tasks):
        pair = torch.tensor([2 * t, 2 * t + 1])
        tr, te = torch.isin(y_tr, pair), torch.isin(y_te, pair)
        tasks.append(Task(x_tr[tr], y_tr[tr] % 2, x_te[te], y_te[te] % 2, classes=pair))
    return tasks


def digits_splits(seed: int, n_train: int = 300, n_val: int = 700) -> dict[str, Tensor]:
    """Digits split into train (``n_train``), validation (``n_val``) and test (the rest),
    stratified, standardised with the training statistics.

    Returns:
        ``x_train``, ``x_val``, ``x_test`` (float32 ``[n, 64]``) and ``y_*`` (int64).

    Example:
        >>> from hypernetworks.datasets import digits_splits
        >>> data = digits_splits(0)
        >>> tuple(data["x_train"].shape), tuple(data["x_val"].shape)
        ((300, 64), (700, 64))
    """
    selection = require("sklearn.model_selection", "scikit-learn", "demo")
    train_test_split = selection.train_test_split
    x, y = require("sklearn.datasets", "scikit-learn", "demo").load_digits(return_X_y=True)
    x_tr, x_rest, y_tr, y_rest = train_test_split(
        x, y, train_size=n_train, stratify=y, random_state=seed
    )
    x_va, x_te, y_va, y_te = train_test_split(
        x_rest, y_rest, train_size=n_val, stratify=y_rest, random_state=seed
    )
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-3
    out = {}
    for split, (a, b) in {"train": (x_tr, y_tr), "val": (x_va, y_va), "test": (x_te, y_te)}.items():
        out[f"x_{split}"] = torch.tensor((a - mean) / std, dtype=torch.float32)
        out[f"y_{split}"] = torch.tensor(b)
    return out
