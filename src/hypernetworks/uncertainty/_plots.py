"""The recipe's figures: reliability diagram, OOD histogram, regression intervals.

Each function returns a matplotlib figure (Agg backend); ``Run.save_figure`` writes it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["intervals_figure", "ood_histogram", "reliability_diagram"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reliability_diagram(probs: Tensor, labels: Tensor, *, bins: int = 15, title: str = "") -> Any:
    """Accuracy against confidence per equal-width bin, with the diagonal.

    Example:
        >>> import torch
        >>> fig = reliability_diagram(torch.tensor([[0.9, 0.1]]), torch.tensor([0]))
    """
    plt = _pyplot()
    confidence, predicted = probs.max(-1)
    correct = (predicted == labels).double()
    index = (confidence * bins).long().clamp(0, bins - 1)
    count = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, torch.ones_like(correct))
    hits = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, correct)
    centers = (torch.arange(bins, dtype=torch.float64) + 0.5) / bins
    accuracy = torch.where(count > 0, hits / count.clamp_min(1), torch.nan)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.bar(
        centers.numpy(),
        accuracy.numpy(),
        width=1 / bins,
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def ood_histogram(inside: Tensor, outside: dict[str, Tensor], *, title: str = "") -> Any:
    """Histograms of an uncertainty score in and out of distribution.

    Example:
        >>> import torch
        >>> fig = ood_histogram(torch.rand(50), {"digits 5-9": torch.rand(50) + 0.5})
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    high = max(float(inside.max()), *(float(v.max()) for v in outside.values())) + 1e-6
    edges = torch.linspace(0, high, 31).numpy()
    ax.hist(inside.numpy(), bins=edges, density=True, alpha=0.6, label="in distribution")
    for name, values in outside.items():
        ax.hist(values.numpy(), bins=edges, density=True, alpha=0.5, label=f"OOD: {name}")
    ax.set_xlabel("score (nats)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def intervals_figure(
    grid: Tensor, mean: Tensor, std: Tensor, x: Tensor, y: Tensor, *, title: str = ""
) -> Any:
    """The predictive mean with ±1σ and ±2σ bands over ``grid``, and the training data.

    Example:
        >>> import torch
        >>> g = torch.linspace(-1, 1, 5)
        >>> fig = intervals_figure(g, g, torch.ones(5), g, g)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    g, m, s = grid.numpy(), mean.numpy(), std.numpy()
    ax.fill_between(g, m - 2 * s, m + 2 * s, alpha=0.2, color="C0", label="±2σ")
    ax.fill_between(g, m - s, m + s, alpha=0.3, color="C0", label="±1σ")
    ax.plot(g, m, color="C0", label="predictive mean")
    ax.plot(g, torch.sin(2 * grid).numpy(), "k:", label="sin(2x)")
    ax.scatter(x.numpy(), y.numpy(), s=6, color="C3", label="training data")
    ax.set_ylim(-3, 3)
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    return fig
