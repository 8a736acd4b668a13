"""The ``compress`` benchmark: D'OH against COIN at matched rates, JPEG beside them.

For each COIN width (a SIREN stored in float16, ``16·P`` bits), D'OH gets a latent code
of exactly the same number of bits (``bits·latent + 32``), so the two are compared at
the same bits per pixel. JPEG (Pillow) runs at several qualities; its PSNR at each of
those rates is interpolated linearly in bpp between its neighbouring qualities (reported
as ``jpeg@matched``), and its own points are reported too.
"""

from __future__ import annotations

from typing import Any

import torch

from ..datasets import load_natural_image
from ..runner import Run
from ._codes import psnr
from ._coin import COIN, jpeg_curve
from ._compress import DOH
from ._plots import rate_distortion_plot

__all__ = ["compress", "compression_images"]

IMAGES = ("chelsea", "coffee", "astronaut")


def compression_images(size: int, names: tuple[str, ...] = IMAGES) -> torch.Tensor:
    """The photographs, resized (shorter side ``size``), centre-cropped: ``[N, 3, size, size]``."""
    out = []
    for name in names:
        photo = load_natural_image(name, short_side=size)
        top, left = (photo.shape[1] - size) // 2, (photo.shape[2] - size) // 2
        out.append(photo[:, top : top + size, left : left + size])
    return torch.stack(out)


def _interpolate(points: list[tuple[float, float]], bpp: float) -> float | None:
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=False):
        if x0 <= bpp <= x1:
            return y0 + (y1 - y0) * (bpp - x0) / (x1 - x0) if x1 > x0 else y0
    return None


def compress(
    run: Run,
    *,
    size: int = 48,
    widths: tuple[int, ...] = (8, 12, 16),
    coin_layers: int = 2,
    doh_hidden: int = 48,
    doh_layers: int = 3,
    bits: int = 8,
    compress_steps: int = 1000,
    omega0: float = 10.0,
    **_: Any,
) -> dict[str, Any]:
    """Rate-distortion of D'OH, COIN and JPEG on the bundled photographs."""
    images = compression_images(size)
    names = IMAGES[: len(images)]
    rows: list[dict[str, Any]] = []
    matched: dict[str, list[tuple[float, float]]] = {"doh": [], "coin": [], "jpeg@matched": []}
    jpeg = [jpeg_curve(image, qualities=(1, 5, 10, 20, 30, 50, 70, 90, 95)) for image in images]
    for index, name in enumerate(names):
        for bpp, value in jpeg[index]:
            rows.append({"method": "jpeg", "image": name, "bpp": bpp, "psnr": value})
    for width in run.progress(widths, desc="rates"):
        coin = COIN(
            3,
            hidden=width,
            layers=coin_layers,
            omega0=omega0,
            steps=compress_steps,
            lr=1e-3,
            seed=run.seed,
        )
        coin_codes = coin.compress(images)
        coin_psnr = psnr(coin.decompress(coin_codes), images)
        latent = (coin_codes[0].num_bits - 32) // bits
        doh = DOH(
            3,
            latent=latent,
            bits=bits,
            hidden=doh_hidden,
            layers=doh_layers,
            omega0=omega0,
            steps=compress_steps,
            seed=run.seed,
        )
        doh_codes = doh.compress(images)
        doh_psnr = psnr(doh.decompress(doh_codes), images)
        for index, name in enumerate(names):
            bpp = coin_codes[index].bpp
            rows.append(
                {
                    "method": "coin",
                    "image": name,
                    "bpp": bpp,
                    "psnr": float(coin_psnr[index]),
                    "parameters": coin.num_parameters,
                }
            )
            rows.append(
                {
                    "method": "doh",
                    "image": name,
                    "bpp": doh_codes[index].bpp,
                    "psnr": float(doh_psnr[index]),
                    "latent": latent,
                }
            )
            at = _interpolate(jpeg[index], bpp)
            if at is not None:
                rows.append({"method": "jpeg@matched", "image": name, "bpp": bpp, "psnr": at})
        mean_bpp = sum(c.bpp for c in coin_codes) / len(coin_codes)
        matched["coin"].append((mean_bpp, float(coin_psnr.mean())))
        matched["doh"].append(
            (sum(c.bpp for c in doh_codes) / len(doh_codes), float(doh_psnr.mean()))
        )
        jpeg_at = [_interpolate(curve, mean_bpp) for curve in jpeg]
        if all(v is not None for v in jpeg_at):
            matched["jpeg@matched"].append((mean_bpp, sum(jpeg_at) / len(jpeg_at)))  # type: ignore[arg-type]
    jpeg_mean = [
        (sum(c[q][0] for c in jpeg) / len(jpeg), sum(c[q][1] for c in jpeg) / len(jpeg))
        for q in range(len(jpeg[0]))
    ]
    curves = {
        "D'OH": matched["doh"],
        "COIN (ours)": matched["coin"],
        "JPEG (Pillow)": [p for p in jpeg_mean if p[0] <= 2 * max(b for b, _ in matched["coin"])],
    }
    run.save_figure(
        rate_distortion_plot(curves, f"{len(images)} photographs, {size}×{size}, mean over images"),
        "rate_distortion.png",
    )
    wins = [d[1] > c[1] for d, c in zip(matched["doh"], matched["coin"], strict=False)]
    return {
        "results": rows,
        "mean_curves": {k: [list(p) for p in v] for k, v in matched.items()},
        "doh_beats_coin_at_every_rate": all(wins),
        "images": list(names),
        "size": size,
    }
