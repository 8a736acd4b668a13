"""What a compressed image is: quantized numbers, their rate in bits per pixel, and PSNR.

Rates count every stored number, headers included: a uniformly quantized tensor stores
its range as two float16 numbers (32 bits) beside its ``bits``-bit levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Code", "psnr"]


def psnr(reconstruction: Tensor, reference: Tensor) -> Tensor:
    """Peak signal-to-noise ratio (dB, peak 1) per image of ``[N, ...]`` tensors in [0, 1].

    Example:
        >>> round(float(psnr(torch.full((1, 4), 0.5), torch.full((1, 4), 0.6))), 3)
        20.0
    """
    mse = ((reconstruction - reference) ** 2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(1e-10))


@dataclass(frozen=True)
class Code:
    """A compressed image: quantized numbers and what the decoder needs besides its seed.

    Attributes:
        levels: the stored integers (``int64``, in ``[0, 2^bits)``); for COIN at 16 bits,
            the float16 bit patterns.
        low, high: the quantization range (float16 values; unused at 16 bits).
        bits: bits per stored number.
        size: ``(H, W)`` of the image.
    """

    levels: Tensor
    low: float
    high: float
    bits: int
    size: tuple[int, int]

    @property
    def num_bits(self) -> int:
        """Bits stored: the numbers, and 32 for the range when there is one."""
        return self.levels.numel() * self.bits + (0 if self.bits == 16 else 32)

    @property
    def bpp(self) -> float:
        """Bits per pixel."""
        return self.num_bits / (self.size[0] * self.size[1])


def _quantize(values: Tensor, bits: int) -> tuple[Tensor, Tensor, Tensor]:
    """Uniform quantization of each row of ``values`` over its float16-rounded range.

    Returns ``(levels, low, high)`` with ``levels`` int64 ``[N, n]``.
    """
    low = values.amin(1).half().float()
    high = values.amax(1).half().float()
    high = torch.maximum(high, low + 1e-3)
    steps = 2**bits - 1
    levels = ((values - low[:, None]) / (high - low)[:, None] * steps).round().clamp(0, steps)
    return levels.long(), low, high


def _dequantize(levels: Tensor, low: Tensor, high: Tensor, bits: int) -> Tensor:
    return low[:, None] + levels.float() / (2**bits - 1) * (high - low)[:, None]


def _fake_quantize(values: Tensor, bits: int) -> Tensor:
    """Quantize in the forward pass, pass gradients straight through."""
    levels, low, high = _quantize(values.detach(), bits)
    return values + (_dequantize(levels, low, high, bits) - values).detach()


@dataclass(frozen=True)
class _RangedCode(Code):
    """A COIN code quantized per tensor: ``ranges[t] = (low, high)`` (float16 each)."""

    ranges: Tensor = torch.empty(0)

    @property
    def num_bits(self) -> int:
        return self.levels.numel() * self.bits + 32 * self.ranges.shape[0]
