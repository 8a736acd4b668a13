"""Small helpers for argument checks and the error messages they raise."""

from __future__ import annotations

import numbers

from torch import Tensor


def describe(value: object) -> str:
    """A short description of a value for an error message: type, and shape/dtype for tensors."""
    if isinstance(value, Tensor):
        return f"Tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is an int ≥ 1 (bools refused); raise otherwise."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be a positive int, got {describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` if it is an int ≥ ``minimum`` (bools refused): a TypeError for
    another type, a ValueError below ``minimum``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_positive_number(value: object, name: str) -> float:
    """Return ``value`` as a float if it is a real number > 0 (bools refused)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a positive number, got {describe(value)}")
    if not float(value) > 0:  # also refuses nan
        raise ValueError(f"{name} must be a positive number, got {value}")
    return float(value)


def check_hidden(hidden: object) -> tuple[int, ...]:
    """Validate the widths of a hypernetwork body: a tuple/list of positive ints (may be empty)."""
    if not isinstance(hidden, (tuple, list)):
        raise TypeError(
            f"hidden must be a tuple of layer widths, e.g. (64, 64), got {describe(hidden)}"
        )
    return tuple(check_positive_int(width, "each hidden width") for width in hidden)
