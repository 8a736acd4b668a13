"""Accuracy per task and method, as grouped bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["plot_accuracy"]


def plot_accuracy(rows: Sequence[Mapping[str, Any]], *, title: str = "") -> Any:
    """Grouped bars: one group per task, one bar per method (rows as in ``metrics.json``).

    Returns:
        A matplotlib ``Figure`` (pass it to ``run.save_figure``).

    Raises:
        ValueError: no rows.

    Example:
        >>> rows = [{"method": "a", "task": "t", "accuracy": 0.5},
        ...         {"method": "b", "task": "t", "accuracy": 0.7}]
        >>> len(plot_accuracy(rows).axes)
        1
    """
    if not rows:
        raise ValueError("plot_accuracy needs at least one result row, got none")
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    figure = Figure(figsize=(1.6 + 1.4 * len(tasks), 4.0), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        values = {r["task"]: r["accuracy"] for r in rows if r["method"] == method}
        xs = [i + (k - (len(methods) - 1) / 2) * width for i, t in enumerate(tasks) if t in values]
        axes.bar(xs, [100 * values[t] for t in tasks if t in values], width, label=method)
    axes.set_xticks(range(len(tasks)), tasks)
    axes.set_ylabel("test accuracy %")
    axes.set_ylim(0, 100)
    axes.legend(fontsize="small", ncols=2)
    if title:
        axes.set_title(title)
    return figure
