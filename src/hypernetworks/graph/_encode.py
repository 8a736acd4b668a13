"""Turning a :class:`Graph` into tensors: operation ids, continuous shape features, adjacency.

Shapes are encoded continuously (log₂ of every dimension, plus the node's depth from the
input and height to the output), never through a table of seen sizes, so widths and kernel
sizes never seen in training still get a meaningful encoding. The adjacency carries the
graph's edges and, as in GHN-2, *virtual* edges between nodes up to ``reach`` steps apart,
weighted by 1/distance, so information crosses a deep graph in few rounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ._trace import OPS, Graph

__all__ = ["RESOLUTION_FEATURES", "SHAPE_FEATURES", "Encoded", "encode"]

SHAPE_FEATURES = 13  # 4 log-dims, 4 present flags, log numel, log fan-in, depth x3
RESOLUTION_FEATURES = 2  # pooling level (log2 of the downsampling), after a global pool
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_DOWNSAMPLE = ("maxpool", "avgpool")


@dataclass(frozen=True)
class Encoded:
    """A graph as tensors.

    Attributes:
        ops: ``[N]`` operation ids (indices into ``OPS``).
        shapes: ``[N, SHAPE_FEATURES]`` continuous shape and position features (plus
            ``RESOLUTION_FEATURES`` with ``resolution=True``).
        forward: ``[N, N]`` row-normalised weights of messages ``src → dst`` (row = dst).
        backward: ``[N, N]`` the same for messages against the edges.
    """

    ops: Tensor
    shapes: Tensor
    forward: Tensor
    backward: Tensor


def _distances(n: int, edges: tuple[tuple[int, int], ...], reach: int) -> Tensor:
    """``[N, N]`` shortest path lengths ``src → dst`` (0 where more than ``reach`` or none)."""
    step = torch.zeros(n, n)
    for s, d in edges:
        step[d, s] = 1.0
    dist, frontier = step.clone(), step.clone()
    for k in range(2, reach + 1):
        frontier = ((frontier @ step) > 0).float()
        new = (frontier > 0) & (dist == 0)
        dist[new] = float(k)
    return dist


def _longest(n: int, edges: tuple[tuple[int, int], ...], reverse: bool) -> list[int]:
    depth = [0] * n
    ordered = sorted(edges, key=lambda e: -e[0] if reverse else e[1])
    for s, d in ordered:
        a, b = (d, s) if reverse else (s, d)
        depth[b] = max(depth[b], depth[a] + 1)
    return depth


def _resolution(graph: Graph) -> Tensor:
    """``[N, 2]``: pooling level and a flag set after a global pool, along the longest path.

    No node carries the spatial size of its activations; the number of 2× pools between
    the input and a node stands for it (the level ``L`` means the input's size / ``2^L``).
    """
    n = len(graph.nodes)
    level, pooled = [0] * n, [False] * n
    for i, node in enumerate(graph.nodes):
        level[i] += int(node.op in _DOWNSAMPLE)
        pooled[i] = pooled[i] or node.op == "globalpool"
        for s, d in graph.edges:  # src < dst: a node's sources are final when it is reached
            if s == i:
                level[d] = max(level[d], level[i])
                pooled[d] = pooled[d] or pooled[i]
    return torch.tensor([[lv / 3, float(p)] for lv, p in zip(level, pooled, strict=True)])


def encode(graph: Graph, *, reach: int = 4, resolution: bool = False) -> Encoded:
    """Encode ``graph`` for message passing.

    Args:
        graph: from :func:`~hypernetworks.graph.trace`.
        reach: virtual edges join nodes up to this many steps apart (1 = graph edges only).
        resolution: add ``RESOLUTION_FEATURES`` (pooling level, after a global pool) and
            keep global pooling apart from 2× average pooling (otherwise both are
            ``avgpool``).

    Returns:
        The :class:`Encoded` tensors.

    Example:
        >>> from torch import nn
        >>> from hypernetworks.graph import trace
        >>> e = encode(trace(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))))
        >>> tuple(e.shapes.shape), round(float(e.forward[1:].sum(1).min()), 4)
        ((7, 13), 1.0)
    """
    n = len(graph.nodes)
    depth = _longest(n, graph.edges, reverse=False)
    height = _longest(n, graph.edges, reverse=True)
    shapes = torch.zeros(n, SHAPE_FEATURES)
    for i, node in enumerate(graph.nodes):
        dims = list(node.shape[:2]) + ([math.prod(node.shape[2:])] if len(node.shape) > 2 else [])
        kernel = node.shape[2:]
        for j, d in enumerate(dims[:2]):
            shapes[i, j] = math.log2(d + 1) / 10
            shapes[i, 4 + j] = 1.0
        if kernel:
            shapes[i, 2] = math.log2(kernel[0] + 1) / 3
            shapes[i, 3] = math.log2(kernel[-1] + 1) / 3
            shapes[i, 6] = shapes[i, 7] = 1.0
        if node.shape:
            shapes[i, 8] = math.log2(math.prod(node.shape) + 1) / 20
            shapes[i, 9] = math.log2(math.prod(node.shape[1:]) + 1) / 10
        shapes[i, 10] = math.log2(depth[i] + 1) / 6
        shapes[i, 11] = math.log2(height[i] + 1) / 6
        shapes[i, 12] = depth[i] / max(depth[i] + height[i], 1)
    dist = _distances(n, graph.edges, reach)
    weight = torch.where(dist > 0, 1.0 / dist.clamp(min=1), torch.zeros(()))

    def normalise(w: Tensor) -> Tensor:
        return w / w.sum(1, keepdim=True).clamp(min=1e-12)

    if resolution:
        shapes = torch.cat([shapes, _resolution(graph)], 1)
    names = [
        "avgpool" if node.op == "globalpool" and not resolution else node.op for node in graph.nodes
    ]
    ops = torch.tensor([_OP_INDEX[op] for op in names], dtype=torch.long)
    return Encoded(ops, shapes, normalise(weight), normalise(weight.T.contiguous()))
