"""The data a sweep trains and scores on: a tuple of tensors sharing their first dimension
(batched here) or any iterable of batches (a DataLoader), each batch a tuple of tensors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from .._checks import check_positive_int
from ..runner import shard, world


def as_tensors(data: object) -> tuple[Tensor, ...] | None:
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, Tensor) for t in data):
        n = data[0].shape[0] if data[0].dim() else None
        if n is None or any(t.dim() == 0 or t.shape[0] != n for t in data):
            raise ValueError(
                "data tensors must share their first dimension, got shapes "
                f"{[tuple(t.shape) for t in data]}"
            )
        if n == 0:
            raise ValueError("the data has no samples")
        return tuple(data)
    return None


def shard_rows(batch: Any) -> tuple[Any, float]:
    """This rank's rows of a batch that is a tuple/list of tensors sharing dim 0 (and the
    weight of its mean loss); any other batch as it is, with weight 1."""
    if world()[1] > 1 and (
        isinstance(batch, (tuple, list))
        and batch
        and all(isinstance(t, Tensor) and t.dim() > 0 for t in batch)
        and len({t.shape[0] for t in batch}) == 1
    ):
        index, weight = shard(torch.arange(batch[0].shape[0]))
        rows = [t[index] for t in batch]
        return (tuple(rows) if isinstance(batch, tuple) else rows), weight
    return batch, 1.0


def batches(
    data: object, batch_size: int | None, generator: torch.Generator
) -> Iterator[tuple[Tensor, ...]]:
    tensors = as_tensors(data)
    if tensors is not None:
        n = tensors[0].shape[0]
        if batch_size is not None:
            check_positive_int(batch_size, "batch_size")
        if batch_size is None or batch_size >= n:
            while True:
                yield tensors
        while True:
            order = torch.randperm(n, generator=generator)
            for i in range(0, n - batch_size + 1, batch_size):
                idx = order[i : i + batch_size]
                yield tuple(t[idx] for t in tensors)
    while True:
        empty = True
        for batch in iterate(data):
            empty = False
            yield batch
        if empty:
            raise ValueError("the data iterable yielded no batches")


def eval_batches(data: object) -> Iterator[tuple[Tensor, ...]]:
    tensors = as_tensors(data)
    if tensors is not None:
        yield tensors
        return
    yield from iterate(data)


def iterate(data: object) -> Iterator[tuple[Tensor, ...]]:
    """One pass over an iterable of batches, each as a tuple of tensors."""
    if not isinstance(data, Iterable):
        raise TypeError(
            f"data must be a tuple of tensors or an iterable of batches, got {type(data).__name__}"
        )
    for batch in data:
        yield tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
