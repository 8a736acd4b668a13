"""Batched rules for the layers beyond ``F.linear``: embeddings, norms, convolutions and
multi-head attention (a mixin of :class:`~hypernetworks._batched.PerSampleWeights`).

Each rule applies sample ``i``'s weights to sample ``i`` of a real batch: norms normalise
as usual and apply per-sample affine parameters; a convolution becomes one grouped
convolution over ``[1, B·C, ...]``; attention projects through the linear rule and runs
the attention arithmetic on the batch. A case a rule cannot cover raises
:class:`Unsupported` before anything is returned, and the caller falls back to vmap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ._chunks import chunked_rows
from ._forms import Chunks, Contracted, Factored, Form, build

__all__ = ["LayerRules", "Unsupported"]


class Unsupported(RuntimeError):
    """A function received a per-sample weight that no batched rule covers."""


class LayerRules:
    """The layer rules; ``PerSampleWeights`` supplies the table lookups they use."""

    if TYPE_CHECKING:
        batch: int

        def _form(self, value: object) -> tuple[Tensor, Form] | None: ...

        def _value(self, holder: Tensor, form: Form) -> Tensor: ...

        def _batch_first(self, x: Tensor, what: str, holder: Tensor | None = None) -> Tensor: ...

        def _linear_form(self, x: Tensor, holder: Tensor, form: Form) -> Tensor: ...

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
            elif isinstance(form, Chunks):
                delta = chunked_rows(form, flat, dim)
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
