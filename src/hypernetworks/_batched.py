"""Batched rules: common layers applied with per-sample weights on a real batch.

In the per-sample path each generated parameter of the target is bound to a
*placeholder* (θ₀ itself, or a zero of its shape) and :class:`PerSampleWeights`, a
``TorchFunctionMode``, recognises placeholders by identity. A function that receives
one is applied with sample ``i``'s weights to sample ``i`` of its input, where dim 0 of
the input is the batch (dim 0 of size 1 broadcasts). The weights stay in the form the
head gave (see ``_forms.py``): a linear layer with :class:`Factored` weights costs
``x·θ₀ᵀ + (x·Bᵀ)·Aᵀ``, with :class:`Contracted` weights one GEMM of ``h ⊗ x`` with the
head's output layer, and no ``B × m × n`` weight set is built.

Rules exist for ``F.linear``, ``torch.addmm``/``matmul`` with a weight on the right
(Hugging Face's ``Conv1D``), ``F.embedding``, ``F.layer_norm``, ``F.rms_norm``, eval-mode
``F.batch_norm``, ``F.group_norm``, ``F.conv1d/2d/3d``, ``F.conv_transpose1d/2d/3d``,
``F.multi_head_attention_forward``, element-wise arithmetic (a norm's ``weight * x``, raw
parameters), and reading a placeholder's metadata (``shape``, ``dtype`` ...). Since the
target's own ``forward`` runs on the whole batch, its masks, control flow and caches work
unchanged: no ``vmap`` is involved.

Two modes:

* ``strict=True`` (the batched path): a function without a rule raises
  :class:`Unsupported`, and the caller falls back to ``vmap``.
* ``strict=False`` (inside ``vmap``, a batch of one per call): a function without a
  rule gets the built weight, so correctness never depends on how a module uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

from ._batched_layers import LayerRules, Unsupported
from ._chunks import chunked_linear
from ._forms import Chunks, Contracted, Factored, Form, build

__all__ = ["PerSampleWeights", "Unsupported", "placeholder"]

# Functions that only read a placeholder's metadata get the placeholder itself.
_METADATA = {
    "size",
    "dim",
    "numel",
    "is_floating_point",
    "is_complex",
    "element_size",
    "get_device",
    "is_contiguous",
    "stride",
    "data_ptr",
    "nelement",
    "new_ones",
    "new_zeros",
    "new_empty",
    "new_full",
    "new_tensor",
}
_ATTRIBUTES_BUILT = {"T", "mT", "H", "mH", "data", "real", "imag"}  # these give values
# Functions whose result is the placeholder's value in another dtype/layout.
_CASTS = {"to", "type_as", "contiguous", "float", "half", "bfloat16", "double"}
# Element-wise functions: the per-sample value is aligned with the other operand.
_ELEMENTWISE = {
    "mul",
    "add",
    "sub",
    "div",
    "true_divide",
    "__mul__",
    "__rmul__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__truediv__",
    "__rtruediv__",
    "__neg__",
    "neg",
    "where",
}


def placeholder(base: Tensor | None, shape: torch.Size, like: Tensor) -> Tensor:
    """The tensor bound in place of a generated parameter: θ₀, or a zero without it."""
    if base is not None:
        return base
    return torch.zeros((), dtype=like.dtype, device=like.device).expand(shape)


def transposed(form: Form, shape: torch.Size) -> Form:
    """The form of ``Wᵀ`` for a 2-D weight ``W`` of ``shape`` (rows ``[..., *shape]``)."""
    m, n = shape
    if isinstance(form, Factored):
        base = None if form.base is None else form.base.t()
        return Factored(base, form.b.transpose(-1, -2), form.a.transpose(-1, -2))
    if isinstance(form, Contracted):
        base = None if form.base is None else form.base.t()
        width = form.generator.shape[-1]
        generator = form.generator.reshape(m, n, width).transpose(0, 1).reshape(m * n, width)
        return Contracted(base, form.features, generator)
    if isinstance(form, Chunks):
        return build(form, shape).transpose(-1, -2)
    return form.transpose(-1, -2)


class PerSampleWeights(LayerRules, TorchFunctionMode):
    """Apply functions that receive placeholders with each sample's own weights.

    Args:
        table: ``id(placeholder) -> (placeholder, form)``; each form has one leading
            dimension of size ``batch``.
        batch: the number of samples (dim 0 of the inputs).
        strict: raise :class:`Unsupported` for a function without a rule (else build
            the weight and call it; only right with ``batch == 1``).
    """

    def __init__(
        self,
        table: Mapping[int, tuple[Tensor, Form]],
        batch: int,
        strict: bool,
        names: Mapping[int, str] | None = None,
    ) -> None:
        super().__init__()
        self.table = dict(table)
        self.names = dict(names or {})  # id(placeholder) -> parameter name, for messages
        self.batch = batch
        self.strict = strict
        self._kept: list[Tensor] = []  # derived placeholders stay alive (ids stay unique)

    # -- helpers -------------------------------------------------------------------
    def _form(self, value: object) -> tuple[Tensor, Form] | None:
        if isinstance(value, Tensor):
            return self.table.get(id(value))
        return None

    def _mentions(self, values: Any) -> bool:
        for value in values:
            if isinstance(value, Tensor) and id(value) in self.table:
                return True
            if isinstance(value, (list, tuple)) and any(
                isinstance(v, Tensor) and id(v) in self.table for v in value
            ):
                return True
        return False

    def _value(self, holder: Tensor, form: Form) -> Tensor:
        """The per-sample weights ``[B, *shape]``, in the placeholder's dtype."""
        return build(form, holder.shape).to(holder.dtype)

    def _batch_first(self, x: Tensor, what: str, holder: Tensor | None = None) -> Tensor:
        """``x`` with dim 0 = the batch (dim 0 of size 1 broadcasts)."""
        if x.dim() >= 1 and x.shape[0] == self.batch:
            return x
        if x.dim() >= 1 and x.shape[0] == 1:
            return x.expand(self.batch, *x.shape[1:])
        name = self.names.get(id(holder), "") if holder is not None else ""
        raise Unsupported(
            f"{what}{f' of {name!r}' if name else ''} got an input of shape {tuple(x.shape)}, "
            f"without the batch of {self.batch} in dim 0"
        )

    def _unsupported(self, func: Callable, args: tuple, kwargs: dict) -> object:
        name = getattr(func, "__name__", repr(func))
        if self.strict:
            held = [
                self.names.get(id(v), "?")
                for v in tree_flatten((args, kwargs))[0]
                if isinstance(v, Tensor) and id(v) in self.table
            ]
            raise Unsupported(f"{name} has no batched rule for per-sample weights (got {held})")
        args, kwargs = tree_map(self._built, (args, kwargs))
        return func(*args, **kwargs)

    def _built(self, value: object) -> object:
        found = self._form(value)
        if found is None:
            return value
        holder, form = found
        return self._value(holder, form)[0]

    # -- dispatch ------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not (self._mentions(args) or self._mentions(kwargs.values())):
            return func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name == "__get__":
            attribute = getattr(getattr(func, "__self__", None), "__name__", "")
            if attribute in _ATTRIBUTES_BUILT:
                return self._unsupported(func, args, kwargs)
            return func(*args, **kwargs)
        if name in _METADATA:
            return func(*args, **kwargs)
        if name in _CASTS and self._form(args[0]) is not None:
            return self._cast(func, args, kwargs)
        rule = _RULES.get(func)
        if rule is None and name in _ELEMENTWISE:
            rule = PerSampleWeights._elementwise
        if rule is None and name == "matmul":
            rule = PerSampleWeights._matmul
        if rule is None:
            return self._unsupported(func, args, kwargs)
        try:
            return rule(self, func, *args, **kwargs)
        except Unsupported:
            if self.strict:
                raise
            return self._unsupported(func, args, kwargs)

    def _cast(self, func: Callable, args: tuple, kwargs: dict) -> Tensor:
        holder, form = self.table[id(args[0])]
        result = func(*args, **kwargs)
        if result is holder:
            return result
        if not isinstance(result, Tensor) or result.shape != holder.shape:
            return self._unsupported(func, args, kwargs)  # type: ignore[return-value]
        if isinstance(form, Tensor):
            form = form.to(result.dtype)
        self.table[id(result)] = (result, form)
        self._kept.append(result)
        return result

    # -- rules ---------------------------------------------------------------------
    def _linear_form(self, x: Tensor, holder: Tensor, form: Form) -> Tensor:
        """``x @ Wᵢᵀ`` per sample for ``W`` ``[m, n]`` given by ``form``."""
        x = self._batch_first(x, "linear", holder)
        if x.dim() < 2:
            raise Unsupported("a linear layer's input needs a batch and a feature dimension")
        batch, (m, n) = self.batch, holder.shape
        x3 = x.reshape(batch, -1, n)
        if isinstance(form, Chunks):
            return chunked_linear(x3, form, m, n, holder.dtype).reshape(*x.shape[:-1], m)
        if isinstance(form, Factored):
            a, b = form.a.to(holder.dtype), form.b.to(holder.dtype)
            out = (x3 @ b.transpose(-1, -2)) @ a.transpose(-1, -2)
        elif isinstance(form, Contracted) and x3.shape[1] > 1:
            # Several rows per sample (tokens, pixels): contracting every row with the
            # generator costs rows × (building the sample's weight once), so build it.
            weight = build(form, holder.shape).to(holder.dtype)
            return (x3 @ weight.transpose(-1, -2)).reshape(*x.shape[:-1], m)
        elif isinstance(form, Contracted):
            features = form.features.to(holder.dtype)
            width = features.shape[-1]
            outer = (x3.unsqueeze(-1) * features[:, None, None, :]).reshape(batch, -1, n * width)
            out = outer @ form.generator.to(holder.dtype).reshape(m, n * width).t()
        else:
            return (x3 @ form.to(holder.dtype).transpose(-1, -2)).reshape(*x.shape[:-1], m)
        if form.base is not None:
            out = out + x3 @ form.base.to(holder.dtype).t()
        return out.reshape(*x.shape[:-1], m)

    def _add_bias(self, out: Tensor, bias: Tensor | None) -> Tensor:
        if bias is None:
            return out
        # As F.linear under autocast: the bias joins the product's dtype.
        found = self._form(bias)
        if found is None:
            return out + bias.to(out.dtype)
        value = self._value(*found).to(out.dtype)
        return out + value.reshape(self.batch, *[1] * (out.dim() - 2), -1)

    def _linear(self, func, x, weight, bias=None):  # noqa: ANN001
        found = self._form(weight)
        if found is None:
            return self._add_bias(F.linear(x, weight), bias)
        return self._add_bias(self._linear_form(x, *found), bias)

    def _addmm(self, func, bias, x, weight, *, beta=1, alpha=1):  # noqa: ANN001
        found = self._form(weight)
        if found is None or beta != 1 or alpha != 1 or x.dim() != 2 or self._form(x) is not None:
            raise Unsupported("addmm with a per-sample weight other than mat2")
        holder, form = found
        rows = x.shape[0]
        if rows % self.batch:
            raise Unsupported(f"addmm's {rows} rows are not a multiple of the batch")
        out = self._linear_form(
            x.reshape(self.batch, rows // self.batch, -1),
            holder.t(),
            transposed(form, holder.shape),
        )
        return self._add_bias(out, bias).reshape(rows, -1)

    def _matmul(self, func, x, weight):  # noqa: ANN001
        found = self._form(weight)
        if found is None or self._form(x) is not None or weight.dim() != 2:
            raise Unsupported("matmul with a per-sample weight other than a right-hand matrix")
        holder, form = found
        view = holder.t()
        return self._linear_form(x, view, transposed(form, holder.shape))

    def _elementwise(self, func, *args, **kwargs):  # noqa: ANN001
        tensors = [a for a in args if isinstance(a, Tensor) and self._form(a) is None]
        ndim = max((t.dim() for t in tensors), default=0)
        held = max(self.table[id(a)][0].dim() for a in args if self._form(a) is not None)
        # Only a weight applied to activations (which carry the batch in dim 0) has a rule;
        # arithmetic on the weight alone (``w * 2``) would need a per-sample weight after it.
        if ndim <= held or any(
            t.dim() == ndim and t.shape[0] not in (1, self.batch) for t in tensors
        ):
            raise Unsupported(f"{func.__name__} of a per-sample weight without a batched input")

        def align(value: object) -> object:
            found = self._form(value)
            if found is None:
                return value
            holder, form = found
            per = self._value(holder, form)
            pad = max(ndim - 1 - holder.dim(), 0)
            return per.reshape(self.batch, *[1] * pad, *holder.shape)

        return func(*[align(a) for a in args], **kwargs)


_RULES: dict[Callable, Callable] = {
    F.linear: PerSampleWeights._linear,
    torch.addmm: PerSampleWeights._addmm,
    torch.matmul: PerSampleWeights._matmul,
    F.embedding: PerSampleWeights._embedding,
    F.layer_norm: PerSampleWeights._layer_norm,
    F.rms_norm: PerSampleWeights._rms_norm,
    F.batch_norm: PerSampleWeights._batch_norm,
    F.group_norm: PerSampleWeights._group_norm,
    F.conv1d: PerSampleWeights._conv,
    F.conv2d: PerSampleWeights._conv,
    F.conv3d: PerSampleWeights._conv,
    F.conv_transpose1d: PerSampleWeights._conv_transpose,
    F.conv_transpose2d: PerSampleWeights._conv_transpose,
    F.conv_transpose3d: PerSampleWeights._conv_transpose,
    F.multi_head_attention_forward: PerSampleWeights._attention,
}
