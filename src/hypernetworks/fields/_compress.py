"""D'OH: compressing an image as the latent code of a fixed random hypernetwork.

:class:`DOH` (Gordon et al., "D'OH: Decoder-Only random Hypernetworks for Implicit
Neural Representations"): a *fixed random* hypernetwork, rebuilt from a seed by the
decoder, maps a small latent code to a SIREN's weights, ``θ = θ₀ + A·z`` with random
``θ₀`` and ``A``. Only ``z`` is optimised, then quantized; the bit budget is set by the
code's size and bit depth, not by the SIREN's architecture. Its baselines, COIN and
JPEG, are in ``_coin.py``; codes and rates in ``_codes.py``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import HyperModel, hypernetize
from .._checks import check_positive_int
from ._codes import Code, _dequantize, _fake_quantize, _quantize
from ._context import check_images
from ._siren import Siren, _check_omega, pixel_grid

__all__ = ["DOH"]


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
