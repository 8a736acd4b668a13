"""The accuracy-matrix heatmap of a continual run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["accuracy_heatmap"]


def accuracy_heatmap(matrix: Sequence[Sequence[float | None]], *, title: str) -> Any:
    """A matplotlib figure of ``matrix`` (row i: accuracy on each task after task i;
    None cells blank), annotated in percent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    data = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * data.shape[1], 0.8 + 0.5 * data.shape[0]))
    image = ax.imshow(data, vmin=0.0, vmax=1.0, cmap="viridis")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if not np.isnan(data[i, j]):
                ax.text(
                    j,
                    i,
                    f"{100 * data[i, j]:.0f}",
                    ha="center",
                    va="center",
                    color="white" if data[i, j] < 0.6 else "black",
                    fontsize=8,
                )
    ax.set_xticks(range(data.shape[1]))
    ax.set_yticks(range(data.shape[0]))
    ax.set_xlabel("evaluated on task")
    ax.set_ylabel("after learning task")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
