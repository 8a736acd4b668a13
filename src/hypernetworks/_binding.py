"""Binding generated tensors to the target: one weight set, or one per sample.

Both paths run the target's own ``forward`` through ``torch.func.functional_call``,
which swaps the given tensors in for one call and restores the module afterwards — no
class swapping, no ``__dict__`` surgery.

Per-sample semantics: sample ``i`` is computed by the network whose weights are row
``i`` of each generated tensor, applied to ``x[i]`` as a batch of one — exactly what
``materialize(c[i])(x[i:i+1])`` computes. ``torch.func.vmap`` vectorizes this over
the batch. For normalisation layers that track running statistics (BatchNorm,
InstanceNorm) in training mode, each sample therefore normalises with its own
statistics, and the running statistics move by the average of the per-sample updates.

Repeated conditions: when samples share weights and no layer couples samples (see
:func:`couples_samples`), each distinct weight set runs once on its samples as a padded
sub-batch — the same outputs as one sample at a time, with one weight set per group
instead of per sample.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn.modules.batchnorm import _BatchNorm, _NormBase
from torch.utils._pytree import tree_map

from ._factored import FactoredWeights, placeholder
from ._recurrent import RecurrentKernels

__all__ = ["Groups", "call_grouped", "call_shared", "couples_samples", "distinct_rows",
           "plan_groups"]


def call_shared(module: nn.Module, weights: Mapping[str, Tensor], args: tuple) -> object:
    """Run ``module(*args)`` with ``weights`` in place of its parameters of those names."""
    return functional_call(module, dict(weights), args)


def _running_stats(module: nn.Module) -> dict[str, Tensor]:
    """Buffers that normalisation layers update in place during a training forward."""
    stats = {}
    for prefix, sub in module.named_modules():
        if isinstance(sub, _NormBase) and sub.track_running_stats and sub.training:
            for name, buffer in sub.named_buffers(recurse=False):
                if buffer is not None:
                    stats[f"{prefix}.{name}" if prefix else name] = buffer
    return stats


def couples_samples(module: nn.Module) -> bool:
    """Whether a sample's output can depend on the other samples of its batch.

    True for BatchNorm using batch statistics (training mode, or no running statistics)
    and for any layer updating running statistics. Other ``torch.nn`` layers treat
    samples independently; custom modules are assumed to as well.
    """
    for sub in module.modules():
        if isinstance(sub, _BatchNorm) and (sub.training or not sub.track_running_stats):
            return True
    return bool(_running_stats(module))


class Groups(NamedTuple):
    """Which weight row each sample uses, and its slot in that row's padded sub-batch."""

    index: Tensor  # [B]
    slot: Tensor  # [B]
    size: int  # samples per group after padding
    count: int  # number of groups (weight rows)


def plan_groups(index: Tensor, count: int) -> Groups:
    """Lay out samples with weight row ``index[i]`` into ``count`` padded sub-batches."""
    order = torch.argsort(index, stable=True)
    sizes = torch.bincount(index, minlength=count)
    starts = sizes.cumsum(0) - sizes
    slot = torch.empty_like(index)
    slot[order] = torch.arange(len(index), device=index.device) - starts[index[order]]
    return Groups(index, slot, int(sizes.max()), count)


def _check_batch_first(size: int):
    position = [0]

    def check(leaf: object) -> object:
        position[0] += 1
        if isinstance(leaf, Tensor) and (leaf.dim() == 0 or leaf.shape[0] != size):
            raise ValueError(
                "with a batch of conditions every tensor the target returns must have the "
                f"batch as its first dimension; output #{position[0] - 1} for a group of "
                f"{size} sample(s) has shape {tuple(leaf.shape)} (e.g. use batch_first=True, "
                "or return only batch-first outputs)"
            )
        return leaf

    return check


def call_grouped(
    module: nn.Module,
    weights: Mapping[str, Tensor],
    args: tuple,
    *,
    groups: Groups | None,
    recurrent: bool,
    factors: Mapping[str, tuple[Tensor | None, Tensor, Tensor]] | None = None,
) -> object:
    """Run every sample through the network of its row of generated weights.

    Row ``g`` of each weight runs once, vmapped, on the samples assigned to it as one
    sub-batch. With ``groups=None`` row ``i`` belongs to sample ``i`` alone (the
    per-sample case: each sample is a batch of one).

    Args:
        module: the target (its parameters of the given names are replaced).
        weights: name -> ``[U, *shape]``, one row per group.
        args: the target's positional inputs, each with the batch as dim 0.
        groups: the sample -> row assignment (see :func:`plan_groups`), or None.
        recurrent: route RNN/GRU/LSTM kernels through :class:`RecurrentKernels`.
        factors: name -> ``(θ₀ or None, A [U, m, r], B [U, r, n])`` for low-rank weights,
            applied without building them (see ``_factored.py``).
    """
    if groups is None:
        size, inputs = 1, tuple(x.unsqueeze(1) for x in args)
    else:
        size = groups.size
        inputs = tuple(
            x.new_zeros((groups.count, size, *x.shape[1:])).index_put((groups.index, groups.slot), x)
            for x in args
        )
    count = inputs[0].shape[0]
    stats = _running_stats(module)
    group_stats = {k: v.unsqueeze(0).expand(count, *v.shape).clone() for k, v in stats.items()}
    factors = dict(factors or {})
    holders = {
        n: placeholder(base, None if base is not None else module.get_parameter(n).shape, a)
        for n, (base, a, _) in factors.items()
    }
    a_factors = {n: a for n, (_, a, _) in factors.items()}
    b_factors = {n: b for n, (_, _, b) in factors.items()}

    def one(w: dict, s: dict, a: dict, b: dict, *xs: Tensor) -> object:
        modes = []
        if factors:
            table = {id(holders[n]): (holders[n], factors[n][0], a[n], b[n]) for n in factors}
            modes.append(FactoredWeights(table))
        if recurrent:
            modes.append(RecurrentKernels())
        with contextlib.ExitStack() as stack:
            for mode in modes:
                stack.enter_context(mode)
            out = functional_call(module, {**w, **holders, **s}, xs)
        return tree_map(_check_batch_first(size), out)

    # MultiheadAttention's fused inference kernel has no vmap batching rule; inside this
    # call it takes the regular (vmappable) path instead.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        out = vmap(one, randomness="different")(
            dict(weights), group_stats, a_factors, b_factors, *inputs
        )
    except ValueError as error:
        if "Expected more than 1 value per channel" in str(error):
            raise ValueError(
                "with per-sample conditions each sample runs as a batch of one, and a "
                "normalisation layer in training mode cannot take statistics from one value "
                "per channel; call model.eval(), or give the batch one shared condition"
            ) from error
        raise
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    with torch.no_grad():
        for name, buffer in stats.items():
            updated = group_stats[name]
            buffer.copy_(updated.mean(0) if buffer.is_floating_point() else updated[0])
    if groups is None:
        return tree_map(lambda t: t.squeeze(1) if isinstance(t, Tensor) else t, out)
    return tree_map(lambda t: t[groups.index, groups.slot] if isinstance(t, Tensor) else t, out)


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
