"""Recurrent kernels that ``torch.func.vmap`` can batch over per-sample weights.

``nn.RNN``, ``nn.GRU`` and ``nn.LSTM`` call fused ATen kernels (``torch.lstm`` …) that
have no vmap batching rule. Inside the per-sample path only, :class:`RecurrentKernels`
(a ``TorchFunctionMode``) routes those calls to the step-by-step implementation below,
written with ordinary differentiable ops. It follows PyTorch's equations and parameter
layout (``w_ih, w_hh[, b_ih, b_hh][, w_hr]`` per layer and direction) and is tested
against the fused kernels. Packed sequences are not supported there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

__all__ = ["RecurrentKernels"]

Cell = Callable[..., tuple[Tensor, Tensor | None]]


def _tanh_cell(
    gx: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None
) -> tuple[Tensor, None]:
    return torch.tanh(gx + F.linear(h, w_hh, b_hh)), None


def _relu_cell(
    gx: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None
) -> tuple[Tensor, None]:
    return torch.relu(gx + F.linear(h, w_hh, b_hh)), None


def _gru_cell(
    gx: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None
) -> tuple[Tensor, None]:
    x_r, x_z, x_n = gx.chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h, None


def _lstm_cell(
    gx: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None
) -> tuple[Tensor, Tensor]:
    if c is None:
        raise ValueError("an LSTM step needs its cell state")
    i, f, g, o = (gx + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _run(
    cell: Cell,
    input: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    params: Sequence[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    directions = 2 if bidirectional else 1
    per = len(params) // (num_layers * directions)
    has_proj = per == (4 if has_biases else 2) + 1
    seq = input.transpose(0, 1) if batch_first else input  # [T, N, F] (or [T, F] unbatched)
    h_out, c_out = [], []
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            group = list(params[index * per : (index + 1) * per])
            w_ih, w_hh = group[0], group[1]
            b_ih, b_hh = (group[2], group[3]) if has_biases else (None, None)
            w_hr = group[-1] if has_proj else None
            steps = seq.flip(0) if direction else seq
            gates = F.linear(steps, w_ih, b_ih)  # input projections of every step at once
            h, c = h0[index], None if c0 is None else c0[index]
            ys = []
            for t in range(gates.shape[0]):
                h, c = cell(gates[t], h, c, w_hh, b_hh, w_hr)
                ys.append(h)
            y = torch.stack(ys)
            outputs.append(y.flip(0) if direction else y)
            h_out.append(h)
            c_out.append(c)
        seq = torch.cat(outputs, dim=-1) if directions == 2 else outputs[0]
        if dropout > 0 and train and layer < num_layers - 1:
            seq = F.dropout(seq, dropout, training=True)
    output = seq.transpose(0, 1) if batch_first else seq
    c_n = torch.stack([c for c in c_out if c is not None]) if c0 is not None else None
    return output, torch.stack(h_out), c_n


_CELLS = {"rnn_tanh": _tanh_cell, "rnn_relu": _relu_cell, "gru": _gru_cell, "lstm": _lstm_cell}


class RecurrentKernels(TorchFunctionMode):
    """Within this mode, ``torch.rnn_tanh/rnn_relu/gru/lstm`` run step by step (vmappable)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        cell = _CELLS.get(name)
        if cell is None:
            return func(*args, **kwargs)
        # The packed-sequence overload passes `batch_sizes` (a tensor) where the padded
        # overload passes hx (LSTM: a tuple) and then the parameter list.
        packed = isinstance(args[1], Tensor) and (name == "lstm" or isinstance(args[2], Tensor))
        if packed:
            raise ValueError(
                "per-sample conditions do not support PackedSequence inputs to recurrent "
                "layers; pass padded tensors (e.g. batch_first=True) instead"
            )
        input, hx, params, *flags = args
        if name == "lstm":
            output, h_n, c_n = _run(cell, input, hx[0], hx[1], params, *flags)
            return output, h_n, c_n
        output, h_n, _ = _run(cell, input, hx, None, params, *flags)
        return output, h_n
