"""Natural colour photographs that ship with scikit-image, and random crops of them.

Only images that are public domain or CC0 (as their scikit-image docstrings state) are
used:

============================ ====== ===================================================
name                         split  licence (scikit-image docstring)
============================ ====== ===================================================
``astronaut``                train  NASA, public domain
``rocket``                   train  SpaceX, public domain
``hubble_deep_field``        train  NASA, public domain
``immunohistochemistry``     train  no known copyright restrictions
``retina``                   train  CC0 (M. Häggström)
``chelsea``                  test   CC0 (Stefan van der Walt)
``coffee``                   test   CC0 (Rachel Michetti)
============================ ====== ===================================================

Crops for training and testing come from different photographs, so a model scored on
test crops has never seen any part of them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._require import require

__all__ = ["NATURAL_IMAGES", "load_natural_image", "natural_image_crops"]

NATURAL_IMAGES: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"),
    "test": ("chelsea", "coffee"),
}


def load_natural_image(name: str, *, short_side: int | None = None) -> Tensor:
    """One bundled photograph as ``[3, H, W]`` float32 in [0, 1].

    Args:
        name: one of ``NATURAL_IMAGES["train"] + NATURAL_IMAGES["test"]``.
        short_side: if given, the image is resized (Pillow, antialiased bicubic) so that
            its shorter side has this many pixels.

    Returns:
        ``[3, H, W]`` float32 in [0, 1].

    Raises:
        ValueError: an unknown name or a non-positive ``short_side``.
        ImportError: scikit-image (or Pillow, to resize) is not installed.

    Example:
        >>> from hypernetworks.datasets import load_natural_image
        >>> tuple(load_natural_image("chelsea", short_side=64).shape)
        (3, 64, 96)
    """
    names = NATURAL_IMAGES["train"] + NATURAL_IMAGES["test"]
    if name not in names:
        raise ValueError(f"name must be one of {list(names)}, got {name!r}")
    data = require("skimage.data", "scikit-image", "fields")
    array = np.asarray(getattr(data, name)())[..., :3]
    if short_side is not None:
        if not isinstance(short_side, int) or isinstance(short_side, bool) or short_side < 1:
            raise ValueError(f"short_side must be a positive int, got {short_side!r}")
        image_module = require("PIL.Image", "pillow", "fields")
        h, w = array.shape[:2]
        scale = short_side / min(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        array = np.asarray(image_module.fromarray(array).resize(size, image_module.BICUBIC))
    return torch.tensor(array.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def natural_image_crops(
    count: int, *, split: str = "train", size: int = 32, short_side: int = 128, seed: int = 0
) -> Tensor:
    """``count`` random ``size × size`` colour crops of the bundled photographs.

    Each photograph is first resized so that its shorter side is ``short_side`` pixels
    (crops then hold objects and edges rather than flat texture); crops are spread evenly
    over the split's photographs and placed uniformly at random.

    Args:
        count: number of crops.
        split: ``"train"`` or ``"test"`` (disjoint photographs, see the module docstring).
        size: crop side in pixels.
        short_side: the photographs' shorter side before cropping (≥ ``size``).
        seed: seeds the crop positions (global random state untouched).

    Returns:
        ``[count, 3, size, size]`` float32 in [0, 1]; the same for the same arguments.

    Raises:
        ValueError: a bad split, count, size or short_side.
        ImportError: scikit-image or Pillow is not installed.

    Example:
        >>> from hypernetworks.datasets import natural_image_crops
        >>> tuple(natural_image_crops(10, split="test", seed=0).shape)
        (10, 3, 32, 32)
    """
    if split not in NATURAL_IMAGES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    for value, what in ((count, "count"), (size, "size"), (short_side, "short_side")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{what} must be a positive int, got {value!r}")
    if short_side < size:
        raise ValueError(f"short_side (={short_side}) must be at least size (={size})")
    generator = np.random.default_rng(seed)
    photos = [load_natural_image(name, short_side=short_side) for name in NATURAL_IMAGES[split]]
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        top = int(generator.integers(0, photo.shape[1] - size + 1))
        left = int(generator.integers(0, photo.shape[2] - size + 1))
        crops.append(photo[:, top : top + size, left : left + size])
    order = torch.from_numpy(generator.permutation(count))
    return torch.stack(crops)[order].contiguous()
