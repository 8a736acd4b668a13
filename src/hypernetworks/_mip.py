"""Magnitude Invariant Parametrizations (Ortiz, Guttag & Dalca, ICLR 2024).

A plain hypernetwork's outputs scale with the magnitude of its input: with ReLU-like
activations, doubling the condition doubles every generated weight. MIP removes that
proportionality with two independent changes, which this module names so they can be
ablated one at a time:

* **encoding** — a bounded input γ ∈ [0, 1] is mapped to ``[cos(πγ/2), sin(πγ/2)]``,
  a point on the unit circle, so every condition has the same norm;
* **residual** — generated weights are ``θ = θ₀ + Δθ(c)`` where θ₀ is an independent
  learnable tensor (initialised from the target's own weights) and Δθ is the
  hypernetwork's output, initialised at zero (see ``docs/design.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["MIP", "encode", "resolve_mip"]


@dataclass(frozen=True)
class MIP:
    """Which parts of MIP a :class:`~hypernetworks.HyperModel` uses.

    ``mip=True`` in :func:`~hypernetworks.hypernetize` means ``MIP()`` (both parts) and
    ``mip=False`` means ``MIP(encoding=False, residual=False)`` (the plain formulation).

    Args:
        encoding: map bounded conditions (e.g. :class:`~hypernetworks.Hyperparameters`)
            to the constant-norm ``[cos, sin]`` encoding.
        residual: generate ``θ₀ + Δθ(c)`` with learnable θ₀ instead of θ(c) directly.

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks import hypernetize, MIP
        >>> model = hypernetize(nn.Linear(3, 2), 4, mip=MIP(encoding=True, residual=False))
        >>> model.mip
        MIP(encoding=True, residual=False)
    """

    encoding: bool = True
    residual: bool = True

    def __post_init__(self) -> None:
        for field in ("encoding", "residual"):
            value = getattr(self, field)
            if not isinstance(value, bool):
                raise TypeError(
                    f"MIP `{field}` must be a bool, got {value!r} ({type(value).__name__})"
                )


def resolve_mip(mip: bool | MIP) -> MIP:
    """Turn the ``mip`` argument of :func:`hypernetize` into a :class:`MIP`."""
    if isinstance(mip, MIP):
        return mip
    if isinstance(mip, bool):
        return MIP() if mip else MIP(encoding=False, residual=False)
    raise TypeError(
        f"`mip` must be a bool or a hypernetworks.MIP, got {mip!r} ({type(mip).__name__})"
    )


def encode(gamma: torch.Tensor) -> torch.Tensor:
    """The constant-norm encoding of values in [0, 1]: ``[..., n] -> [..., 2n]``.

    Each component γᵢ becomes ``(cos(πγᵢ/2), sin(πγᵢ/2))``, so the encoded vector has
    norm √n whatever γ is.

    Example:
        >>> import torch
        >>> encode(torch.tensor([[0.0, 0.0], [0.3, 1.0]])).norm(dim=-1)
        tensor([1.4142, 1.4142])
    """
    angle = gamma * (math.pi / 2)
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)
