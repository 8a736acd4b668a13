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

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

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


class Unsupported(RuntimeError):
    """A function received a per-sample weight that no batched rule covers."""


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


class PerSampleWeights(TorchFunctionMode):
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

    def _embedding(
        self,
        func,
        ids,
        weight,
        padding_idx=None,
        max_norm=None,  # noqa: ANN001
        norm_type=2.0,
        scale_grad_by_freq=False,
        sparse=False,
    ):
        found = self._form(weight)
        if found is None or max_norm is not None:
            raise Unsupported("embedding with max_norm, or with a per-sample index")
        holder, form = found
        ids = self._batch_first(ids, "embedding", holder)
        flat = ids.reshape(self.batch, -1)
        rows = torch.arange(self.batch, device=ids.device).unsqueeze(1)
        dim = holder.shape[1]
        if isinstance(form, Tensor):
            out = form.to(holder.dtype)[rows, flat]
        else:
            if isinstance(form, Factored):
                delta = form.a[rows, flat] @ form.b
            elif isinstance(form, Chunks):  # only the rows looked up, number by number
                size = form.generator.shape[0]
                position = (
                    form.offset + flat.unsqueeze(-1) * dim + torch.arange(dim, device=ids.device)
                )
                chunk, within = position // size, position % size
                picked = form.hidden[rows.unsqueeze(-1), chunk]  # [B, L, dim, H]
                delta = (picked * form.generator[within]).sum(-1)
                if form.bias is not None:
                    delta = delta + form.bias[within]
            else:
                table = form.generator.reshape(holder.shape[0], dim, -1)[flat]
                delta = (table @ form.features[:, None, :, None]).squeeze(-1)
            delta = delta.to(holder.dtype)
            if padding_idx is not None:  # as F.embedding: no gradient from the padding row
                delta = torch.where((flat == padding_idx).unsqueeze(-1), delta.detach(), delta)
            out = delta if form.base is None else F.embedding(flat, form.base, padding_idx) + delta
        return out.reshape(*ids.shape, dim)

    def _affine(
        self, out: Tensor, weight: Tensor | None, bias: Tensor | None, trailing: int
    ) -> Tensor:
        """``out * weight + bias`` with per-sample values aligned on the last ``trailing`` dims."""
        for value, combine in ((weight, torch.mul), (bias, torch.add)):
            if value is None:
                continue
            found = self._form(value)
            if found is not None:
                per = self._value(*found)
                value = per.reshape(
                    self.batch,
                    *[1] * (out.dim() - 1 - trailing),
                    *per.shape[per.dim() - trailing :],
                )
            out = combine(out, value)
        return out

    def _layer_norm(
        self,
        func,
        x,
        normalized_shape,
        weight=None,
        bias=None,  # noqa: ANN001
        eps=1e-5,
    ):
        x = self._batch_first(x, "layer_norm")
        out = F.layer_norm(x, normalized_shape, None, None, eps)
        return self._affine(out, weight, bias, len(tuple(normalized_shape)))

    def _rms_norm(self, func, x, normalized_shape, weight=None, eps=None):  # noqa: ANN001
        x = self._batch_first(x, "rms_norm")
        out = F.rms_norm(x, normalized_shape, None, eps)
        return self._affine(out, weight, None, len(tuple(normalized_shape)))

    def _batch_norm(
        self,
        func,
        x,
        running_mean,
        running_var,
        weight=None,  # noqa: ANN001
        bias=None,
        training=False,
        momentum=0.1,
        eps=1e-5,
    ):
        if training or running_mean is None:
            raise Unsupported("batch_norm with batch statistics")
        x = self._batch_first(x, "batch_norm")
        out = F.batch_norm(x, running_mean, running_var, None, None, False, momentum, eps)
        return self._channel_affine(out, weight, bias)

    def _group_norm(self, func, x, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: ANN001
        x = self._batch_first(x, "group_norm")  # statistics are per sample already
        return self._channel_affine(F.group_norm(x, num_groups, None, None, eps), weight, bias)

    def _channel_affine(self, out: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
        """``out * weight + bias`` per channel (dim 1), per sample for placeholders."""
        spatial = [1] * (out.dim() - 2)
        for value, combine in ((weight, torch.mul), (bias, torch.add)):
            if value is None:
                continue
            found = self._form(value)
            per = self._value(*found) if found is not None else value.expand(self.batch, -1)
            out = combine(out, per.reshape(self.batch, -1, *spatial))
        return out

    def _conv(
        self,
        func,
        x,
        weight,
        bias=None,
        stride=1,
        padding=0,  # noqa: ANN001
        dilation=1,
        groups=1,
    ):
        x, merged, flat_bias = self._grouped(x, weight, bias)
        out = func(x, merged, flat_bias, stride, padding, dilation, groups * self.batch)
        return out.reshape(self.batch, -1, *out.shape[2:])

    def _conv_transpose(
        self,
        func,
        x,
        weight,
        bias=None,
        stride=1,  # noqa: ANN001
        padding=0,
        output_padding=0,
        groups=1,
        dilation=1,
    ):
        x, merged, flat_bias = self._grouped(x, weight, bias)
        out = func(
            x, merged, flat_bias, stride, padding, output_padding, groups * self.batch, dilation
        )
        return out.reshape(self.batch, -1, *out.shape[2:])

    def _grouped(
        self, x: Tensor, weight: Tensor, bias: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """A convolution's batch as one sample with ``batch`` times the groups: the input
        ``[1, B·C, ...]``, the samples' weights stacked on dim 0, their biases end to end."""
        found = self._form(weight)
        if found is None:
            raise Unsupported("a convolution with a per-sample bias only")
        holder, form = found
        if x.dim() != holder.dim():
            raise Unsupported("an unbatched convolution input")
        x = self._batch_first(x, "conv")
        batch = self.batch
        merged = self._value(holder, form).reshape(batch * holder.shape[0], *holder.shape[1:])
        flat_bias = None
        if bias is not None:
            per = self._form(bias)
            flat_bias = (self._value(*per) if per is not None else bias.expand(batch, -1)).reshape(
                -1
            )
        return x.reshape(1, batch * x.shape[1], *x.shape[2:]), merged, flat_bias

    def _rows_of(self, weight: Tensor, start: int, stop: int, x: Tensor) -> Tensor:
        """``x @ weight[start:stop]ᵀ`` per sample, for a placeholder or a plain weight."""
        found = self._form(weight)
        if found is None:
            return F.linear(x, weight[start:stop])
        holder, form = found
        n = holder.shape[1]
        if isinstance(form, Factored):
            base = None if form.base is None else form.base[start:stop]
            part: Form = Factored(base, form.a[:, start:stop], form.b)
        elif isinstance(form, Contracted):
            base = None if form.base is None else form.base[start:stop]
            part = Contracted(base, form.features, form.generator[start * n : stop * n])
        else:
            part = build(form, holder.shape)[:, start:stop]
        return self._linear_form(x, holder[start:stop], part)

    def _vector_rows(self, bias: Tensor | None, start: int, stop: int) -> Tensor | None:
        """``bias[start:stop]``, per sample ``[B, 1, k]`` for a placeholder."""
        if bias is None:
            return None
        found = self._form(bias)
        if found is None:
            return bias[start:stop]
        return self._value(*found)[:, start:stop].unsqueeze(1)

    def _attention(
        self,
        func,
        query,
        key,
        value,
        embed_dim,
        num_heads,  # noqa: ANN001
        in_proj_weight,
        in_proj_bias,
        bias_k,
        bias_v,
        add_zero_attn,
        dropout_p,
        out_proj_weight,
        out_proj_bias,
        training=True,
        key_padding_mask=None,
        need_weights=True,
        attn_mask=None,
        use_separate_proj_weight=False,
        q_proj_weight=None,
        k_proj_weight=None,
        v_proj_weight=None,
        static_k=None,
        static_v=None,
        average_attn_weights=True,
        is_causal=False,
    ):
        """``nn.MultiheadAttention``'s functional form, seq-first ``[T, B, E]`` inputs."""
        if static_k is not None or static_v is not None or query.dim() != 3:
            raise Unsupported("multi_head_attention_forward with static keys or unbatched input")
        if (in_proj_weight is None) != use_separate_proj_weight:
            raise Unsupported("multi_head_attention_forward without its projection weights")
        batch, heads, width = self.batch, num_heads, embed_dim // num_heads
        inputs = [t.transpose(0, 1) for t in (query, key, value)]  # [B, T, E]
        if any(t.shape[0] != batch for t in inputs):
            raise Unsupported("multi_head_attention_forward without the batch in dim 1")
        separate = (q_proj_weight, k_proj_weight, v_proj_weight)
        projected = []
        for index, x in enumerate(inputs):
            start, stop = index * embed_dim, (index + 1) * embed_dim
            if use_separate_proj_weight:  # kdim/vdim != embed_dim: one weight each
                y = self._rows_of(separate[index], 0, embed_dim, x)
            else:
                y = self._rows_of(in_proj_weight, start, stop, x)
            bias = self._vector_rows(in_proj_bias, start, stop)
            projected.append(y if bias is None else y + bias.to(y.dtype))
        q, k, v = projected
        extra_sources = 0
        if bias_k is not None and bias_v is not None:  # add_bias_kv: one more key and value
            k = torch.cat([k, self._sequence_row(bias_k, k)], 1)
            v = torch.cat([v, self._sequence_row(bias_v, v)], 1)
            extra_sources += 1
        q, k, v = (t.reshape(batch, t.shape[1], heads, width).transpose(1, 2) for t in (q, k, v))
        if add_zero_attn:  # one more all-zero key and value
            k = torch.cat([k, k.new_zeros(batch, heads, 1, width)], 2)
            v = torch.cat([v, v.new_zeros(batch, heads, 1, width)], 2)
            extra_sources += 1
        if extra_sources:  # the new keys are never masked
            attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, extra_sources))
            if key_padding_mask is not None:
                key_padding_mask = F.pad(key_padding_mask, (0, extra_sources))
        targets, sources = q.shape[2], k.shape[2]
        mask = torch.zeros(batch, 1, targets, sources, dtype=q.dtype, device=q.device)
        if attn_mask is not None:
            extra = (
                attn_mask
                if attn_mask.is_floating_point()
                else torch.zeros_like(attn_mask, dtype=q.dtype).masked_fill(
                    attn_mask, float("-inf")
                )
            )
            mask = mask + (
                extra.reshape(batch, heads, targets, sources)
                if extra.dim() == 3
                else extra.reshape(1, 1, targets, sources)
            )
        elif is_causal:
            causal = torch.ones(targets, sources, dtype=torch.bool, device=q.device).triu(1)
            mask = mask.masked_fill(causal, float("-inf"))
        if key_padding_mask is not None:
            pad = (
                key_padding_mask
                if key_padding_mask.is_floating_point()
                else torch.zeros_like(key_padding_mask, dtype=q.dtype).masked_fill(
                    key_padding_mask, float("-inf")
                )
            )
            mask = mask + pad.reshape(batch, 1, 1, sources)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(width) + mask
        weights = scores.softmax(-1)
        dropped = F.dropout(weights, dropout_p) if training and dropout_p > 0 else weights
        out = (dropped @ v).transpose(1, 2).reshape(batch, targets, embed_dim)
        out = self._rows_of(out_proj_weight, 0, embed_dim, out)
        bias = self._vector_rows(out_proj_bias, 0, embed_dim)
        out = (out if bias is None else out + bias.to(out.dtype)).transpose(0, 1)
        if not need_weights:
            return out, None
        return out, weights.mean(1) if average_attn_weights else weights

    def _sequence_row(self, value: Tensor, like: Tensor) -> Tensor:
        """``bias_k``/``bias_v`` (``[1, 1, E]``, per sample when generated) as ``[B, 1, E]``."""
        found = self._form(value)
        row = self._value(*found) if found is not None else value.expand(self.batch, 1, -1)
        return row.reshape(self.batch, 1, -1).to(like.dtype)

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
