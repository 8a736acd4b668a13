"""Low-rank generated weights applied without building them, in the per-sample path.

With the ``LowRank`` head a generated matrix is ``W = θ₀ + A·B`` (A ``[m, r]``, B
``[r, n]``). Per sample, building ``W`` costs ``B × m × n`` memory and time, however small
``r`` is. For a linear layer the product never needs to exist:
``x·Wᵀ = x·θ₀ᵀ + (x·Bᵀ)·Aᵀ``, where ``x·θ₀ᵀ`` is one matmul shared by the whole batch.

Inside the per-sample call, each factored parameter is bound to a *placeholder* tensor
(θ₀ itself, or a zero of the right shape without θ₀). :class:`FactoredWeights`, a
``TorchFunctionMode``, recognises placeholders by identity: ``F.linear`` on one takes the
factored route; any other function that receives one gets the built matrix instead. So
results never depend on how a module uses its weight; only linear layers get faster.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

__all__ = ["FactoredWeights", "placeholder"]

Factors = tuple[Tensor | None, Tensor, Tensor]  # (θ₀ or None, A [m, r], B [r, n])


def placeholder(base: Tensor | None, shape: torch.Size | None, like: Tensor) -> Tensor:
    """The tensor bound in place of a factored parameter: θ₀, or a zero without it."""
    if base is not None:
        return base
    return torch.zeros((), dtype=like.dtype, device=like.device).expand(shape)


class FactoredWeights(TorchFunctionMode):
    """Resolve placeholders: ``F.linear`` factored, everything else on the built matrix.

    Args:
        table: ``id(placeholder) -> (placeholder, θ₀ or None, A, B)`` for one sample.
    """

    def __init__(self, table: Mapping[int, tuple[Tensor, Tensor | None, Tensor, Tensor]]) -> None:
        super().__init__()
        self.table = table

    def _built(self, value: object) -> object:
        if isinstance(value, Tensor) and id(value) in self.table:
            holder, base, a, b = self.table[id(value)]
            delta = (a @ b).reshape(holder.shape)
            return delta if base is None else base + delta
        return value

    def _mentions(self, values) -> bool:
        """Whether a placeholder is among ``values`` or one level down (e.g. ``cat``'s list)."""
        table = self.table
        for value in values:
            if isinstance(value, Tensor) and id(value) in table:
                return True
            if isinstance(value, (list, tuple)) and any(
                isinstance(v, Tensor) and id(v) in table for v in value
            ):
                return True
        return False

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if not (self._mentions(args) or self._mentions(kwargs.values())):
            return func(*args, **kwargs)
        if func is F.linear and len(args) >= 2 and id(args[1]) in self.table:
            _, base, a, b = self.table[id(args[1])]
            x = args[0]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            low_rank = (x @ b.transpose(-1, -2)) @ a.transpose(-1, -2)
            if base is None:
                return low_rank if bias is None else low_rank + bias
            return F.linear(x, base, bias) + low_rank
        args, kwargs = tree_map(self._built, (args, kwargs))
        return func(*args, **kwargs)
