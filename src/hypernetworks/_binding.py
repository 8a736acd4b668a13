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
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn.modules.batchnorm import _NormBase
from torch.utils._pytree import tree_map

from ._recurrent import RecurrentKernels

__all__ = ["call_per_sample", "call_shared", "distinct_rows"]


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


def _squeeze_batch(index: list[int]):
    def squeeze(leaf: object) -> object:
        index[0] += 1
        if not isinstance(leaf, Tensor):
            return leaf
        if leaf.dim() == 0 or leaf.shape[0] != 1:
            raise ValueError(
                "with per-sample conditions every tensor the target returns must have the "
                f"batch as its first dimension; output #{index[0] - 1} of one sample has shape "
                f"{tuple(leaf.shape)} (e.g. use batch_first=True, or return only batch-first "
                "outputs)"
            )
        return leaf.squeeze(0)

    return squeeze


def call_per_sample(
    module: nn.Module, weights: Mapping[str, Tensor], args: tuple, *, recurrent: bool
) -> object:
    """Run sample ``i`` of ``args`` through ``module`` with row ``i`` of every weight.

    Args:
        module: the target (its parameters of the given names are replaced).
        weights: name -> ``[B, *shape]``.
        args: the target's positional inputs, each with the batch as dim 0.
        recurrent: route RNN/GRU/LSTM kernels through :class:`RecurrentKernels`.
    """
    batch = args[0].shape[0]
    stats = _running_stats(module)
    per_sample_stats = {k: v.unsqueeze(0).expand(batch, *v.shape).clone() for k, v in stats.items()}

    def one(w: dict, s: dict, *xs: Tensor) -> object:
        inputs = tuple(x.unsqueeze(0) for x in xs)
        if recurrent:
            with RecurrentKernels():
                out = functional_call(module, {**w, **s}, inputs)
        else:
            out = functional_call(module, {**w, **s}, inputs)
        return tree_map(_squeeze_batch([0]), out)

    # MultiheadAttention's fused inference kernel has no vmap batching rule; inside the
    # per-sample call it takes the regular (vmappable) path instead.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        out = vmap(one, randomness="different")(dict(weights), per_sample_stats, *args)
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
            updated = per_sample_stats[name]
            buffer.copy_(updated.mean(0) if buffer.is_floating_point() else updated[0])
    return out


def distinct_rows(rows: Tensor) -> tuple[Tensor, Tensor] | None:
    """``(first, inverse)`` such that ``rows[first][inverse]`` equals ``rows``; None if all differ.

    ``first`` holds the index of the first occurrence of each distinct row. It lets the
    hypernetwork generate each distinct weight set once for a batch of repeated conditions.
    """
    batch = rows.shape[0]
    _, inverse = torch.unique(rows.detach(), dim=0, return_inverse=True)
    count = int(inverse.max()) + 1
    if count == batch:
        return None
    positions = torch.arange(batch, device=rows.device)
    first = torch.full((count,), batch, device=rows.device, dtype=positions.dtype)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    return first, inverse
