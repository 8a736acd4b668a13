"""Decoders: from a parameter node's embedding to a tensor of the parameter's shape.

- :class:`LowRankDecoder` (after LoGAH): ``W = A·Bᵀ``; row ``i`` of ``A`` is generated from
  the node embedding and features of the index ``i`` (and column ``j`` of ``B`` from those
  of ``j`` and, for convolutions, of the kernel offset), so any width or kernel size gets a
  full-rank-``r`` tensor, not a tiled copy. All rows and columns of all nodes of a batch go
  through one small MLP call.
- :class:`TilingDecoder` (after GHN-2): a fixed ``[32, 32, 5, 5]`` block per node, tiled and
  sliced to the parameter's shape.
- :class:`HybridDecoder`: tiling for convolution kernels (3 or more dimensions), low-rank
  for everything else (linear weights, vectors).

Output scaling (every decoder), in place of GHN-2's operation-wise normalisation: a weight
(2 or more dimensions) is divided by its own root mean square and multiplied by
``gain·sqrt(2/fan_in)``, where ``gain = exp(g(h))`` is predicted from the node and starts at 1
(He initialisation's scale). Predicted weights therefore always have the magnitude of a
standard initialisation, times a learned factor, however large the layer. Vectors are
``base + δ``: 1 for normalisation weights, 0 for biases and normalisation shifts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._trace import Node

__all__ = ["DECODERS", "DEFAULT_DECODER", "HybridDecoder", "LowRankDecoder", "TilingDecoder"]

#: Per parameter node: (row shift, column shift, row fold, column fold) of its unit indices.
Units = tuple[int, int, int, int]


def _scale(raw: Tensor, gain: Tensor, node: Node) -> Tensor:
    """Weights: rms-normalised times ``exp(gain)·sqrt(2/fan_in)``; vectors: ``base + raw``."""
    if raw.dim() >= 2:
        fan_in = math.prod(raw.shape[1:])
        rms = raw.pow(2).mean().add(1e-8).sqrt()
        return raw * (gain.exp() * math.sqrt(2.0 / fan_in) / rms)
    base = 1.0 if node.op.endswith("norm.weight") else 0.0
    return raw + base


def _kernel_features(offsets: Tensor, size: tuple[int, ...]) -> Tensor:
    """``[K, 9]``: raw offsets / 3, offsets relative to the half-size ``u``, ``u²``, ``u₀u₁``,
    log₂ of the kernel's two sizes (a 3×3 and a 5×5 kernel's corners then share ``u``)."""
    half = offsets.new_tensor([max((s - 1) / 2, 1.0) for s in size])
    u = offsets / half
    logs = offsets.new_tensor([math.log2(s) / 3 for s in size]).expand(len(offsets), 2)
    return torch.cat([offsets / 3, u, u * u, u[:, :1] * u[:, 1:], logs], 1)


def _mlp(inputs: int, hidden: int, outputs: int, last_std: float | None = None) -> nn.Sequential:
    last = nn.Linear(hidden, outputs)
    if last_std is not None:
        nn.init.normal_(last.weight, std=last_std)
        nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), last)


class LowRankDecoder(nn.Module):
    """``W = A·Bᵀ`` with ``A``, ``B`` generated row by row from the node and the unit index.

    Args:
        dim: node embedding size.
        rank: rank ``r`` of every predicted weight.
        hidden: width of the row/column MLPs.
        table: learned index vectors; larger indices reuse them (``i mod table``).
        rich_kernel: describe a kernel position by its offsets, its offsets relative to
            the kernel's half-size, their squares and product, and the kernel size (9
            features) rather than by the two raw offsets alone.

    Example:
        >>> import torch
        >>> from hypernetworks.graph import Node
        >>> dec = LowRankDecoder(16)
        >>> [tuple(t.shape) for t in dec(torch.randn(2, 16),
        ...                               [Node("conv.weight", "w", (8, 3, 5, 5)),
        ...                                Node("conv.bias", "b", (8,))])]
        [(8, 3, 5, 5), (8,)]
    """

    def __init__(
        self,
        dim: int,
        *,
        rank: int = 16,
        hidden: int = 64,
        table: int = 1024,
        rich_kernel: bool = False,
    ) -> None:
        super().__init__()
        self.rank, self.table, self.rich_kernel = rank, table, rich_kernel
        self.row_node, self.col_node, self.vec_node = (nn.Linear(dim, hidden) for _ in range(3))
        # one learned vector per unit index, shared by every layer and architecture: output
        # unit i of a layer and input column i of the next one get the same identity
        self.row_index, self.col_index, self.vec_index = (
            nn.Embedding(table, hidden) for _ in range(3)
        )
        self.col_kernel = nn.Linear(9 if rich_kernel else 2, hidden, bias=False)
        self.row_out = nn.Sequential(
            nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, rank)
        )
        self.col_out = nn.Sequential(
            nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, rank)
        )
        vec_last = nn.Linear(hidden, 1)
        nn.init.normal_(vec_last.weight, std=0.01)
        self.vec_out = nn.Sequential(nn.GELU(), vec_last)
        self.gain = nn.Linear(dim, 1)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.gain.bias)

    def _positions(self, count: int, shift: int, fold: int, dev: torch.device) -> Tensor:
        """Index vectors read by units ``0..count-1``: ``(i mod fold + shift) mod table``."""
        i = torch.arange(count, device=dev)
        return ((i % fold if fold else i) + shift) % self.table

    def forward(
        self, h: Tensor, nodes: list[Node], units: list[Units] | None = None
    ) -> list[Tensor]:
        """Predict one tensor per node from its embedding ``h[m]`` (``[M, dim]``).

        ``units[m] = (row shift, column shift, row fold, column fold)``: unit ``i`` of node
        ``m``'s rows (and vector entries) reads index vector ``(i mod fold + shift) mod
        table`` (fold 0: no fold), likewise its columns; ``i`` itself by default.
        """
        dev = h.device
        units = units if units is not None else [(0, 0, 0, 0)] * len(nodes)
        mats = [m for m, n in enumerate(nodes) if len(n.shape) >= 2]
        vecs = [m for m, n in enumerate(nodes) if len(n.shape) == 1]
        out: list[Tensor] = [h.new_zeros(n.shape) for n in nodes]
        if mats:
            shapes = [nodes[m].shape for m in mats]
            outs = torch.tensor([s[0] for s in shapes], device=dev)
            ins = [s[1] for s in shapes]
            kernels = [s[2:] for s in shapes]
            kcount = [math.prod(k) for k in kernels]
            hm = h[mats]
            rows_node = torch.repeat_interleave(torch.arange(len(mats), device=dev), outs)
            rows_idx = torch.cat(
                [self._positions(nodes[m].shape[0], units[m][0], units[m][2], dev) for m in mats]
            )
            a = self.row_out(self.row_node(hm)[rows_node] + self.row_index(rows_idx))
            col_node, col_idx, col_kernel = [], [], []
            for m, (c, k) in enumerate(zip(ins, kernels, strict=True)):
                grid = (
                    torch.stack(
                        torch.meshgrid(
                            *(torch.arange(s, device=dev, dtype=h.dtype) - (s - 1) / 2 for s in k),
                            indexing="ij",
                        ),
                        -1,
                    ).reshape(-1, len(k))
                    if k
                    else h.new_zeros(1, 0)
                )
                pad = grid.new_zeros(grid.shape[0], max(2 - grid.shape[1], 0))
                offsets = torch.cat([grid, pad], 1)[:, :2]
                features = (
                    _kernel_features(offsets, (tuple(k) + (1, 1))[:2])
                    if self.rich_kernel
                    else offsets / 3
                )
                col_node.append(torch.full((c * grid.shape[0],), m, device=dev))
                u = units[mats[m]]
                col_idx.append(self._positions(c, u[1], u[3], dev).repeat_interleave(grid.shape[0]))
                col_kernel.append(features.repeat(c, 1))
            b = self.col_out(
                self.col_node(hm)[torch.cat(col_node)]
                + self.col_index(torch.cat(col_idx))
                + self.col_kernel(torch.cat(col_kernel))
            )
            gains = self.gain(hm).squeeze(-1)
            a_parts = a.split(outs.tolist())
            b_parts = b.split([c * k for c, k in zip(ins, kcount, strict=True)])
            for j, m in enumerate(mats):
                # centred factors: a component shared by all rows (or columns) would make
                # every unit compute the same feature and blow up deep networks' outputs
                a_j, b_j = a_parts[j], b_parts[j]
                a_j = a_j - a_j.mean(0) if a_j.shape[0] > 1 else a_j
                b_j = b_j - b_j.mean(0) if b_j.shape[0] > 1 else b_j
                raw = (a_j @ b_j.T).reshape(nodes[m].shape)
                out[m] = _scale(raw, gains[j], nodes[m])
        if vecs:
            sizes = [nodes[m].shape[0] for m in vecs]
            node_of = torch.repeat_interleave(
                torch.arange(len(vecs), device=dev), torch.tensor(sizes, device=dev)
            )
            idx = torch.cat(
                [self._positions(nodes[m].shape[0], units[m][0], units[m][2], dev) for m in vecs]
            )
            v = self.vec_out(self.vec_node(h[vecs])[node_of] + self.vec_index(idx)).squeeze(-1)
            for m, part in zip(vecs, v.split(sizes), strict=True):
                out[m] = _scale(part, h.new_zeros(()), nodes[m])
        for m, n in enumerate(nodes):
            if len(n.shape) == 0:
                out[m] = _scale(self.vec_out(self.vec_node(h[m])).reshape(()), h.new_zeros(()), n)
        return out


class TilingDecoder(nn.Module):
    """GHN-2's decoder: a ``[block, block, kernel, kernel]`` tensor per node, tiled to shape.

    Args:
        dim: node embedding size.
        block: the block's two leading sizes (units, inputs).
        kernel: the block's spatial size.
        hidden: width of the decoder MLP.

    Example:
        >>> import torch
        >>> from hypernetworks.graph import Node
        >>> dec = TilingDecoder(16)
        >>> [tuple(t.shape) for t in dec(torch.randn(1, 16), [Node("linear.weight", "w", (70, 9))])]
        [(70, 9)]
    """

    def __init__(
        self, dim: int, *, block: int = 32, kernel: int = 5, hidden: int = 64, vectors: bool = True
    ) -> None:
        super().__init__()
        self.block, self.kernel = block, kernel
        self.weights = _mlp(dim, hidden, block * block * kernel * kernel)
        # vectors=False: a weights-only decoder (inside HybridDecoder), refuses vectors
        self.vectors = _mlp(dim, hidden, block, last_std=0.01) if vectors else None
        self.gain = nn.Linear(dim, 1)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.gain.bias)

    @staticmethod
    def _tile(block: Tensor, shape: tuple[int, ...]) -> Tensor:
        for dim, size in enumerate(shape):
            reps = [1] * block.dim()
            reps[dim] = -(-size // block.shape[dim])
            block = block.repeat(reps).narrow(dim, 0, size)
        return block

    def forward(
        self, h: Tensor, nodes: list[Node], units: list[Units] | None = None
    ) -> list[Tensor]:
        """Predict one tensor per node from its embedding ``h[m]`` (``[M, dim]``); a tiled
        block has no unit indices, so ``units`` is ignored."""
        k, blk = self.kernel, self.block
        blocks = self.weights(h).view(-1, blk, blk, k, k)
        gains = self.gain(h).squeeze(-1)
        vectors = self.vectors(h) if self.vectors is not None else None
        out = []
        for m, node in enumerate(nodes):
            shape = node.shape
            if len(shape) >= 2:
                source = blocks[m]
                if len(shape) == 2:
                    source = source[:, :, k // 2, k // 2]
                elif len(shape) == 3:
                    source = source[:, :, k // 2]
                elif len(shape) == 5:
                    source = source.unsqueeze(-1)
                raw = self._tile(source, shape)
                out.append(_scale(raw, gains[m], node))
            else:
                if vectors is None:
                    raise ValueError(
                        f"this TilingDecoder predicts weights only (vectors=False), got "
                        f"{node.param} of shape {tuple(shape)}"
                    )
                raw = self._tile(vectors[m], shape) if shape else vectors[m, 0]
                out.append(_scale(raw, h.new_zeros(()), node))
        return out


class HybridDecoder(nn.Module):
    """Tiling (GHN-2) for convolution kernels, low-rank (LoGAH) for the other parameters.

    On digits the tiling decoder predicted much better CNNs than the low-rank one, but its
    tiled block made every MLP alike; this decoder sends each weight of 3 or more
    dimensions (a convolution kernel) to a :class:`TilingDecoder` and everything else
    (linear weights, biases, normalisation vectors) to a :class:`LowRankDecoder`.

    Args:
        dim: node embedding size.
        rank / hidden / table / rich_kernel: of the low-rank part (see
            :class:`LowRankDecoder`); ``hidden`` is also the tiling MLP's width.
        block / kernel: of the tiling part (see :class:`TilingDecoder`).

    Example:
        >>> import torch
        >>> from hypernetworks.graph import Node
        >>> dec = HybridDecoder(16)
        >>> [tuple(t.shape) for t in dec(torch.randn(3, 16),
        ...                               [Node("conv.weight", "w", (8, 3, 7, 7)),
        ...                                Node("conv.bias", "b", (8,)),
        ...                                Node("linear.weight", "v", (10, 72))])]
        [(8, 3, 7, 7), (8,), (10, 72)]
    """

    def __init__(
        self,
        dim: int,
        *,
        rank: int = 16,
        hidden: int = 64,
        table: int = 1024,
        rich_kernel: bool = False,
        block: int = 32,
        kernel: int = 5,
    ) -> None:
        super().__init__()
        self.lowrank = LowRankDecoder(
            dim, rank=rank, hidden=hidden, table=table, rich_kernel=rich_kernel
        )
        self.tiling = TilingDecoder(dim, block=block, kernel=kernel, hidden=hidden, vectors=False)

    def forward(
        self, h: Tensor, nodes: list[Node], units: list[Units] | None = None
    ) -> list[Tensor]:
        """Predict one tensor per node from its embedding ``h[m]`` (``[M, dim]``); ``units``
        go to the low-rank part (see :meth:`LowRankDecoder.forward`)."""
        conv = [m for m, n in enumerate(nodes) if len(n.shape) >= 3]
        rest = [m for m, n in enumerate(nodes) if len(n.shape) < 3]
        out: list[Tensor] = [h.new_zeros(()) for _ in nodes]
        for part, decoder in ((conv, self.tiling), (rest, self.lowrank)):
            if part:
                sub = [units[m] for m in part] if units is not None else None
                predicted = decoder(h[part], [nodes[m] for m in part], sub)
                for m, t in zip(part, predicted, strict=True):
                    out[m] = t
        return out


#: The decoder of ``GraphHyperNetwork``, the benchmarks and the CLI unless one is named.
DEFAULT_DECODER = "hybrid"

DECODERS: dict[str, type[nn.Module]] = {
    "hybrid": HybridDecoder,
    "lowrank": LowRankDecoder,
    "tiling": TilingDecoder,
}
