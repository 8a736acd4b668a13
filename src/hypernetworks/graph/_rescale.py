"""Predicted weights at the scale of a random initialisation, the network's function unchanged.

Why: on MNIST the predicted first layer of an MLP has about 9 times the root mean square of
PyTorch's default initialisation (the decoder's learned gain). Adam moves every weight by
about its learning rate per step whatever the weight's size, so a weight 9 times larger
changes 9 times more slowly in relative terms: fine-tuning from the prediction improved
its features far more slowly than fine-tuning from a random start, which passed it after
30-100 steps (docs/benchmarks.md §11).

What: a linear layer's weight and bias are divided by ``c = rms(predicted) / rms(initial)``
(the model's own weight before the prediction is loaded) wherever this leaves the network's
function exactly as it was:

- the layer feeds only a normalisation layer (BatchNorm, LayerNorm, GroupNorm): the
  normalisation removes the factor;
- the layer feeds only a ReLU (or leaky ReLU) whose output reaches exactly one weight,
  through dropout, reshapes or max pooling only: ReLU is positively homogeneous, so that
  next weight is multiplied by ``c``.

Other layers (followed by GELU or Tanh without normalisation, or by a residual addition)
keep their predicted scale. Convolutions are left alone.
"""

from __future__ import annotations

from torch import Tensor

from ._trace import Graph

__all__ = ["rescale"]

_NORMS = ("batchnorm", "layernorm", "groupnorm")
_HOMOGENEOUS = ("relu", "leaky_relu")
_THROUGH = ("dropout", "identity", "reshape", "maxpool")


def _rms(t: Tensor) -> float:
    return float(t.detach().pow(2).mean().sqrt())


def rescale(
    graph: Graph, predicted: dict[str, Tensor], initial: dict[str, Tensor]
) -> dict[str, Tensor]:
    """``predicted`` with each rescalable linear weight at the rms of its ``initial`` one.

    Args:
        graph: the model's graph (:func:`~hypernetworks.graph.trace`).
        predicted: ``{parameter: tensor}`` (e.g. from ``GraphHyperNetwork.predict``).
        initial: the model's own parameters, whose weights give the target scale.

    Returns:
        A new dict; the model computes the same function with it as with ``predicted``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hypernetworks.graph import trace
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> initial = {k: v.detach() for k, v in net.named_parameters()}
        >>> big = {k: 10 * v for k, v in initial.items()}
        >>> small = rescale(trace(net), big, initial)
        >>> round(float(small["0.weight"].pow(2).mean() / initial["0.weight"].pow(2).mean()), 3)
        1.0
        >>> x = torch.randn(3, 4)
        >>> out = lambda p: torch.func.functional_call(net, p, (x,))
        >>> torch.allclose(out(big), out(small), atol=1e-4)
        True
    """
    nodes = graph.nodes
    succs: list[list[int]] = [[] for _ in nodes]
    for s, d in graph.edges:
        succs[s].append(d)
    out = dict(predicted)
    for i, node in enumerate(nodes):
        if node.op != "linear.weight" or node.param is None:
            continue
        end = i
        bias = None
        if len(succs[i]) == 1 and nodes[succs[i][0]].op == "linear.bias":
            end = succs[i][0]
            bias = nodes[end].param
        if len(succs[end]) != 1:
            continue
        after = succs[end][0]
        op = nodes[after].op.split(".")[0]
        follower = None
        if op in _HOMOGENEOUS:
            k = after
            while len(succs[k]) == 1 and nodes[succs[k][0]].op in _THROUGH:
                k = succs[k][0]
            nxt = succs[k]
            if len(nxt) != 1 or not nodes[nxt[0]].op.endswith(".weight"):
                continue
            if len(nodes[nxt[0]].shape) < 2:  # a normalisation's weight, not a layer
                continue
            follower = nodes[nxt[0]].param
        elif op not in _NORMS:
            continue
        target = _rms(initial[node.param])
        if target == 0.0:
            continue
        c = _rms(out[node.param]) / target
        if c == 0.0:
            continue
        out[node.param] = out[node.param] / c
        if bias is not None:
            out[bias] = out[bias] / c
        if follower is not None:
            out[follower] = out[follower] * c
    return out
