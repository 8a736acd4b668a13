"""The baselines of the compression benchmark: COIN (a quantized fitted SIREN) and JPEG.

* :class:`COIN` (Dupont et al. 2021): a small SIREN fitted to the image; its own
  weights, stored in half precision (or quantized to fewer bits), are the code.
* :func:`jpeg_curve`: Pillow's JPEG at several qualities.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from torch import Tensor

from .._checks import check_positive_int
from ._codes import Code, _dequantize, _quantize, _RangedCode, psnr
from ._context import check_images
from ._siren import Siren, _check_omega, fit_sirens, pixel_grid

__all__ = ["COIN", "jpeg_curve"]


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
