"""Checking images and context masks, and turning them into context sets.

Images are ``[N, C, H, W]`` floats in [0, 1]. A mask marks the context pixels (the pixels
a model may read): ``[N, H, W]`` (or ``[N, 1, H, W]``, or one ``[H, W]`` mask for every
image), boolean or 0/1, with at least one context pixel per image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import describe
from ._siren import pixel_grid

__all__ = ["check_images", "check_mask", "context_set", "random_masks"]


def check_images(images: object, channels: int, *, name: str = "images") -> Tensor:
    """Return ``images`` if it is a float ``[N, channels, H, W]`` tensor in [0, 1], else raise."""
    expected = f"a float tensor [N, {channels}, H, W] with values in [0, 1]"
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise TypeError(f"{name} must be {expected}, got {describe(images)}")
    if images.dim() != 4 or images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"{name} must be {expected}, got shape {tuple(images.shape)}")
    if images.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channel(s) (the model's `channels`), "
            f"got {images.shape[1]} (shape {tuple(images.shape)})"
        )
    low, high = float(images.detach().min()), float(images.detach().max())
    if not (0.0 <= low and high <= 1.0):  # also refuses nan
        raise ValueError(f"{name} must have values in [0, 1], got values in [{low:g}, {high:g}]")
    return images


def check_mask(mask: object, images: Tensor) -> Tensor:
    """The context mask as a bool ``[N, H, W]`` tensor; raise if it does not fit ``images``."""
    n, _, h, w = images.shape
    expected = f"a bool or 0/1 tensor [{n}, {h}, {w}], [{n}, 1, {h}, {w}] or [{h}, {w}]"
    if not isinstance(mask, Tensor) or mask.is_complex():
        raise TypeError(f"mask must be {expected}, got {describe(mask)}")
    if tuple(mask.shape) == (h, w):
        mask = mask.expand(n, h, w)
    elif tuple(mask.shape) == (n, 1, h, w):
        mask = mask[:, 0]
    elif tuple(mask.shape) != (n, h, w):
        raise ValueError(
            f"mask must be {expected} (to fit images of shape "
            f"{tuple(images.shape)}), got shape {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        if bool(((mask != 0) & (mask != 1)).any()):
            raise ValueError(f"mask must be {expected}; got values other than 0 and 1")
        mask = mask != 0
    empty = (~mask.flatten(1).any(1)).nonzero().flatten()
    if empty.numel():
        raise ValueError(
            f"every image needs at least one context pixel in mask; image(s) "
            f"{empty[:5].tolist()} have none"
        )
    return mask.to(images.device)


def context_set(images: Tensor, mask: Tensor) -> Tensor:
    """Context sets ``[N, n, 2 + C + 1]``: coordinates, values and a 1/0 validity column.

    ``n`` is the largest context of the batch; smaller contexts are padded with zero
    rows whose validity is 0. Inputs must already be checked.

    Example:
        >>> images = torch.rand(2, 1, 4, 4)
        >>> mask = torch.zeros(2, 4, 4, dtype=torch.bool)
        >>> mask[0, :2] = True; mask[1, 0, 0] = True
        >>> context_set(images, mask).shape
        torch.Size([2, 8, 4])
    """
    n, c, h, w = images.shape
    flat_mask = mask.reshape(n, h * w)
    counts = flat_mask.sum(1)
    size = int(counts.max())
    # Stable sort puts each image's context pixels first, in raster order.
    order = torch.sort((~flat_mask).to(torch.uint8), dim=1, stable=True).indices[:, :size]
    grid = pixel_grid(h, w, dtype=images.dtype).to(images.device)
    values = images.reshape(n, c, h * w).transpose(1, 2)
    coords = grid[order]
    picked = torch.gather(values, 1, order.unsqueeze(-1).expand(n, size, c))
    valid = (torch.arange(size, device=images.device) < counts.unsqueeze(1)).to(images.dtype)
    out = torch.cat([coords, picked, valid.unsqueeze(-1)], dim=-1)
    return out * valid.unsqueeze(-1)


def random_masks(
    count: int,
    height: int,
    width: int,
    context: int | float,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``count`` random masks ``[count, H, W]`` with exactly ``k`` context pixels each.

    ``context`` is a number of pixels (an int ≥ 1) or a fraction of them (a float in
    (0, 1]); ``k`` is at least 1 and at most ``H·W``.

    Example:
        >>> m = random_masks(3, 5, 5, 0.4, generator=torch.Generator().manual_seed(0))
        >>> m.flatten(1).sum(1).tolist()
        [10, 10, 10]
    """
    total = height * width
    if isinstance(context, bool) or not isinstance(context, (int, float)):
        raise TypeError(
            f"context must be a pixel count (int) or a fraction (float), got {describe(context)}"
        )
    if isinstance(context, int):
        if not 1 <= context <= total:
            raise ValueError(
                f"context (={context} pixels) must lie in [1, {total}] for {height}×{width} images"
            )
        k = context
    else:
        if not 0.0 < context <= 1.0:
            raise ValueError(f"a context fraction must lie in (0, 1], got {context}")
        k = max(1, round(context * total))
    scores = torch.rand(count, total, generator=generator)
    chosen = scores.argsort(dim=1)[:, :k]
    mask = torch.zeros(count, total, dtype=torch.bool)
    mask.scatter_(1, chosen, True)
    return mask.view(count, height, width)
