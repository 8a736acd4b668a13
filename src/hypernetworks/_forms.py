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

Leading dimensions (``[U, ...]``: one row per condition) sit on ``a``/``b`` and on
``features``; ``base`` and ``generator`` are shared by every row.
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

import torch
from torch import Tensor

__all__ = ["Contracted", "Factored", "Form", "build", "lead", "take"]


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


Form: TypeAlias = Tensor | Factored | Contracted


def lead(form: Form, shape: torch.Size) -> tuple[int, ...]:
    """The leading (condition) dimensions of ``form`` for a parameter of ``shape``."""
    if isinstance(form, Factored):
        return tuple(form.a.shape[:-2])
    if isinstance(form, Contracted):
        return tuple(form.features.shape[:-1])
    return tuple(form.shape[: form.dim() - len(shape)])


def build(form: Form, shape: torch.Size) -> Tensor:
    """The weights a form stands for: ``[..., *shape]``."""
    if isinstance(form, Tensor):
        return form
    rows = lead(form, shape)
    if isinstance(form, Factored):
        delta = (form.a @ form.b).reshape(*rows, *shape)
    else:
        delta = (form.features @ form.generator.t()).reshape(*rows, *shape)
    return delta if form.base is None else form.base + delta


def take(form: Form, index: Tensor) -> Form:
    """Rows ``index`` of a form with one leading dimension."""
    if isinstance(form, Factored):
        return Factored(form.base, form.a[index], form.b[index])
    if isinstance(form, Contracted):
        return Contracted(form.base, form.features[index], form.generator)
    return form[index]


def unsqueeze(form: Form) -> Form:
    """A form with a new leading dimension of size 1 (a batch of one)."""
    if isinstance(form, Factored):
        return Factored(form.base, form.a.unsqueeze(0), form.b.unsqueeze(0))
    if isinstance(form, Contracted):
        return Contracted(form.base, form.features.unsqueeze(0), form.generator)
    return form.unsqueeze(0)
