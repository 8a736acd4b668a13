"""Importing a data set's optional package, with a message that says how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, package: str, extra: str) -> ModuleType:
    """Import ``module``; if that fails, an ImportError naming the pip package and extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this data set needs the package {package!r}, which is not installed; "
            f"install it with `pip install {package}` or `pip install 'hypernetworks[{extra}]'`"
        ) from error
