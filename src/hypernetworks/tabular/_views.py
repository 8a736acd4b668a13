"""The pieces of HyperTab below the estimators: the per-view network, the view masks, the
optional piecewise-linear encoding of numerical features, and the vectorized forward pass
that runs every view on every row with the weights the hypernetwork generated for it.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["PiecewiseLinear", "ViewNetwork", "run_views", "view_masks"]


class ViewNetwork(nn.Module):
    """One view's network: ``features → hidden (ReLU) → outputs``, plus (``linear=True``)
    a linear path ``features → outputs`` added to it. The hypernetwork generates all of
    its parameters; ``forward`` serves :meth:`~hypernetworks.HyperModel.materialize`.

    Example:
        >>> import torch
        >>> net = ViewNetwork(4, 8, 3, linear=True)
        >>> net(torch.randn(5, 4)).shape
        torch.Size([5, 3])
    """

    def __init__(self, features: int, hidden: int, outputs: int, linear: bool = False) -> None:
        super().__init__()
        self.hidden = nn.Linear(features, hidden)
        self.out = nn.Linear(hidden, outputs)
        self.linear = nn.Linear(features, outputs, bias=False) if linear else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.out(torch.relu(self.hidden(x)))
        return y if self.linear is None else y + self.linear(x)


def run_views(weights: dict[str, Tensor], x: Tensor, columns: Tensor) -> Tensor:
    """Every view's output for every row, ``[views, n, outputs]``.

    ``weights`` holds the generated tensors (leading dimension: views), ``x`` is
    ``[n, features]`` and ``columns`` ``[views, features]`` the 0/1 column masks; a view
    sees its own columns only (the others are zeroed).
    """
    xs = x.unsqueeze(0) * columns.unsqueeze(1)
    h = torch.baddbmm(weights["hidden.bias"].unsqueeze(1), xs, weights["hidden.weight"].mT)
    out = torch.baddbmm(weights["out.bias"].unsqueeze(1), h.relu(), weights["out.weight"].mT)
    if "linear.weight" in weights:
        out = out + xs @ weights["linear.weight"].mT
    return out


def view_masks(
    n_views: int, size: float, n_features: int, rng: np.random.RandomState
) -> np.ndarray:
    """``[n_views, n_features]`` 0/1 masks, each with ``size`` features drawn without
    replacement (``size`` a fraction of the features, or an int count)."""
    k = int(size) if isinstance(size, numbers.Integral) else round(size * n_features)
    k = min(max(k, 1), n_features)
    masks = np.zeros((n_views, n_features), dtype=np.float32)
    for mask in masks:
        mask[rng.choice(n_features, size=k, replace=False)] = 1.0
    return masks


class PiecewiseLinear:
    """Piecewise-linear encoding of numerical features (Gorishniy et al. 2022): a feature
    with more than two distinct training values becomes itself plus one column per
    quantile bin, 0 below the bin, 1 above it and linear inside; others stay as they are.

    Example:
        >>> import numpy as np
        >>> x = np.arange(10.0).reshape(-1, 1)
        >>> enc = PiecewiseLinear(4).fit(x)
        >>> enc.transform(x).shape, enc.groups.tolist()
        ((10, 5), [0, 0, 0, 0, 0])
    """

    def __init__(self, n_bins: int) -> None:
        self.n_bins = n_bins

    def fit(self, x: np.ndarray) -> PiecewiseLinear:
        self.edges: list[np.ndarray | None] = []
        groups = []
        for j in range(x.shape[1]):
            values = np.unique(x[:, j])
            edges = None
            if len(values) > 2:
                quantiles = np.quantile(x[:, j], np.linspace(0, 1, self.n_bins + 1))
                edges = np.unique(quantiles)
                if len(edges) < 2:
                    edges = None
            self.edges.append(edges)
            groups += [j] * (1 if edges is None else len(edges))
        self.groups = np.asarray(groups)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        parts = []
        for j, edges in enumerate(self.edges):
            parts.append(x[:, j : j + 1])
            if edges is not None:
                left, width = edges[:-1], np.diff(edges)
                parts.append(np.clip((x[:, j : j + 1] - left) / width, 0.0, 1.0))
        return np.concatenate(parts, axis=1)
