"""Checking and converting the user's tasks for a continual run."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .._checks import describe
from ..datasets import Task

__all__ = ["as_tasks"]


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
    result: list[Task] = []
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
        task = Task(
            _tensor(task.x_train, f"task #{i} x_train", True),
            _tensor(task.y_train, f"task #{i} y_train", False),
            _tensor(task.x_test, f"task #{i} x_test", True),
            _tensor(task.y_test, f"task #{i} y_test", False),
            task.classes,
        )
        for split in ("train", "test"):
            x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
            if len(x) != len(y) or len(x) == 0:
                raise ValueError(
                    f"task #{i} needs as many {split} labels as inputs (and at least one), "
                    f"got {len(x)} inputs and {len(y)} labels"
                )
        if task.x_train.shape[1:] != task.x_test.shape[1:]:
            raise ValueError(
                f"task #{i}: train inputs have shape {tuple(task.x_train.shape[1:])} "
                f"but test inputs {tuple(task.x_test.shape[1:])}"
            )
        if result and task.x_train.shape[1:] != result[0].x_train.shape[1:]:
            raise ValueError(
                f"every task must have the same input shape: task #0 has "
                f"{tuple(result[0].x_train.shape[1:])}, "
                f"task #{i} has {tuple(task.x_train.shape[1:])}"
            )
        result.append(task)
    return result
