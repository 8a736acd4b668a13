"""A network's computational graph, read with ``torch.fx`` (``torch.export`` as the fallback).

Every operation becomes a node, parameterless ones included (activations, pooling,
residual additions, reshapes, normalisation without affine parameters), as in GHN-2. A
layer with parameters becomes one node per parameter, chained weight → bias, so each
predicted tensor has its own node. Pass-through operations (``getitem``, ``contiguous``,
``detach``) are skipped and their inputs wired straight to their users.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["OPS", "Graph", "Node", "UnsupportedModelError", "trace"]

# The operation vocabulary: one learned embedding each. Shapes are encoded continuously.
OPS: tuple[str, ...] = (
    "input",
    "output",
    "other",
    "linear.weight",
    "linear.bias",
    "conv.weight",
    "conv.bias",
    "batchnorm.weight",
    "batchnorm.bias",
    "layernorm.weight",
    "layernorm.bias",
    "groupnorm.weight",
    "groupnorm.bias",
    "batchnorm",
    "layernorm",
    "groupnorm",
    "relu",
    "gelu",
    "tanh",
    "sigmoid",
    "silu",
    "elu",
    "leaky_relu",
    "softmax",
    "dropout",
    "maxpool",
    "avgpool",
    "reshape",
    "add",
    "mul",
    "cat",
    "mean",
    "identity",
    "globalpool",
)

# module class -> layer family; a module with parameters outside this table is refused
_LAYERS: dict[type[nn.Module], str] = {
    nn.Linear: "linear",
    nn.Conv1d: "conv",
    nn.Conv2d: "conv",
    nn.Conv3d: "conv",
    nn.BatchNorm1d: "batchnorm",
    nn.BatchNorm2d: "batchnorm",
    nn.BatchNorm3d: "batchnorm",
    nn.LayerNorm: "layernorm",
    nn.GroupNorm: "groupnorm",
}
_SUPPORTED = "Linear, Conv1d/2d/3d, BatchNorm1d/2d/3d, LayerNorm, GroupNorm"
# words in a function, method, module or aten op name -> parameterless op
_WORDS: tuple[tuple[str, str], ...] = (
    ("leaky_relu", "leaky_relu"),
    ("relu", "relu"),
    ("gelu", "gelu"),
    ("tanh", "tanh"),
    ("sigmoid", "sigmoid"),
    ("silu", "silu"),
    ("elu", "elu"),
    ("softmax", "softmax"),
    ("dropout", "dropout"),
    ("adaptive", "globalpool"),
    ("max_pool", "maxpool"),
    ("maxpool", "maxpool"),
    ("avg_pool", "avgpool"),
    ("avgpool", "avgpool"),
    ("batch_norm", "batchnorm"),
    ("batchnorm", "batchnorm"),
    ("layer_norm", "layernorm"),
    ("layernorm", "layernorm"),
    ("group_norm", "groupnorm"),
    ("groupnorm", "groupnorm"),
    ("flatten", "reshape"),
    ("view", "reshape"),
    ("reshape", "reshape"),
    ("permute", "reshape"),
    ("transpose", "reshape"),
    ("squeeze", "reshape"),
    ("add", "add"),
    ("sub", "add"),
    ("mul", "mul"),
    ("cat", "cat"),
    ("mean", "mean"),
    ("identity", "identity"),
    ("linear", "linear"),
    ("conv", "conv"),
)
_PASS = ("getitem", "contiguous", "detach", "clone", "alias", "_assert", "sym_size")


class UnsupportedModelError(ValueError):
    """A model that cannot be traced, or holds a layer whose parameters cannot be predicted."""


@dataclass(frozen=True)
class Node:
    """One operation of the graph.

    Attributes:
        op: an entry of :data:`OPS` (``"linear.weight"``, ``"relu"``, ``"add"`` ...).
        param: the parameter's name in ``model.named_parameters()``, or None.
        shape: the parameter's shape; ``()`` for parameterless operations.
    """

    op: str
    param: str | None = None
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class Graph:
    """A directed acyclic graph of :class:`Node` s; every edge ``(src, dst)`` has src < dst.

    Example:
        >>> from torch import nn
        >>> g = trace(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
        >>> [n.op for n in g.nodes]  # doctest: +NORMALIZE_WHITESPACE
        ['input', 'linear.weight', 'linear.bias', 'relu', 'linear.weight', 'linear.bias',
         'output']
    """

    nodes: tuple[Node, ...]
    edges: tuple[tuple[int, int], ...]
    method: str = "fx"

    def parameters(self) -> dict[str, int]:
        """``{parameter name: node index}`` for every parameter node."""
        return {n.param: i for i, n in enumerate(self.nodes) if n.param is not None}


def _family(module: nn.Module, name: str) -> str | None:
    """The layer family of a module with parameters; None for a parameterless one."""
    if next(module.parameters(recurse=False), None) is None:
        return None
    for cls, family in _LAYERS.items():
        if isinstance(module, cls):
            return family
    raise UnsupportedModelError(
        f"cannot predict the parameters of layer '{name}' ({type(module).__name__}): the "
        f"supported layers with parameters are {_SUPPORTED}; build the model from these, "
        "or write the layer with torch.nn.functional.linear/conv calls on its parameters"
    )


def _word(name: str) -> str:
    low = name.lower()
    for word, op in _WORDS:
        if word in low:
            return op
    return "other"


class _Builder:
    """Accumulates nodes and edges; ``outs`` maps a traced value to the nodes producing it."""

    def __init__(self, method: str) -> None:
        self.nodes: list[Node] = []
        self.edges: set[tuple[int, int]] = set()
        self.outs: dict[str, list[int]] = {}
        self.method = method

    def add(self, node: Node, sources: list[int]) -> int:
        self.nodes.append(node)
        index = len(self.nodes) - 1
        self.edges.update((s, index) for s in sources)
        return index

    def chain(
        self, family: str, params: list[tuple[str, tuple[int, ...]]], sources: list[int]
    ) -> list[int]:
        """Parameter nodes of one layer, weight first then bias, the first fed by sources."""
        if not params:
            return [self.add(Node(family if family in OPS else _word(family)), sources)]
        if len(params) == 1:  # a lone tensor is a bias only by name
            roles = ["bias" if params[0][0].rsplit(".", 1)[-1].endswith("bias") else "weight"]
        else:
            roles = ["weight", "bias"]
        for (pname, shape), role in zip(params, roles, strict=True):
            sources = [self.add(Node(f"{family}.{role}", pname, shape), sources)]
        return sources

    def graph(self) -> Graph:
        return Graph(tuple(self.nodes), tuple(sorted(self.edges)), self.method)


def _sources(builder: _Builder, args: Any) -> list[int]:
    found: list[int] = []

    def visit(a: Any) -> None:
        if isinstance(a, torch.fx.Node):
            found.extend(i for i in builder.outs.get(a.name, []) if i not in found)
        elif isinstance(a, (list, tuple)):
            for item in a:
                visit(item)
        elif isinstance(a, dict):
            for item in a.values():
                visit(item)

    visit(args)
    return found


def _from_fx(model: nn.Module, gm: torch.fx.GraphModule) -> Graph:
    b = _Builder("fx")
    params = dict(model.named_parameters())
    for node in gm.graph.nodes:
        args = (node.args, node.kwargs)
        if node.op == "placeholder":
            b.outs[node.name] = [b.add(Node("input"), [])]
        elif node.op == "get_attr":
            b.outs[node.name] = []  # wired in by the function that uses it
        elif node.op == "output":
            b.add(Node("output"), _sources(b, args))
        elif node.op == "call_module":
            module = gm.get_submodule(node.target)
            family = _family(module, node.target)
            own = sorted(
                (
                    (f"{node.target}.{n}", tuple(p.shape))
                    for n, p in module.named_parameters(recurse=False)
                ),
                key=lambda item: item[0].endswith("bias"),
            )
            b.outs[node.name] = b.chain(
                family or _word(type(module).__name__), own, _sources(b, args)
            )
        else:  # call_function / call_method
            name = getattr(node.target, "__name__", str(node.target))
            if node.target is operator.getitem or any(p in name for p in _PASS):
                b.outs[node.name] = _sources(b, args)
                continue
            used = [
                (str(a.target), tuple(params[str(a.target)].shape))
                for a in node.args
                if isinstance(a, torch.fx.Node) and a.op == "get_attr" and str(a.target) in params
            ]
            op = _word(name)
            if used and op not in ("linear", "conv", "batchnorm", "layernorm", "groupnorm"):
                raise UnsupportedModelError(
                    f"cannot predict parameter '{used[0][0]}': it is used by '{name}', and only "
                    "linear, conv and normalisation functions may take parameters; use "
                    f"{_SUPPORTED} layers or torch.nn.functional.linear/conv on it"
                )
            b.outs[node.name] = b.chain(op, used, _sources(b, args))
    return b.graph()


def _from_export(model: nn.Module, example: tuple[Any, ...]) -> Graph:
    program = torch.export.export(model, example, strict=False)
    to_param = program.graph_signature.inputs_to_parameters
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    user_inputs = set(program.graph_signature.user_inputs)
    b = _Builder("export")
    for node in program.graph.nodes:
        args = (node.args, node.kwargs)
        if node.op == "placeholder":
            b.outs[node.name] = [b.add(Node("input"), [])] if node.name in user_inputs else []
        elif node.op == "output":
            b.add(Node("output"), _sources(b, args))
        elif node.op == "call_function":
            name = str(getattr(node.target, "__name__", node.target))
            if node.target is operator.getitem or any(p in name for p in _PASS):
                b.outs[node.name] = _sources(b, args)
                continue
            used = [
                (to_param[a.name], shapes[to_param[a.name]])
                for a in node.args
                if isinstance(a, torch.fx.Node) and a.name in to_param
            ]
            sources = _sources(b, args)
            if not sources and not used:  # buffer bookkeeping (e.g. num_batches_tracked)
                b.outs[node.name] = []
                continue
            b.outs[node.name] = b.chain(_word(name), used, sources)
        else:
            b.outs[node.name] = _sources(b, args)
    return b.graph()


def trace(model: nn.Module, example_input: Tensor | tuple[Any, ...] | None = None) -> Graph:
    """The computational graph of ``model``, with ``torch.fx`` or, failing that, ``torch.export``.

    Args:
        model: any ``nn.Module`` whose parameters belong to supported layers
            (Linear, Conv, BatchNorm, LayerNorm, GroupNorm) or are used through
            ``torch.nn.functional.linear``/``conv``.
        example_input: an input (or tuple of inputs) for the ``torch.export`` fallback,
            needed only when ``torch.fx.symbolic_trace`` fails (e.g. Python control flow on
            input shapes).

    Returns:
        The :class:`Graph`; every parameter of ``model`` is one of its nodes.

    Raises:
        UnsupportedModelError: neither tracer can read the model (the message gives both
            reasons and what to do), or a layer's parameters cannot be predicted.
        TypeError: ``model`` is not an ``nn.Module``.

    Example:
        >>> from torch import nn
        >>> g = trace(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU()))
        >>> sorted(g.parameters())
        ['0.bias', '0.weight', '1.bias', '1.weight']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for name, module in model.named_modules():
        if type(module).__module__.startswith("torch.nn."):  # built-in layers are traced whole
            _family(module, name or type(module).__name__)
    try:
        graph = _from_fx(model, torch.fx.symbolic_trace(model))
    except UnsupportedModelError:
        raise
    except Exception as fx_error:  # noqa: BLE001 - any tracing failure leads to the fallback
        reason = f"{type(fx_error).__name__}: {str(fx_error).splitlines()[0]}"
        if example_input is None:
            raise UnsupportedModelError(
                f"torch.fx cannot trace {type(model).__name__} ({reason}); pass example_input= "
                "so that torch.export can trace it instead, or remove Python control flow that "
                "depends on input values"
            ) from fx_error
        example = example_input if isinstance(example_input, tuple) else (example_input,)
        try:
            graph = _from_export(model, example)
        except UnsupportedModelError:
            raise
        except Exception as export_error:  # noqa: BLE001
            raise UnsupportedModelError(
                f"neither torch.fx ({reason}) nor torch.export "
                f"({type(export_error).__name__}: {str(export_error).splitlines()[0]}) can "
                f"trace {type(model).__name__}; remove control flow that depends on input "
                "values (torch.cond can express it) and try again"
            ) from export_error
    _check_complete(model, graph)
    return graph


def _check_complete(model: nn.Module, graph: Graph) -> None:
    missing = [n for n, _ in model.named_parameters() if n not in graph.parameters()]
    if missing:
        raise UnsupportedModelError(
            f"{len(missing)} parameter(s) of {type(model).__name__} do not appear in its traced "
            f"graph (e.g. '{missing[0]}'): every parameter must be used in forward"
        )
