"""The forms in which a head may hand over generated weights without building them.

A head's :meth:`~hypernetworks.HeadModule.factored` returns, per generated tensor, either
the tensor itself or one of the forms below. The per-sample path (``_per_sample.py``)
uses a form to apply a layer with per-sample weights without building ``B`` weight sets
(see ``_batched.py``); anything that has no rule for a form gets :func:`build`'s tensor.

* :class:`Factored` — ``W = base + A·B`` (the ``LowRank`` head): a rank-``r`` update.
* :class:`Contracted` — ``W = base + reshape(h·Gᵀ)``: a weight that is linear in some
  features ``h`` (the ``Full`` head's features and its output layer ``G``; ``LayerWise``'s
  hidden activations and its generator's last layer). ``x·Wᵀ`` is then one large
  contraction of ``h ⊗ x`` with ``G``.
* :class:`Chunks` — a weight cut from a stream of chunks ``a_k·Gᵀ`` (the ``Chunked``
  head): every chunk is linear in its own features ``a_k`` through one shared ``G``, so
  ``x·Wᵀ`` needs ``x`` against a few windows of ``G`` only (see ``_batched.py``).

Leading dimensions (``[U, ...]``: one row per condition) sit on ``a``/``b`` and on
``features``; ``base`` and ``generator`` are shared by every row.
"""

from __future__ import annotations

import math
from typing import NamedTuple, TypeAlias

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Chunks", "Contracted", "Factored", "Form", "build", "lead", "take"]


class Factored(NamedTuple):
    """``W = base + (a @ b).reshape(shape)``: a low-rank weight, left unmultiplied.

    Attributes:
        base: θ₀ (MIP's residual) with the parameter's shape, or None.
        a: ``[..., m, r]``.
        b: ``[..., r, n]``, where ``m × n`` is the parameter's numel (``m`` = its dim 0).

    Example:
        >>> import torch
        >>> form = Factored(None, torch.ones(2, 3, 1), torch.ones(2, 1, 4))
        >>> build(form, torch.Size([3, 4])).shape
        torch.Size([2, 3, 4])
    """

    base: Tensor | None
    a: Tensor
    b: Tensor


class Contracted(NamedTuple):
    """``W = base + (features @ generator.T).reshape(shape)``: a weight linear in features.

    Attributes:
        base: θ₀ (and any bias of the generating layer) with the parameter's shape, or None.
        features: ``[..., H]``, one row per condition.
        generator: ``[numel, H]``, shared by every condition.

    Example:
        >>> import torch
        >>> form = Contracted(torch.zeros(3, 4), torch.ones(2, 5), torch.ones(12, 5))
        >>> build(form, torch.Size([3, 4]))[0, 0, 0].item()
        5.0
    """

    base: Tensor | None
    features: Tensor
    generator: Tensor


class Chunks(NamedTuple):
    """``W = base + stream[offset : offset + numel].reshape(shape)``, where the stream is
    the chunks ``hidden @ generator.T (+ bias)`` laid end to end.

    Attributes:
        base: θ₀ with the parameter's shape, or None.
        hidden: ``[..., K, H]``: the features of the ``K`` chunks the tensor overlaps.
        generator: ``[C, H]``, shared by every chunk (``C`` numbers per chunk).
        bias: ``[C]``, the generating layer's bias, or None.
        offset: where the tensor starts in the first of its chunks (``0 <= offset < C``).

    Example:
        >>> import torch
        >>> form = Chunks(None, torch.ones(2, 2, 3), torch.ones(4, 3), None, 1)
        >>> build(form, torch.Size([2, 3])).shape
        torch.Size([2, 2, 3])
    """

    base: Tensor | None
    hidden: Tensor
    generator: Tensor
    bias: Tensor | None
    offset: int


Form: TypeAlias = Tensor | Factored | Contracted | Chunks


def rows(form: Form) -> tuple[Tensor, ...]:
    """The per-condition tensors of a form (each with the leading dimensions); the rest
    is shared by every condition."""
    if isinstance(form, Factored):
        return (form.a, form.b)
    if isinstance(form, Contracted):
        return (form.features,)
    if isinstance(form, Chunks):
        return (form.hidden,)
    return (form,)


def with_rows(form: Form, values: tuple[Tensor, ...]) -> Form:
    """``form`` with its per-condition tensors replaced by ``values`` (see :func:`rows`)."""
    if isinstance(form, Factored):
        return Factored(form.base, values[0], values[1])
    if isinstance(form, Contracted):
        return Contracted(form.base, values[0], form.generator)
    if isinstance(form, Chunks):
        return form._replace(hidden=values[0])
    return values[0]


def base_of(form: Form) -> Tensor | None:
    """θ₀ (the shared part) of a form; None for a built tensor."""
    return None if isinstance(form, Tensor) else form.base


def lead(form: Form, shape: torch.Size) -> tuple[int, ...]:
    """The leading (condition) dimensions of ``form`` for a parameter of ``shape``."""
    if isinstance(form, Factored):
        return tuple(form.a.shape[:-2])
    if isinstance(form, Contracted):
        return tuple(form.features.shape[:-1])
    if isinstance(form, Chunks):
        return tuple(form.hidden.shape[:-2])
    return tuple(form.shape[: form.dim() - len(shape)])


def build(form: Form, shape: torch.Size) -> Tensor:
    """The weights a form stands for: ``[..., *shape]``."""
    if isinstance(form, Tensor):
        return form
    rows = lead(form, shape)
    if isinstance(form, Factored):
        delta = (form.a @ form.b).reshape(*rows, *shape)
    elif isinstance(form, Contracted):
        delta = (form.features @ form.generator.t()).reshape(*rows, *shape)
    else:
        stream = F.linear(form.hidden, form.generator, form.bias).flatten(-2)
        delta = stream.narrow(-1, form.offset, math.prod(shape)).reshape(*rows, *shape)
    return delta if form.base is None else form.base + delta


def take(form: Form, index: Tensor) -> Form:
    """Rows ``index`` of a form with one leading dimension."""
    return with_rows(form, tuple(value[index] for value in rows(form)))


def unsqueeze(form: Form) -> Form:
    """A form with a new leading dimension of size 1 (a batch of one)."""
    return with_rows(form, tuple(value.unsqueeze(0) for value in rows(form)))
