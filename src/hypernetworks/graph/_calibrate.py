"""BatchNorm statistics for predicted networks, which come without running statistics."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["calibrate_batchnorm"]


def calibrate_batchnorm(model: nn.Module, x: Tensor, *, batch_size: int = 1024) -> nn.Module:
    """Set BatchNorm running statistics from ``x`` (no labels, no gradients), then ``eval()``.

    Predicted parameters come without running statistics; this fills them with the
    size-weighted average of the per-batch means and variances of the activations on ``x``
    (the exact statistics of ``x`` when it fits in one batch).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = calibrate_batchnorm(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)),
        ...                           torch.randn(100, 3))
        >>> net.training, int(net[1].num_batches_tracked) > 0
        (False, True)
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    if not norms:
        return model
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.train()
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            for m in norms:  # running average weighted by batch size
                m.momentum = len(batch) / min(start + batch_size, len(x))
            model(batch)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
        m.eval()
    return model
