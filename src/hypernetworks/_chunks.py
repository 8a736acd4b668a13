"""Per-sample linear layers whose weights are cut from chunks (the ``Chunked`` head).

The ``Chunked`` head lays all generated numbers end to end and emits them ``C`` at a
time: chunk ``k`` of sample ``b`` is ``a[b, k] @ Gᵀ (+ g)``, with ``a[b, k]`` the
generator's hidden features ``[H]`` and ``G`` ``[C, H]`` shared by every chunk. A linear
layer's weight ``W`` ``[m, n]`` is a window of that stream, so its entry ``(o, i)`` is
``a[b, k(o, i)] · G[q(o, i)]`` where ``k`` and ``q`` are the chunk and the position in it.

Cut every row of ``W`` where a chunk ends: each *piece* (row ``o``, columns ``i0 … i1``)
lies in one chunk ``k``, and reads ``G`` at rows ``i + δ`` with ``δ = q(o, i0) - i0``.
Pad ``G`` with ``n`` zero rows on either side; since a piece either starts its row or
starts its chunk, and either ends its row or ends its chunk, the columns outside the
piece fall on those zeros. Then, per sample::

    Z[t, δ] = x[t] @ G[δ : δ + n]                 [T, |Δ|, H]   (one GEMM for all δ)
    y[t, o] = Σ_pieces of o  a[k] · Z[t, δ]       [T, m]

which costs ``B·T·n·|Δ|·H + B·T·pieces·H`` instead of building ``B`` weights
(``B·m·n·H``) and applying them. ``|Δ|`` is the number of distinct window starts: when
``C`` is a multiple of ``n`` and the weight starts on a row boundary it is ``C / n``
(e.g. 8 for 2048-number chunks and 256 inputs); at worst it is the number of rows, and
the rule then builds the weights instead whenever that is cheaper.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from ._forms import Chunks, build

__all__ = ["chunked_linear", "chunked_rows", "chunked_vector"]


@functools.lru_cache(maxsize=256)
def _plan(offset: int, m: int, n: int, size: int) -> tuple[Tensor, Tensor, Tensor, Tensor, bool]:
    """The pieces of an ``[m, n]`` weight starting at ``offset`` in a stream of chunks of
    ``size``: ``(row, chunk, window index, window starts δ, one piece per row)``."""
    end = offset + m * n
    row_starts = offset + torch.arange(m) * n
    chunk_starts = torch.arange(-(-offset // size), -(-end // size)) * size
    cuts = torch.unique(torch.cat([row_starts, chunk_starts[chunk_starts > offset]]))
    local = cuts - offset
    row, column = local // n, local % n
    chunk = cuts // size  # relative to the form's first chunk (offset < size)
    delta = cuts % size - column
    starts, window = torch.unique(delta, return_inverse=True)
    return row, chunk, window, starts, bool(len(cuts) == m)


def chunked_vector(form: Chunks, numel: int) -> Tensor:
    """The ``numel`` numbers a form stands for, ``[..., numel]``, computing only them
    (``[..., numel]`` products of length ``H``, not whole chunks)."""
    position = form.offset + torch.arange(numel, device=form.hidden.device)
    size = form.generator.shape[0]
    chunk, within = position // size, position % size
    # every chunk the vector overlaps (usually 1 or 2) against the G rows it reads
    products = form.hidden @ form.generator[within].t()  # [..., K, numel]
    index = chunk.expand(*products.shape[:-2], 1, numel)
    values = products.gather(-2, index).squeeze(-2)
    if form.bias is not None:
        values = values + form.bias[within]
    return values


def chunked_rows(form: Chunks, ids: Tensor, width: int) -> Tensor:
    """Rows ``ids`` (``[B, L]``, per sample) of a per-sample ``[rows, width]`` table given
    by ``form`` (an embedding's lookup): ``[B, L, width]``, computing only those numbers."""
    size = form.generator.shape[0]
    position = form.offset + ids.unsqueeze(-1) * width + torch.arange(width, device=ids.device)
    chunk, within = position // size, position % size
    samples = torch.arange(len(ids), device=ids.device).view(-1, 1, 1)
    values = (form.hidden[samples, chunk] * form.generator[within]).sum(-1)  # [B, L, width]
    return values if form.bias is None else values + form.bias[within]


def chunked_linear(x: Tensor, form: Chunks, m: int, n: int, dtype: torch.dtype) -> Tensor:
    """``x[b] @ W[b]ᵀ`` for ``x`` ``[B, T, n]`` and per-sample ``W[b]`` ``[m, n]`` given
    by ``form`` (``hidden`` ``[B, K, H]``): ``[B, T, m]``."""
    hidden, generator = form.hidden.to(dtype), form.generator.to(dtype)
    (batch, tokens), (size, width) = x.shape[:2], generator.shape
    row, chunk, window, starts, one_per_row = _plan(form.offset, m, n, size)
    pieces, windows = len(row), len(starts)
    direct = tokens * (n * windows * width + pieces * width)
    built = hidden.shape[-2] * size * width + tokens * m * n
    if direct > built:  # e.g. many tokens per sample: building the B weights is cheaper
        weight = build(form, torch.Size([m, n])).to(dtype)
        return x @ weight.transpose(-1, -2)
    device = x.device
    row, chunk, window, starts = (v.to(device) for v in (row, chunk, window, starts))
    padded = F.pad(generator, (0, 0, n, n))  # G[-n : C + n], zeros outside
    # G[δ : δ + n] for every δ, gathered (an index's backward adds into G's rows only)
    rows_of = (starts + n).unsqueeze(1) + torch.arange(n, device=device)  # [|Δ|, n]
    slices = padded[rows_of.t()]  # [n, |Δ|, H]
    z = (x.reshape(batch * tokens, n) @ slices.reshape(n, windows * width)).view(
        batch, tokens * windows, width
    )
    chunks = hidden.shape[-2]
    if chunks * windows <= 4 * pieces:
        # every (chunk, window) pair in one bmm, then each piece picks its own
        pairs = (hidden @ z.transpose(1, 2)).view(batch, chunks, tokens, windows)
        out = pairs.permute(0, 2, 1, 3)[:, :, chunk, window]  # [B, T, pieces]
    else:  # many distinct windows: only the pairs the pieces use
        picked = z.view(batch, tokens, windows, width)[:, :, window]  # [B, T, pieces, H]
        out = (picked * hidden[:, chunk].unsqueeze(1)).sum(-1)
    if not one_per_row:
        out = out.new_zeros(batch, tokens, m).index_add_(-1, row, out)
    shared = form.base
    if form.bias is not None:  # the chunks' bias: the same matrix for every sample
        position = (form.offset + torch.arange(m * n, device=device)) % size
        extra = form.bias[position].view(m, n)
        shared = extra if shared is None else shared + extra
    if shared is not None:
        out = out + x @ shared.to(dtype).t()
    return out
