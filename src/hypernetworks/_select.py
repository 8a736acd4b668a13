"""Choosing which target parameters a hypernetwork generates."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from torch import nn

from ._checks import describe

__all__ = ["select_parameters"]


def _listing(items: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def select_parameters(target: nn.Module, params: object) -> list[str]:
    """Names of the parameters of ``target`` selected by ``params``, in target order.

    ``params`` is ``None`` (every *trainable* parameter: frozen ones, with
    ``requires_grad=False``, stay as they are) or a list whose items are glob patterns
    over parameter names (``fnmatch`` rules: ``*`` also crosses dots) and/or ``nn.Module``
    subclasses (every parameter of every module of that type). Named explicitly, frozen
    parameters are generated too. A single pattern or type may be given without the list.
    Tied parameters match under any of their names and appear once, under the name
    ``named_parameters()`` gives them.

    Raises:
        ValueError: no parameter is selected, or a pattern/type matches nothing.
        TypeError: an item is neither a string nor an ``nn.Module`` subclass.

    Example:
        >>> import torch.nn as nn
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
        >>> select_parameters(net, ["*.weight"])
        ['0.weight', '1.weight', '2.weight']
        >>> select_parameters(net, [nn.BatchNorm1d])
        ['1.weight', '1.bias']
    """
    canonical = {id(p): name for name, p in target.named_parameters()}
    names = list(canonical.values())
    if not names:
        raise ValueError(
            f"the target {type(target).__name__} has no parameters, so there is nothing to generate"
        )
    if params is None:
        trainable = [n for n, p in target.named_parameters() if p.requires_grad]
        if not trainable:
            raise ValueError(
                f"every parameter of the target {type(target).__name__} is frozen "
                "(requires_grad=False); name the ones to generate in params"
            )
        return trainable
    # every name of a tied parameter leads to its canonical name
    aliases = {
        name: canonical[id(p)] for name, p in target.named_parameters(remove_duplicate=False)
    }
    if isinstance(params, (str, type)):
        params = [params]
    if not isinstance(params, (list, tuple)):
        raise TypeError(
            "params must be None or a list of glob patterns and/or nn.Module subclasses, "
            f"got {describe(params)}"
        )
    if not params:
        raise ValueError(
            "params is empty, so no parameter is selected; pass None to generate all of them"
        )
    chosen: set[str] = set()
    for item in params:
        if isinstance(item, str):
            hits = [aliases[n] for n in aliases if fnmatchcase(n, item)]
            if not hits:
                raise ValueError(
                    f"params pattern {item!r} matches no parameter of the target; "
                    f"its parameters are: {_listing(names)}"
                )
        elif isinstance(item, type) and issubclass(item, nn.Module):
            hits = [
                canonical[id(p)]
                for module in target.modules()
                if isinstance(module, item)
                for p in module.parameters()
            ]
            if not hits:
                kinds = sorted(
                    {
                        type(m).__name__
                        for m in target.modules()
                        if any(True for _ in m.parameters(False))
                    }
                )
                raise ValueError(
                    f"params type {item.__name__} matches no module with parameters in the target; "
                    f"module types with parameters there: {_listing(kinds)}"
                )
        else:
            raise TypeError(
                "each params item must be a glob pattern (str) or an nn.Module subclass, "
                f"got {describe(item)}"
            )
        chosen.update(hits)
    return [n for n in names if n in chosen]
