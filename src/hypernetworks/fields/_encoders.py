"""Set encoders over an image's context pixels: ``(coordinate, value)`` pairs → one vector.

A context set is a tensor ``[n, 2 + C + 1]`` (or a batch ``[B, n, 2 + C + 1]``): each row
holds a pixel's coordinates in [-1, 1], its ``C`` values and a last column that is 1 for
a real pixel and 0 for padding (images of one batch may have different context sizes).
Both encoders are :class:`hypernetworks.Conditioner` subclasses, so ``hypernetize`` takes
them as they are, and both are permutation invariant and ignore padding.

* :class:`ContextEncoder` — DeepSets (the core's ``SetEncoder`` design) with a Fourier
  encoding of the coordinates and mean pooling that skips padding;
* :class:`AttentionEncoder` — a few learned queries attend over the context
  (pooling by multi-head attention, as in the Set Transformer).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import Conditioner
from .._checks import check_positive_int, describe

__all__ = ["AttentionEncoder", "ContextEncoder", "fourier_features"]


def fourier_features(coords: Tensor, frequencies: int) -> Tensor:
    """``[coords, sin(2^k π coords), cos(2^k π coords)]`` for ``k < frequencies``.

    Example:
        >>> fourier_features(torch.zeros(5, 2), 3).shape
        torch.Size([5, 14])
    """
    scales = (2.0 ** torch.arange(frequencies, dtype=coords.dtype, device=coords.device)) * math.pi
    angles = (coords.unsqueeze(-1) * scales).flatten(-2)
    return torch.cat([coords, angles.sin(), angles.cos()], dim=-1)


class _Context(Conditioner):
    """Shared checks and the per-pixel embedding φ of both encoders.

    φ sees the coordinates' Fourier features γ(x), the values v and their products
    ``γ(x) ⊗ (v − ½)``.
    """

    def __init__(self, channels: int, dim: int, hidden: int, frequencies: int) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.dim = check_positive_int(dim, "dim")
        self.hidden = check_positive_int(hidden, "hidden")
        self.frequencies = check_positive_int(frequencies, "frequencies")
        self.in_features = 2 + self.channels + 1
        features = (2 + 4 * self.frequencies) * (1 + self.channels) + self.channels
        self.phi = nn.Sequential(
            nn.Linear(features, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.hidden),
            nn.ReLU(),
        )

    def _split(self, c: Tensor) -> tuple[Tensor, Tensor]:
        """Check ``c``; return pixel embeddings ``[..., n, hidden]`` and validity ``[..., n]``."""
        expected = (
            f"a float context set [n, {self.in_features}] or a batch [batch, n, "
            f"{self.in_features}] (coordinates, {self.channels} values, 1/0 validity)"
        )
        if not isinstance(c, Tensor) or not c.is_floating_point():
            raise TypeError(f"expected {expected}, got {describe(c)}")
        if c.dim() not in (2, 3) or c.shape[-1] != self.in_features or c.shape[-2] == 0:
            raise ValueError(f"expected {expected}, got shape {tuple(c.shape)}")
        valid = c[..., -1]
        if bool((valid.sum(-1) <= 0).any()):
            raise ValueError("every context set needs at least one valid pixel, got an empty one")
        coords, values = c[..., :2], c[..., 2:-1]
        basis = fourier_features(coords, self.frequencies)
        # value × basis products: their mean over the context is already a (noisy) Fourier
        # analysis of the image, which ReLU layers would otherwise have to learn to multiply.
        products = (basis.unsqueeze(-1) * (values - 0.5).unsqueeze(-2)).flatten(-2)
        h = self.phi(torch.cat([basis, products, values], dim=-1))
        return h, valid

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, dim={self.dim}, hidden={self.hidden}, "
            f"frequencies={self.frequencies}"
        )


class ContextEncoder(_Context):
    """DeepSets over context pixels: φ per pixel, mean over the valid pixels, then ρ.

    ρ also sees ``log(1 + n)`` for the ``n`` valid pixels, so the code can tell a sparse
    context from a dense one.

    Args:
        channels: image channels ``C``.
        dim: size of the code.
        hidden: width of φ and ρ.
        frequencies: octaves of the coordinates' Fourier encoding.

    Example:
        >>> enc = ContextEncoder(channels=1, dim=16)
        >>> enc(torch.rand(4, 10, 4)).shape
        torch.Size([4, 16])
    """

    def __init__(self, channels: int, dim: int, *, hidden: int = 128, frequencies: int = 5) -> None:
        super().__init__(channels, dim, hidden, frequencies)
        self.rho = nn.Sequential(
            nn.Linear(self.hidden + 1, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.dim)
        )

    def forward(self, c: Tensor) -> Tensor:
        h, valid = self._split(c)
        count = valid.sum(-1, keepdim=True)
        pooled = (h * valid.unsqueeze(-1)).sum(-2) / count
        return self.rho(torch.cat([pooled, torch.log1p(count)], dim=-1))


class AttentionEncoder(_Context):
    """Pooling by attention: ``queries`` learned vectors attend over the valid context pixels.

    Args:
        channels: image channels ``C``.
        dim: size of the code.
        hidden: width of φ and of the attention.
        frequencies: octaves of the coordinates' Fourier encoding.
        queries: number of learned queries; their outputs are concatenated before ρ.
        heads: attention heads (must divide ``hidden``).

    Raises:
        ValueError: ``heads`` does not divide ``hidden``.

    Example:
        >>> enc = AttentionEncoder(channels=3, dim=16, hidden=32)
        >>> enc(torch.rand(2, 10, 6)).shape
        torch.Size([2, 16])
    """

    def __init__(
        self,
        channels: int,
        dim: int,
        *,
        hidden: int = 128,
        frequencies: int = 5,
        queries: int = 4,
        heads: int = 4,
    ) -> None:
        super().__init__(channels, dim, hidden, frequencies)
        self.queries = check_positive_int(queries, "queries")
        heads = check_positive_int(heads, "heads")
        if self.hidden % heads:
            raise ValueError(f"heads (={heads}) must divide hidden (={self.hidden})")
        self.query = nn.Parameter(torch.randn(self.queries, self.hidden) / math.sqrt(self.hidden))
        self.attention = nn.MultiheadAttention(self.hidden, heads, batch_first=True)
        self.rho = nn.Sequential(
            nn.Linear(self.queries * self.hidden + 1, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.dim),
        )

    def forward(self, c: Tensor) -> Tensor:
        h, valid = self._split(c)
        single = h.dim() == 2
        if single:
            h, valid = h.unsqueeze(0), valid.unsqueeze(0)
        query = self.query.expand(h.shape[0], -1, -1)
        pooled, _ = self.attention(query, h, h, key_padding_mask=valid <= 0, need_weights=False)
        count = valid.sum(-1, keepdim=True)
        code = self.rho(torch.cat([pooled.flatten(1), torch.log1p(count)], dim=-1))
        return code[0] if single else code
