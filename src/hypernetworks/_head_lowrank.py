"""``LowRank``: every generated matrix as ``A · Bᵀ`` (LoGAH's low-rank decoder)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._checks import check_positive_int
from ._forms import Factored, Form
from ._head_base import Bases, Head, HeadModule, Shapes, numel

__all__ = ["LowRank"]


class LowRank(Head):
    """Every 2-D+ weight as ``A · Bᵀ`` of rank ``rank``; vectors generated directly.

    A weight of shape ``(m, *rest)`` is treated as an ``m × prod(rest)`` matrix (for a
    convolution: output channels × the rest of the kernel), as in LoGAH's low-rank
    decoder. The head emits ``rank × (m + n)`` numbers per matrix instead of ``m × n``.

    Args:
        rank: the rank of each generated (Δ) matrix.

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks import hypernetize
        >>> model = hypernetize(nn.Conv2d(8, 16, 3), 4, head=LowRank(rank=2))
    """

    def __init__(self, rank: int) -> None:
        self.rank = check_positive_int(rank, "rank")

    def build(self, shapes: Shapes, in_features: int, *, residual: bool) -> nn.Module:
        return _LowRankHead(self.rank, shapes, in_features, residual)


class _LowRankHead(HeadModule):
    """Emits, per matrix, A ``[m, r]`` and B ``[r, n]`` (row-major, so no transposes), and
    per vector its values; matrices become ``θ₀ + A·B`` in one ``addmm``/``baddbmm``."""

    def __init__(self, rank: int, shapes: Shapes, in_features: int, residual: bool) -> None:
        super().__init__()
        self.rank = rank
        self.shapes = list(shapes)
        self.sizes: list[int] = []  # per tensor: its A and B blocks (matrices) or one block
        zeroed: list[tuple[int, int]] = []  # rows that start at zero under residual
        offset = 0
        for shape in self.shapes:
            if len(shape) >= 2:
                a, b = shape[0] * rank, numel(shape[1:]) * rank
                self.sizes += [a, b]
                zeroed.append((offset + a, offset + a + b))
                offset += a + b
            else:
                self.sizes.append(numel(shape))
                zeroed.append((offset, offset + numel(shape)))
                offset += numel(shape)
        self.out = nn.Linear(in_features, offset, bias=not residual)
        if residual:
            with torch.no_grad():
                for start, stop in zeroed:
                    self.out.weight[start:stop].zero_()

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """Per tensor: a vector ``θ₀ + v`` (a Tensor), or a matrix as
        :class:`Factored` ``(θ₀ or None, A [..., m, r], B [..., r, n])``, unmultiplied."""
        lead = tuple(h.shape[:-1])
        pieces = iter(self.out(h).split(self.sizes, dim=-1))
        result: list[Form] = []
        for index, shape in enumerate(self.shapes):
            base = None if bases is None else bases[index]
            if len(shape) < 2:
                delta = next(pieces)
                if delta.shape != (*lead, *shape):
                    delta = delta.reshape((*lead, *shape))
                result.append(delta if base is None else base + delta)
            else:
                a = next(pieces).view(*lead, shape[0], self.rank)
                b = next(pieces).view(*lead, self.rank, numel(shape[1:]))
                result.append(Factored(base, a, b))
        return result

    def forward(self, h: Tensor, bases: Bases) -> list[Tensor]:
        lead = tuple(h.shape[:-1])
        result = []
        for shape, part in zip(self.shapes, self.factored(h, bases), strict=True):
            if isinstance(part, Tensor):
                result.append(part)
                continue
            if not isinstance(part, Factored):
                raise TypeError(f"LowRank produced {type(part).__name__}, not Factored")
            base, a, b = part
            m, n = a.shape[-2], b.shape[-1]
            if base is None:
                matrix = a @ b
            elif not lead:
                matrix = torch.addmm(base if base.dim() == 2 else base.reshape(m, n), a, b)
            else:
                matrix = torch.baddbmm(base.reshape(1, m, n), a, b)
            result.append(matrix if len(shape) == 2 else matrix.reshape((*lead, *shape)))
        return result
