"""Binding generated tensors to the target, and finding repeated conditions.

The shared path runs the target's own ``forward`` through
``torch.func.functional_call``, which swaps the given tensors in for one call and
restores the module afterwards — no class swapping, no ``__dict__`` surgery. The
per-sample path lives in ``_per_sample.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["call_shared", "distinct_rows"]


def call_shared(
    module: nn.Module,
    weights: Mapping[str, Tensor],
    args: tuple,
    kwargs: Mapping[str, object] | None = None,
) -> object:
    """Run ``module(*args, **kwargs)`` with ``weights`` in place of those parameters."""
    return functional_call(module, dict(weights), args, dict(kwargs or {}))


@functools.lru_cache(maxsize=32)
def _projection(width: int, device: torch.device) -> Tensor:
    """A fixed random direction: keys for telling rows apart (see :func:`distinct_rows`)."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(width, generator=generator, dtype=torch.float64).to(device)


def _first_occurrence(inverse: Tensor, count: int) -> Tensor:
    """For each of ``count`` groups, the position of its first member in ``inverse``."""
    batch = inverse.shape[0]
    positions = torch.arange(batch, device=inverse.device)
    first = torch.full((count,), batch, device=inverse.device, dtype=positions.dtype)
    return first.scatter_reduce(0, inverse, positions, reduce="amin")


def distinct_rows(rows: Tensor) -> tuple[Tensor, Tensor] | None:
    """``(first, inverse)`` such that ``rows[first][inverse]`` equals ``rows``; None if all differ.

    ``first`` holds the index of the first occurrence of each distinct row. It lets the
    hypernetwork generate each distinct weight set once for a batch of repeated conditions.
    Rows are keyed by a fixed random projection (a 1-D ``unique`` is far cheaper than a
    row-wise one); the grouping is then checked exactly, and on a key collision the exact
    row-wise ``unique`` decides.
    """
    batch = rows.shape[0]
    flat = rows.detach().reshape(batch, -1)
    keys = flat.to(torch.float64) @ _projection(flat.shape[1], flat.device)
    _, inverse = torch.unique(keys, return_inverse=True)
    count = int(inverse.max()) + 1
    first = _first_occurrence(inverse, count)
    if not torch.equal(flat[first][inverse], flat):  # two different rows shared a key
        _, inverse = torch.unique(flat, dim=0, return_inverse=True)
        count = int(inverse.max()) + 1
        first = _first_occurrence(inverse, count)
    return None if count == batch else (first, inverse)
