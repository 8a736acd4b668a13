"""Compressing images as neural fields: D'OH, COIN, and JPEG for reference.

* :class:`DOH` (Gordon et al., "D'OH: Decoder-Only random Hypernetworks for Implicit
  Neural Representations"): a *fixed random* hypernetwork, rebuilt from a seed by the
  decoder, maps a small latent code to a SIREN's weights, ``θ = θ₀ + A·z`` with random
  ``θ₀`` and ``A``. Only ``z`` is optimised, then quantized; the bit budget is set by the
  code's size and bit depth, not by the SIREN's architecture.
* :class:`COIN` (Dupont et al. 2021): a small SIREN fitted to the image; its own
  weights, stored in half precision (or quantized to fewer bits), are the code.
* :func:`jpeg_curve`: Pillow's JPEG at several qualities.

Rates are bits per pixel (bpp) of the stored numbers, headers included: for D'OH and a
quantized COIN, each tensor's range is two float16 numbers (32 bits).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .. import HyperModel, hypernetize
from .._checks import check_positive_int
from ._context import check_images
from ._siren import Siren, _check_omega, fit_sirens, pixel_grid

__all__ = ["COIN", "DOH", "Code", "jpeg_curve", "psnr"]


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


class DOH:
    """D'OH: a decoder-only random hypernetwork; an image is a quantized latent code.

    The decoder (a SIREN and a random linear map from the code to all its weights) is
    rebuilt from ``seed`` and never trained: ``θ = θ₀ + A·z``, where ``θ₀`` is the SIREN's
    initialisation and ``A``'s entries for each tensor are ``N(0, s²/latent)`` with ``s``
    that tensor's initial standard deviation (for the output layer, ``1/√hidden`` for
    the weight and ½ for the bias, so a code of unit scale can reach the image's range).
    It is :func:`hypernetworks.hypernetize`
    with no body and a frozen ``Full`` head; ``compress`` fits ``z`` by Adam for each
    image (all images vectorized, one generated SIREN each), with quantization-aware
    steps (straight-through) for the last ``qat`` fraction of them.

    Args:
        channels: image channels.
        latent: size of the code ``z``.
        bits: bits per stored code number.
        hidden, layers, omega0: the decoded SIREN.
        steps: Adam steps per image; lr: their learning rate.
        qat: fraction of the steps run with the quantized code.
        seed: the decoder's seed.

    Example:
        >>> import torch
        >>> images = torch.rand(2, 1, 8, 8)
        >>> doh = DOH(1, latent=16, hidden=16, steps=5)
        >>> codes = doh.compress(images)
        >>> doh.decompress(codes).shape, codes[0].bpp
        (torch.Size([2, 1, 8, 8]), 2.5)
    """

    def __init__(
        self,
        channels: int,
        *,
        latent: int,
        bits: int = 8,
        hidden: int = 48,
        layers: int = 3,
        omega0: float = 30.0,
        steps: int = 1000,
        lr: float = 1e-2,
        qat: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.channels = check_positive_int(channels, "channels")
        self.latent = check_positive_int(latent, "latent")
        self.bits = check_positive_int(bits, "bits")
        if self.bits > 16:
            raise ValueError(f"bits must be at most 16, got {bits}")
        self.hidden = check_positive_int(hidden, "hidden")
        self.layers = check_positive_int(layers, "layers")
        self.omega0 = _check_omega(omega0)
        self.steps = check_positive_int(steps, "steps")
        self.lr = float(lr)
        if not 0.0 <= qat <= 1.0:
            raise ValueError(f"qat must lie in [0, 1], got {qat}")
        self.qat = float(qat)
        self.seed = seed
        self.decoder = self._decoder()

    def _decoder(self) -> HyperModel:
        generator = torch.Generator().manual_seed(self.seed)
        siren = Siren(
            2,
            self.channels,
            hidden=self.hidden,
            layers=self.layers,
            omega0=self.omega0,
            generator=generator,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = hypernetize(siren, self.latent, hidden=())
        out = model.head.get_submodule("out")
        if not isinstance(out, nn.Linear):  # pragma: no cover - the Full head's layout
            raise TypeError("the Full head was expected to end in a Linear layer")
        weight = out.weight  # [P, latent], zero-initialised under MIP
        with torch.no_grad():
            offset = 0
            for name in model.generated:
                base = model.target.get_parameter(name)
                rows = weight[offset : offset + base.numel()]
                scale = _scale(name, base, self.hidden)
                rows.normal_(0.0, scale / math.sqrt(self.latent), generator=generator)
                offset += base.numel()
        model.requires_grad_(False)
        return model

    def compress(self, images: Tensor) -> list[Code]:
        """One :class:`Code` per image of ``images`` (``[N, C, H, W]`` in [0, 1])."""
        images = check_images(images, self.channels)
        n, c, h, w = images.shape
        coords = pixel_grid(h, w).expand(n, h * w, 2)
        targets = images.reshape(n, c, h * w).transpose(1, 2)
        z = torch.zeros(n, self.latent, requires_grad=True)
        optimizer = torch.optim.Adam([z], lr=self.lr)
        quantized_from = round(self.steps * (1 - self.qat))
        for step in range(self.steps):
            code = _fake_quantize(z, self.bits) if step >= quantized_from else z
            loss = ((self.decoder(coords, code) - targets) ** 2).mean(dim=(1, 2)).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        levels, low, high = _quantize(z.detach(), self.bits)
        return [Code(levels[i], float(low[i]), float(high[i]), self.bits, (h, w)) for i in range(n)]

    def decompress(self, codes: list[Code]) -> Tensor:
        """Decode codes of one image size into ``[N, C, H, W]`` in [0, 1]."""
        h, w = codes[0].size
        levels = torch.stack([code.levels for code in codes])
        low = torch.tensor([code.low for code in codes])
        high = torch.tensor([code.high for code in codes])
        z = _dequantize(levels, low, high, self.bits)
        coords = pixel_grid(h, w).expand(len(codes), h * w, 2)
        with torch.no_grad():
            out = self.decoder(coords, z)
        return out.transpose(1, 2).reshape(len(codes), self.channels, h, w).clamp(0.0, 1.0)


def _scale(name: str, base: Tensor, hidden: int) -> float:
    """The spread of a decoded tensor when ``z ~ N(0, I)``: the SIREN initialisation's for
    the sine layers; for the linear output layer, one that lets the output span [0, 1]
    (its initialisation is tiny, and a code that had to grow it would need large values)."""
    if name.startswith("out."):
        return 0.5 if name.endswith("bias") else 1.0 / math.sqrt(hidden)
    return float(base.std())


class COIN:
    """COIN: fit a small SIREN to each image; its weights, quantized, are the code.

    At 16 bits the weights are stored as float16 (the COIN paper); at fewer bits each
    tensor is quantized uniformly over its range (32 bits of range per tensor).

    Args:
        channels: image channels.
        hidden, layers, omega0: the SIREN (its parameter count sets the rate).
        bits: 16 (half precision) or fewer (uniform per tensor).
        steps: Adam steps per image; lr: their learning rate.
        seed: the initialisation's seed.

    Example:
        >>> import torch
        >>> coin = COIN(1, hidden=8, layers=2, steps=5)
        >>> codes = coin.compress(torch.rand(2, 1, 8, 8))
        >>> coin.decompress(codes).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        *,
        hidden: int = 16,
        layers: int = 3,
        omega0: float = 30.0,
        bits: int = 16,
        steps: int = 1000,
        lr: float = 1e-3,
        seed: int = 0,
    ) -> None:
        self.channels = check_positive_int(channels, "channels")
        self.hidden = check_positive_int(hidden, "hidden")
        self.layers = check_positive_int(layers, "layers")
        self.omega0 = _check_omega(omega0)
        self.bits = check_positive_int(bits, "bits")
        if self.bits > 16:
            raise ValueError(f"bits must be at most 16, got {bits}")
        self.steps = check_positive_int(steps, "steps")
        self.lr = float(lr)
        self.seed = seed
        self.siren = Siren(
            2,
            self.channels,
            hidden=self.hidden,
            layers=self.layers,
            omega0=self.omega0,
            generator=torch.Generator().manual_seed(seed),
        )
        self.names = [name for name, _ in self.siren.named_parameters()]

    @property
    def num_parameters(self) -> int:
        """The SIREN's parameter count."""
        return sum(p.numel() for p in self.siren.parameters())

    def compress(self, images: Tensor) -> list[Code]:
        """One :class:`Code` per image of ``images`` (``[N, C, H, W]`` in [0, 1])."""
        images = check_images(images, self.channels)
        n, c, h, w = images.shape
        params = {
            k: v.detach().expand(n, *v.shape).clone() for k, v in self.siren.named_parameters()
        }
        fitted = fit_sirens(
            self.siren,
            params,
            pixel_grid(h, w).expand(n, h * w, 2),
            images.reshape(n, c, h * w).transpose(1, 2),
            torch.ones(n, h * w),
            steps=self.steps,
            lr=self.lr,
        )
        flat = torch.cat([fitted[k].flatten(1) for k in self.names], dim=1)
        if self.bits == 16:
            bits = flat.half().view(torch.int16).long()
            return [Code(bits[i], 0.0, 0.0, 16, (h, w)) for i in range(n)]
        codes: list[Code] = []
        for i in range(n):  # a range per tensor: levels of all tensors, ranges in the header
            parts = [_quantize(fitted[k][i].reshape(1, -1), self.bits) for k in self.names]
            levels = torch.cat([p[0][0] for p in parts])
            ranges = torch.stack([torch.cat([p[1], p[2]]) for p in parts])
            codes.append(_RangedCode(levels, 0.0, 0.0, self.bits, (h, w), ranges))
        return codes

    def decompress(self, codes: list[Code]) -> Tensor:
        """Decode codes of one image size into ``[N, C, H, W]`` in [0, 1]."""
        from ._hypernet import render_sirens

        shapes = [p.shape for p in self.siren.parameters()]
        rows = []
        for code in codes:
            if code.bits == 16:
                rows.append(code.levels.to(torch.int16).view(torch.float16).float())
            else:
                ranges = code.ranges if isinstance(code, _RangedCode) else None
                if ranges is None:
                    raise ValueError("a quantized COIN code needs its per-tensor ranges")
                pieces, offset = [], 0
                for index, shape in enumerate(shapes):
                    size = math.prod(shape)
                    pieces.append(
                        _dequantize(
                            code.levels[offset : offset + size][None],
                            ranges[index, :1],
                            ranges[index, 1:],
                            code.bits,
                        )[0]
                    )
                    offset += size
                rows.append(torch.cat(pieces))
        flat = torch.stack(rows)
        params, offset = {}, 0
        for name, shape in zip(self.names, shapes, strict=False):
            size = math.prod(shape)
            params[name] = flat[:, offset : offset + size].reshape(len(codes), *shape)
            offset += size
        return render_sirens(self.siren, params, codes[0].size)


@dataclass(frozen=True)
class _RangedCode(Code):
    """A COIN code quantized per tensor: ``ranges[t] = (low, high)`` (float16 each)."""

    ranges: Tensor = torch.empty(0)

    @property
    def num_bits(self) -> int:
        return self.levels.numel() * self.bits + 32 * self.ranges.shape[0]


def jpeg_curve(
    image: Tensor, qualities: tuple[int, ...] = (5, 10, 20, 30, 50, 70, 90)
) -> list[tuple[float, float]]:
    """``(bpp, psnr)`` of Pillow's JPEG at each quality, for one ``[C, H, W]`` image.

    The file's size includes its headers (which weigh heavily on small images).

    Example:
        >>> curve = jpeg_curve(torch.rand(3, 16, 16), qualities=(50,))
        >>> len(curve)
        1
    """
    from PIL import Image

    array = (image.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    h, w = array.shape[:2]
    curve = []
    for quality in qualities:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        array_out = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32)
        decoded = torch.from_numpy(array_out.reshape(h, w, -1) / 255.0).permute(2, 0, 1)
        curve.append(
            (8 * len(buffer.getvalue()) / (h * w), float(psnr(decoded[None], image[None])))
        )
    return curve
