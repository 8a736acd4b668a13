"""Priors over hyperparameters: the distributions training draws settings from.

A prior draws in a normalised space γ ∈ [0, 1] and maps γ to a value (linearly for
:class:`Uniform`, in log space for :class:`LogUniform`). Optional extra mass at the two
ends of the range (as HyperMorph does) makes sure the extremes are trained on as often
as the user asks, rather than almost never.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

__all__ = ["LogUniform", "Prior", "Uniform"]


def _real(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value}")
    return value


class Prior:
    """A distribution over one hyperparameter (``size=None``) or a vector of them.

    Args:
        low, high: the range, ``low < high``; every drawn value lies in ``[low, high]``.
        size: ``None`` for a scalar hyperparameter, or the length of a vector of
            independently drawn values (e.g. one weight decay per layer).
        endpoint_mass: probability in ``[0, 1)`` that a draw is an endpoint of the range
            instead of a draw from the interior (half of it for each end).
    """

    scale = "linear"

    def __init__(
        self, low: float, high: float, *, size: int | None = None, endpoint_mass: float = 0.0
    ) -> None:
        low, high = _real(low, "low"), _real(high, "high")
        if not low < high:
            raise ValueError(f"a prior needs low < high, got low={low:g}, high={high:g}")
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1
        ):
            raise ValueError(f"size must be None or a positive int, got {size!r}")
        endpoint_mass = _real(endpoint_mass, "endpoint_mass")
        if not 0.0 <= endpoint_mass < 1.0:
            raise ValueError(f"endpoint_mass must lie in [0, 1), got {endpoint_mass:g}")
        self.low, self.high, self.size, self.endpoint_mass = low, high, size, endpoint_mass

    @property
    def width(self) -> int:
        """How many scalar hyperparameters this prior stands for."""
        return 1 if self.size is None else int(self.size)

    def sample_gamma(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws in normalised space, shape ``[n, width]`` (float64)."""
        gamma = torch.rand(n, self.width, generator=generator, dtype=torch.float64)
        if self.endpoint_mass > 0:
            pick = torch.rand(n, self.width, generator=generator, dtype=torch.float64)
            gamma = torch.where(pick < self.endpoint_mass / 2, torch.zeros_like(gamma), gamma)
            gamma = torch.where(pick > 1 - self.endpoint_mass / 2, torch.ones_like(gamma), gamma)
        return gamma

    def to_value(self, gamma: Tensor) -> Tensor:
        """Map normalised ``gamma`` (any shape) to values in ``[low, high]``, differentiably."""
        return self.low + gamma * (self.high - self.low)

    def to_gamma(self, value: Tensor) -> Tensor:
        """The inverse of :meth:`to_value`."""
        return (value - self.low) / (self.high - self.low)

    def range_spec(self) -> tuple:
        """The ``(low, high, scale)`` range the :class:`~hypernetworks.Hyperparameters`
        conditioner takes."""
        return (self.low, self.high, self.scale)

    def __repr__(self) -> str:
        extra = "" if self.size is None else f", size={self.size}"
        if self.endpoint_mass:
            extra += f", endpoint_mass={self.endpoint_mass:g}"
        return f"{type(self).__name__}({self.low:g}, {self.high:g}{extra})"


class Uniform(Prior):
    """Uniform on ``[low, high]``.

    Example:
        >>> round(Uniform(0.0, 0.3).to_value(torch.tensor(0.5)).item(), 6)
        0.15
    """


class LogUniform(Prior):
    """Uniform in log space on ``[low, high]``, ``0 < low``: the usual prior for a weight
    decay or a learning rate.

    Example:
        >>> round(LogUniform(1e-4, 1e-2).to_value(torch.tensor(0.5)).item(), 6)
        0.001
    """

    scale = "log"

    def __init__(
        self, low: float, high: float, *, size: int | None = None, endpoint_mass: float = 0.0
    ) -> None:
        super().__init__(low, high, size=size, endpoint_mass=endpoint_mass)
        if self.low <= 0:
            raise ValueError(f"LogUniform needs 0 < low, got low={self.low:g}")

    def to_value(self, gamma: Tensor) -> Tensor:
        lo, hi = math.log(self.low), math.log(self.high)
        return torch.exp(lo + gamma * (hi - lo))

    def to_gamma(self, value: Tensor) -> Tensor:
        lo, hi = math.log(self.low), math.log(self.high)
        return (torch.log(value) - lo) / (hi - lo)
