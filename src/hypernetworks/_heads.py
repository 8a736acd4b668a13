"""Output heads: how the hypernetwork body's features become target tensors.

The output categories of the hypernetwork taxonomy — all at once (``Full``), chunk by
chunk (``Chunked``, von Oswald et al. 2020), layer by layer (``LayerWise``, Ha, Dai & Le
2016) — plus the low-rank decoder of LoGAH (``LowRank``).

The protocol (:class:`Head`, :class:`HeadModule`) is in ``_head_base``; ``Full`` is
here, ``Chunked`` and ``LayerWise`` (generators fed learned embeddings) in
``_head_embedded``, ``LowRank`` in ``_head_lowrank``.

Initialisation. With MIP's residual formulation (``θ = θ₀ + Δθ``) the layer that emits
Δθ starts at zero — for ``LowRank`` only the B factor, as in LoRA, so gradients still
reach A — so a hypernetized pretrained model computes exactly what the target did. The
last layer then has no bias, since θ₀ already plays that role. Without the residual
formulation every layer keeps PyTorch's default initialisation (the plain formulation
the MIP paper compares against).
"""

from __future__ import annotations

from torch import Tensor, nn

from ._checks import describe
from ._forms import Form
from ._head_base import Bases, Head, HeadModule, Shapes, contracted, numel, split
from ._head_embedded import Chunked, LayerWise
from ._head_lowrank import LowRank

__all__ = ["Chunked", "Full", "Head", "HeadModule", "LayerWise", "LowRank", "resolve_head"]


class Full(Head):
    """One linear output block per generated tensor (fused into a single matmul).

    Its output layer has ``H × P`` weights for ``P`` generated numbers: fastest to
    evaluate, largest in parameters. ``head="full"`` means ``Full()``.

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks import hypernetize
        >>> model = hypernetize(nn.Linear(3, 2), 4, head=Full())
    """

    def build(self, shapes: Shapes, in_features: int, *, residual: bool) -> nn.Module:
        return _FullHead(shapes, in_features, residual)


class _FullHead(HeadModule):
    def __init__(self, shapes: Shapes, in_features: int, residual: bool) -> None:
        super().__init__()
        self.shapes = list(shapes)
        self.out = nn.Linear(in_features, sum(map(numel, shapes)), bias=not residual)
        if residual:
            nn.init.zeros_(self.out.weight)

    def forward(self, h: Tensor, bases: Bases) -> list[Tensor]:
        return split(self.out(h), self.shapes, bases)

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """Vectors built; matrices as ``θ₀ + reshape(h·Gᵀ)`` with G this head's rows."""
        return contracted(h, self.out.weight, self.out.bias, self.shapes, bases)


def resolve_head(head: str | Head) -> Head:
    """Turn the ``head`` argument of :func:`hypernetize` into a :class:`Head`."""
    if isinstance(head, Head):
        return head
    if isinstance(head, str):
        if head == "full":
            return Full()
        raise ValueError(
            f"head must be 'full' or a head object (Full(), Chunked(...), LayerWise(...), "
            f"LowRank(...)), got {head!r}"
        )
    raise TypeError(f"head must be 'full' or a hypernetworks.Head, got {describe(head)}")
