"""Hidden units are exchangeable: random unit shifts while a GHN trains.

The low-rank decoder gives output unit ``i`` of a layer (and input column ``i`` of the next
one) a learned index vector, one per index up to ``table`` (1,024). An architecture space
whose widths stop at 512 trains only the first 512: a wider network at test time got
untrained, random vectors for its other units, and the rows of a unit and the columns that
read it no longer matched (the 1024×1024 MLP was the weakest out-of-distribution MLP).

Yet a hidden unit's index means nothing: permuting the hidden units of a network gives the
same function. So while training, every hidden index ``i`` of an architecture is read as
``(i + shift) mod table`` with a random ``shift`` drawn for that architecture at every step,
the same shift wherever the unit appears (the rows and vectors of its layer, the columns
of the layers that read it). Every index vector is then trained, none carries a meaning
of its own, and a unit's rows and columns still match. Indices with a meaning are never
shifted: the columns of a layer that reads the network's input (pixels), and the rows and
vectors of a layer whose output reaches the network's output without another weight
(classes). At prediction the shift is 0.

Only architectures whose weights are all matrices (MLPs) are shifted: a convolution kernel
of the hybrid or tiling decoder is tiled by channel position, and its channels' vectors
must keep that position.

Outcome (MNIST, development seed 100): with shifts the MLPs collapsed (held-out zero-shot
0.22 instead of 0.85): the index vectors do carry a meaning of their own, so shifting is
off by default (``GraphHyperNetwork(unit_shifts=True)``). The same roles serve the default
remedy, ``fold_units``: at prediction, hidden unit ``i`` past the pool's widest hidden
layer reads the vectors of ``i mod unit_range``, rows and columns alike.
"""

from __future__ import annotations

from ._trace import Graph

__all__ = ["unit_roles"]


def unit_roles(graph: Graph) -> dict[str, tuple[bool, bool]] | None:
    """``{parameter: (rows exchangeable, columns exchangeable)}``; None when the graph has a
    weight of 3 or more dimensions (a convolution) and must not be shifted.

    Rows of a weight and vectors (biases, normalisation) are exchangeable when another
    weight lies downstream (their units are hidden); columns when another weight lies
    upstream (they read hidden units, not the input).

    Example:
        >>> from torch import nn
        >>> from hypernetworks.graph import trace
        >>> g = trace(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
        >>> unit_roles(g)  # doctest: +NORMALIZE_WHITESPACE
        {'0.weight': (True, False), '0.bias': (True, False),
         '2.weight': (False, True), '2.bias': (False, False)}
    """
    nodes = graph.nodes
    if any(n.param is not None and len(n.shape) >= 3 for n in nodes):
        return None
    weight = [n.param is not None and len(n.shape) == 2 for n in nodes]
    preds: list[list[int]] = [[] for _ in nodes]
    succs: list[list[int]] = [[] for _ in nodes]
    for s, d in graph.edges:
        preds[d].append(s)
        succs[s].append(d)
    above = [False] * len(nodes)  # a weight strictly upstream
    for i in range(len(nodes)):  # edges go from lower to higher indices
        above[i] = any(weight[s] or above[s] for s in preds[i])
    below = [False] * len(nodes)  # a weight strictly downstream
    for i in reversed(range(len(nodes))):
        below[i] = any(weight[d] or below[d] for d in succs[i])
    return {
        str(n.param): (below[i], weight[i] and above[i])
        for i, n in enumerate(nodes)
        if n.param is not None
    }
