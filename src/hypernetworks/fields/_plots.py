"""Figures of the fields benchmarks: completion grids, super-resolution, rate-distortion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["completion_grid", "rate_distortion_plot", "superres_grid"]


def _show(axis: Any, image: Tensor, title: str | None = None) -> None:
    array = image.detach().clamp(0, 1).permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        axis.imshow(array[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        axis.imshow(array, interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=7)


def _context_view(images: Tensor, mask: Tensor) -> Tensor:
    """Context pixels as they are; the others a mid grey-blue, so black context shows."""
    filler = torch.tensor([0.3, 0.4, 0.6])[: images.shape[1]].view(1, -1, 1, 1)
    if images.shape[1] == 1:
        filler = torch.full((1, 1, 1, 1), 0.5)
    keep = mask.unsqueeze(1).to(images.dtype)
    return images * keep + filler * (1 - keep)


def completion_grid(truth: Tensor, shown: Mapping[str, Mapping[str, Tensor]]) -> Any:
    """Rows: images × context sizes; columns: context → each method's completion → truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contexts = list(shown)
    methods = [m for m in next(iter(shown.values())) if m != "mask"]
    rows = len(contexts) * truth.shape[0]
    columns = len(methods) + 2
    figure, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.3 * rows), squeeze=False)
    for c, context in enumerate(contexts):
        view = _context_view(truth, shown[context]["mask"])
        for i in range(truth.shape[0]):
            row = axes[c * truth.shape[0] + i]
            top = i == 0
            _show(row[0], view[i], f"context {context}" if top else None)
            for j, method in enumerate(methods):
                _show(row[j + 1], shown[context][method][i], method if top else None)
            _show(row[-1], truth[i], "truth" if top else None)
    figure.tight_layout()
    return figure


def superres_grid(small: Tensor, renders: Mapping[str, Tensor], truth: Tensor) -> Any:
    """Columns: 14×14 input, each method's 28×28 render, the real 28×28 image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = len(renders) + 2
    figure, axes = plt.subplots(
        small.shape[0], columns, figsize=(1.3 * columns, 1.3 * small.shape[0]), squeeze=False
    )
    for i in range(small.shape[0]):
        top = i == 0
        _show(axes[i][0], small[i], "14×14 input" if top else None)
        for j, (method, images) in enumerate(renders.items()):
            _show(axes[i][j + 1], images[i], method if top else None)
        _show(axes[i][-1], truth[i], "real 28×28" if top else None)
    figure.tight_layout()
    return figure


def rate_distortion_plot(curves: Mapping[str, Sequence[tuple[float, float]]], title: str) -> Any:
    """PSNR (dB) against bits per pixel, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.6))
    for method, points in curves.items():
        xs, ys = zip(*sorted(points), strict=False)
        axis.plot(xs, ys, marker="o", label=method)
    axis.set_xlabel("bits per pixel")
    axis.set_ylabel("PSNR (dB)")
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure
