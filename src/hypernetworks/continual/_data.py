"""Continual-learning tasks: the user's own, and two benchmarks on scikit-learn's digits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .._checks import describe

__all__ = ["Task", "as_tasks", "permuted_digits", "split_digits"]


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


def _tensor(value: object, name: str, floating: bool) -> Tensor:
    if isinstance(value, Tensor):
        tensor = value
    elif isinstance(value, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(value))
    else:
        raise TypeError(f"{name} must be a Tensor or a numpy array, got {describe(value)}")
    if floating:
        if not tensor.is_floating_point():
            raise TypeError(f"{name} must hold floats, got dtype {tensor.dtype}")
        return tensor.float()
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels, got dtype {tensor.dtype}")
    return tensor.long()


def as_tasks(tasks: Sequence) -> list[Task]:
    """Check and convert a sequence of tasks.

    Each item is a :class:`Task`, or ``(x_train, y_train, x_test, y_test)``, or
    ``(x, y)`` (then the same data serve for training and testing). All tasks must have
    the same input shape.
    """
    if not isinstance(tasks, (list, tuple)):
        raise TypeError(f"tasks must be a list of tasks, got {describe(tasks)}")
    if not tasks:
        raise ValueError("tasks is empty: a continual run needs at least one task")
    result = []
    for i, item in enumerate(tasks):
        if isinstance(item, Task):
            task = item
        elif isinstance(item, (list, tuple)) and len(item) in (2, 4):
            parts = list(item) if len(item) == 4 else [item[0], item[1], item[0], item[1]]
            task = Task(*parts)
        else:
            raise TypeError(
                f"task #{i} must be a Task, (x, y) or (x_train, y_train, x_test, y_test), "
                f"got {describe(item)}"
            )
        task = Task(_tensor(task.x_train, f"task #{i} x_train", True),
                    _tensor(task.y_train, f"task #{i} y_train", False),
                    _tensor(task.x_test, f"task #{i} x_test", True),
                    _tensor(task.y_test, f"task #{i} y_test", False), task.classes)
        for split in ("train", "test"):
            x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
            if len(x) != len(y) or len(x) == 0:
                raise ValueError(
                    f"task #{i} needs as many {split} labels as inputs (and at least one), "
                    f"got {len(x)} inputs and {len(y)} labels"
                )
        if task.x_train.shape[1:] != task.x_test.shape[1:]:
            raise ValueError(f"task #{i}: train inputs have shape {tuple(task.x_train.shape[1:])} "
                             f"but test inputs {tuple(task.x_test.shape[1:])}")
        if result and task.x_train.shape[1:] != result[0].x_train.shape[1:]:
            raise ValueError(
                f"every task must have the same input shape: task #0 has "
                f"{tuple(result[0].x_train.shape[1:])}, task #{i} has {tuple(task.x_train.shape[1:])}"
            )
        result.append(task)
    return result


def _digits(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(x / 16.0, y, test_size=0.3, stratify=y, random_state=seed)


def permuted_digits(num_tasks: int = 10, seed: int = 0) -> list[Task]:
    """Digits with the 64 pixels in a fixed random order per task (task 0 keeps them); 10-way."""
    x_tr, x_te, y_tr, y_te = _digits(seed)
    rng = np.random.default_rng(seed)
    perms = [np.arange(64)] + [rng.permutation(64) for _ in range(num_tasks - 1)]
    f = lambda a: torch.tensor(a, dtype=torch.float32)
    return [Task(f(x_tr[:, p]), torch.tensor(y_tr), f(x_te[:, p]), torch.tensor(y_te))
            for p in perms]


def split_digits(num_tasks: int = 5, seed: int = 0) -> list[Task]:
    """Digits split into tasks of two classes ((0, 1), (2, 3), ...), a shared 2-unit head."""
    if not 1 <= num_tasks <= 5:
        raise ValueError(f"split-digits has at most 5 tasks of two digits, got {num_tasks}")
    x_tr, x_te, y_tr, y_te = _digits(seed)
    tasks = []
    for t in range(num_tasks):
        tr, te = np.isin(y_tr, (2 * t, 2 * t + 1)), np.isin(y_te, (2 * t, 2 * t + 1))
        tasks.append(Task(torch.tensor(x_tr[tr], dtype=torch.float32), torch.tensor(y_tr[tr] % 2),
                          torch.tensor(x_te[te], dtype=torch.float32), torch.tensor(y_te[te] % 2),
                          classes=torch.tensor([2 * t, 2 * t + 1])))
    return tasks
