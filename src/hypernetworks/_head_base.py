"""The head protocol: :class:`Head` specs build :class:`HeadModule` s.

A head is a small spec object; :meth:`Head.build` turns it into a module for a given
list of tensor shapes. The built module maps features ``h`` — ``[H]`` for one condition
or ``[U, H]`` for U distinct conditions — to one tensor ``[*shape]`` / ``[U, *shape]``
per generated parameter. Given the bases θ₀ (MIP's residual formulation) it returns
``θ₀ + Δθ``, fused into one op where it can: on small targets the hypernetwork's cost is
mostly the number of ops, not their arithmetic. The helpers here cut a head's flat
output into tensors (:func:`split`) and hand linear outputs to the per-sample path
unbuilt (:func:`contracted`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._forms import Contracted, Form

__all__ = ["Bases", "Head", "HeadModule", "Shapes", "contracted", "numel", "split"]

Shapes = Sequence[torch.Size]


def numel(shape: torch.Size) -> int:
    return math.prod(shape)


Bases = Sequence[Tensor] | None


def split(flat: Tensor, shapes: Shapes, bases: Bases) -> list[Tensor]:
    """Cut ``[..., sum(numel)]`` — a fresh output of a linear layer — into ``[..., *shape]``.

    With bases and no gradient recorded (generation, inference), θ₀ is added *in place*:
    the weights then occupy the layer's output buffer and no full-size Δθ exists beside
    them. Under autograd the addition is out of place: an in-place write into a view gives
    each tensor a ``CopySlices`` node whose backward copies the whole buffer's gradient.
    """
    lead, out = flat.shape[:-1], []
    inplace = not (torch.is_grad_enabled() and flat.requires_grad)
    sizes = [numel(shape) for shape in shapes]
    spare = flat.shape[-1] - sum(sizes)  # a last chunk's unused tail
    # One split (whose backward is one cat): a narrow per tensor would zero-fill a
    # full-size gradient for each of them.
    pieces = flat.split(sizes + [spare] if spare else sizes, dim=-1)
    for index, shape in enumerate(shapes):
        piece = pieces[index].view((*lead, *shape))
        if bases is not None:
            base = bases[index]
            # Under autocast the head's output may be bf16: the result takes θ₀'s dtype.
            same = piece.dtype == base.dtype
            piece = piece.add_(base) if inplace and same else base + piece
        out.append(piece)
    return out


class HeadModule(nn.Module):
    """Base class of built heads: features in, one generated tensor per shape out.

    Subclasses implement :meth:`forward`. They may also override :meth:`factored` to hand
    the per-sample path weights it can apply without building them (see
    :class:`~hypernetworks.Factored` and :class:`~hypernetworks.Contracted`). A head that
    does not is still correct everywhere: the per-sample path then receives built weights.

    Example:
        >>> import torch, torch.nn as nn
        >>> class Scaled(HeadModule):  # Δθ = s(h) · θ₀ for every tensor
        ...     def __init__(self, shapes, width):
        ...         super().__init__()
        ...         self.shapes, self.scale = list(shapes), nn.Linear(width, len(shapes))
        ...     def forward(self, h, bases):
        ...         s = self.scale(h)
        ...         return [b * (1 + s[..., i].reshape(*s.shape[:-1], *[1] * b.dim()))
        ...                 for i, b in enumerate(bases)]
        >>> head = Scaled([torch.Size([2, 3])], 4)
        >>> [t.shape for t in head(torch.randn(5, 4), [torch.ones(2, 3)])]
        [torch.Size([5, 2, 3])]
    """

    def forward(self, h: Tensor, bases: Bases) -> list[Tensor]:
        """Generated tensors for features ``h``.

        Args:
            h: the body's features, ``[H]`` for one condition or ``[U, H]`` for U.
            bases: θ₀ per tensor under MIP's residual formulation (add them), else None.

        Returns:
            One tensor per shape, ``[*shape]`` or ``[U, *shape]``.
        """
        raise NotImplementedError

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """The same weights as :meth:`forward`, each as a tensor or a factored form.

        The per-sample path calls this with ``h`` ``[U, H]``. A :class:`Factored` or
        :class:`Contracted` entry must stand for exactly what ``forward`` returns for
        that tensor (θ₀ included in its ``base``). The default returns ``forward``'s
        tensors.
        """
        return list(self(h, bases))


class Head:
    """Base class of output-head specs. Subclasses implement :meth:`build`.

    A spec holds the head's settings; :meth:`build` makes a :class:`HeadModule` for the
    list of generated shapes (a plain ``nn.Module`` with the same ``forward(h, bases)``
    works too, without the factored form).

    Example:
        >>> import torch, torch.nn as nn
        >>> from hypernetworks import Full, hypernetize
        >>> class Doubled(Head):  # Full, with every Δθ doubled
        ...     def build(self, shapes, in_features, *, residual):
        ...         return Full().build(shapes, in_features, residual=residual)
        >>> hypernetize(nn.Linear(3, 2), 4, head=Doubled())(torch.randn(1, 3), torch.randn(4)).shape
        torch.Size([1, 2])
    """

    def build(self, shapes: Shapes, in_features: int, *, residual: bool) -> nn.Module:
        """A module mapping features ``[H]``/``[U, H]`` to one tensor per shape.

        Args:
            shapes: the generated tensors' shapes, in order.
            in_features: the body's output width ``H``.
            residual: MIP's residual formulation: ``forward`` gets θ₀ and adds it.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


def contracted(
    features: Tensor, weight: Tensor, bias: Tensor | None, shapes: Shapes, bases: Bases
) -> list[Form]:
    """Per tensor of ``shapes`` (laid end to end in ``weight``'s rows): a vector
    ``θ₀ + W·h + b``, or a matrix as :class:`Contracted` (never built).

    The rows are cut with one ``split`` (whose backward is one ``cat``): a ``narrow`` per
    tensor would zero-fill a full-size gradient for each of them.
    """
    out: list[Form] = []
    lead = features.shape[:-1]
    sizes = [numel(shape) for shape in shapes]
    blocks = weight.split(sizes, dim=0)
    biases = [None] * len(shapes) if bias is None else list(bias.split(sizes, dim=0))
    for index, (shape, rows, part_bias) in enumerate(zip(shapes, blocks, biases, strict=True)):
        base = None if bases is None else bases[index]
        if len(shape) < 2:
            vector = F.linear(features, rows, part_bias).view(*lead, *shape)
            out.append(vector if base is None else base + vector)
            continue
        if part_bias is not None:
            part_bias = part_bias.view(shape)
            base = part_bias if base is None else base + part_bias
        out.append(Contracted(base, features, rows))
    return out
