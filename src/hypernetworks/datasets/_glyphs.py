"""Rendered glyphs: an Omniglot-like few-shot set drawn from matplotlib's DejaVu fonts.

About 1,100 letters of 13 scripts are rendered from the DejaVu fonts that ship inside
matplotlib's wheel (Sans, Serif and Mono, in regular, bold and slanted cuts: ten "drawers").
Each image is the glyph fitted into a 20×20 box of a 28×28 canvas (white ink on black, as
in MNIST), with a random stroke-width change (morphological thinning or thickening) and a
random affine distortion (rotation, shear, anisotropic scale, translation).

Letters that look the same once size-normalized (Latin ``A``, Greek ``Α``, Cyrillic ``А``,
Lisu ``ꓮ``; also ``l``/``I``) form one class: two letters whose canonical DejaVu Sans
renderings, blurred, differ by less than 0.3 at every pixel are merged (union-find), while
letters that differ only by a dot (Arabic ``ج``/``ح``) stay apart. A merged class belongs
to the script of its first member in :data:`SCRIPTS` order. Scripts are split, as
Omniglot's background and evaluation alphabets are, into ``background`` (training),
``validation`` (choosing defaults) and ``evaluation`` (reporting), so no class of one split
appears in another.

Everything is deterministic under ``seed``: the images of a class depend only on
``(seed, class label, image index)``, not on the split or the other classes asked for.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ._require import require

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFont import FreeTypeFont

__all__ = ["SCRIPTS", "SPLITS", "GlyphClass", "glyph_classes", "load_glyphs"]

#: Scripts and their Unicode ranges (inclusive); only letters without a decomposition
#: (no precomposed diacritics, no compatibility forms) that DejaVu Sans covers are used.
SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "latin": ((0x0041, 0x024F),),
    "greek": ((0x0370, 0x03FF),),
    "cyrillic": ((0x0400, 0x04FF),),
    "lisu": ((0xA4D0, 0xA4F7),),
    "arabic": ((0x0620, 0x06D3),),
    "canadian": ((0x1401, 0x149F),),
    "ogham": ((0x1681, 0x169A),),
    "lao": ((0x0E81, 0x0EAE),),
    "nko": ((0x07CA, 0x07EA),),
    "armenian": ((0x0531, 0x0587),),
    "georgian": ((0x10A0, 0x10FF),),
    "hebrew": ((0x05D0, 0x05EA),),
    "tifinagh": ((0x2D30, 0x2D6F),),
}

#: Which scripts make up each split (like Omniglot's background / evaluation alphabets).
SPLITS: dict[str, tuple[str, ...]] = {
    "background": ("latin", "greek", "cyrillic", "lisu", "arabic", "canadian"),
    "validation": ("ogham", "lao", "nko"),
    "evaluation": ("armenian", "georgian", "hebrew", "tifinagh"),
}

_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
)
_HI = 56  # double-resolution canvas (2 × 28) on which glyphs are fitted and distorted
_BOX = 40  # the fitted glyph's longer side on that canvas (20 px at 28 × 28)
_MERGE = 0.3  # largest pixel difference under which two canonical renderings are one class


@dataclass(frozen=True)
class GlyphClass:
    """One class of the glyph set.

    Attributes:
        label: the class id used in ``y`` (stable across splits and seeds).
        chars: the look-alike characters merged into this class (first one is canonical).
        script: the script the class belongs to (that of ``chars[0]``).
        split: ``"background"``, ``"validation"`` or ``"evaluation"``.

    Example:
        >>> from hypernetworks.datasets import glyph_classes
        >>> a = next(c for c in glyph_classes() if "A" in c.chars)
        >>> a.script, "\\u0391" in a.chars, "\\u0410" in a.chars  # Greek and Cyrillic A
        ('latin', True, True)
    """

    label: int
    chars: str
    script: str
    split: str


def _font_dir() -> str:
    matplotlib = require("matplotlib", "matplotlib", "datasets")
    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")


@functools.cache
def _coverage() -> tuple[frozenset[int], ...]:
    """The code points each of ``_FONTS`` covers (its cmap)."""
    ttlib = require("fontTools.ttLib", "fonttools", "datasets")
    out = []
    for name in _FONTS:
        with ttlib.TTFont(os.path.join(_font_dir(), name), lazy=True) as font:
            out.append(frozenset(font.getBestCmap()))
    return tuple(out)


@functools.cache
def _font(index: int) -> FreeTypeFont:
    image_font = require("PIL.ImageFont", "pillow", "datasets")
    return image_font.truetype(os.path.join(_font_dir(), _FONTS[index]), size=72)


@functools.cache
def _outline(char: str, font: int) -> np.ndarray:
    """The glyph's ink, cropped to its bounding box, as uint8 (rows, cols); may be empty."""
    pil = require("PIL.Image", "pillow", "datasets")
    draw_mod = require("PIL.ImageDraw", "pillow", "datasets")
    image = pil.new("L", (160, 160), 0)
    draw_mod.Draw(image).text((80, 80), char, fill=255, font=_font(font), anchor="mm")
    box = image.getbbox()
    if box is None:
        return np.zeros((0, 0), dtype=np.uint8)
    return np.asarray(image.crop(box), dtype=np.uint8)


def _fit(ink: np.ndarray, box: float) -> Image:
    """``ink`` scaled so its longer side is ``box`` px, centred on a ``_HI`` canvas (PIL)."""
    pil = require("PIL.Image", "pillow", "datasets")
    rows, cols = ink.shape
    scale = box / max(rows, cols)
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    glyph = pil.fromarray(ink).resize(size, pil.Resampling.BILINEAR)
    canvas = pil.new("L", (_HI, _HI), 0)
    canvas.paste(glyph, ((_HI - size[0]) // 2, (_HI - size[1]) // 2))
    return canvas


def _canonical(char: str) -> np.ndarray:
    """The undistorted DejaVu Sans rendering at 28 × 28, blurred, as float32 in [0, 1]."""
    pil = require("PIL.Image", "pillow", "datasets")
    image_filter = require("PIL.ImageFilter", "pillow", "datasets")
    canvas = _fit(_outline(char, 0), _BOX).filter(image_filter.GaussianBlur(1))
    small = canvas.resize((28, 28), pil.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _letters(script: str) -> list[str]:
    covered = _coverage()[0]
    out = []
    for lo, hi in SCRIPTS[script]:
        for code in range(lo, hi + 1):
            char = chr(code)
            if code not in covered or unicodedata.category(char) not in ("Lu", "Ll", "Lo"):
                continue
            if unicodedata.decomposition(char) or _outline(char, 0).size == 0:
                continue
            out.append(char)
    return out


@functools.cache
def glyph_classes() -> tuple[GlyphClass, ...]:
    """Every class of the glyph set, with its merged look-alike characters, script and split.

    Returns:
        The classes in label order (``classes[i].label == i``); the labels do not depend
        on any seed.

    Raises:
        ImportError: matplotlib, pillow or fonttools is not installed.

    Example:
        >>> from hypernetworks.datasets import glyph_classes
        >>> classes = glyph_classes()
        >>> len(classes) > 900, {c.split for c in classes} == {"background", "validation",
        ...                                                  "evaluation"}
        (True, True)
    """
    chars: list[str] = []
    scripts: list[str] = []
    for script in SCRIPTS:
        letters = _letters(script)
        chars += letters
        scripts += [script] * len(letters)
    images = np.stack([_canonical(c).ravel() for c in chars])
    parent = list(range(len(chars)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(chars)):
        distance = np.abs(images[i + 1 :] - images[i]).max(1)
        for j in np.nonzero(distance < _MERGE)[0] + i + 1:
            a, b = root(i), root(int(j))
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(chars)):
        groups.setdefault(root(i), []).append(i)
    split_of = {script: split for split, members in SPLITS.items() for script in members}
    return tuple(
        GlyphClass(
            label, "".join(chars[i] for i in members), scripts[first], split_of[scripts[first]]
        )
        for label, (first, members) in enumerate(sorted(groups.items()))
    )


def _sample(cls: GlyphClass, index: int, seed: int, distort: bool) -> np.ndarray:
    """Image ``index`` of class ``cls``: a random member, font, stroke width and affine."""
    pil = require("PIL.Image", "pillow", "datasets")
    image_filter = require("PIL.ImageFilter", "pillow", "datasets")
    rng = np.random.default_rng([seed, cls.label, index])
    char = cls.chars[int(rng.integers(len(cls.chars)))]
    fonts = [f for f, covered in enumerate(_coverage()) if ord(char) in covered]
    font = fonts[int(rng.integers(len(fonts)))]
    ink = _outline(char, font)
    if ink.size == 0:
        ink = _outline(char, 0)
    if not distort:
        return np.asarray(_fit(ink, _BOX).resize((28, 28), pil.Resampling.BOX)) / 255.0
    canvas = _fit(ink, _BOX * float(rng.uniform(0.85, 1.05)))
    stroke = int(rng.integers(-1, 3))  # thinning (-) or thickening (+) by a 3×3 filter
    if stroke:
        size = 2 * abs(stroke) + 1
        canvas = canvas.filter(
            image_filter.MinFilter(size) if stroke < 0 else image_filter.MaxFilter(size)
        )
    angle = np.deg2rad(rng.uniform(-12.0, 12.0))
    shear = rng.uniform(-0.25, 0.25)
    sx, sy = rng.uniform(0.85, 1.15, size=2)
    forward = np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    ) @ np.array([[sx, shear], [0.0, sy]])
    inverse = np.linalg.inv(forward)
    centre = _HI / 2.0
    shift = rng.uniform(-3.0, 3.0, size=2)  # ±1.5 px at 28 × 28
    offset = np.array([centre, centre]) - inverse @ (np.array([centre, centre]) + shift)
    data = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    canvas = canvas.transform((_HI, _HI), pil.Transform.AFFINE, data, pil.Resampling.BILINEAR)
    return np.asarray(canvas.resize((28, 28), pil.Resampling.BOX)) / 255.0


def load_glyphs(
    split: str = "all",
    *,
    per_class: int = 20,
    seed: int = 0,
    distort: bool = True,
) -> tuple[Tensor, Tensor]:
    """Rendered DejaVu glyphs: ``per_class`` distorted 28×28 images of every class of ``split``.

    Args:
        split: ``"background"``, ``"validation"``, ``"evaluation"`` (scripts listed in
            :data:`SPLITS`) or ``"all"``.
        per_class: images per class (Omniglot has 20), at least 1.
        seed: the images of a class depend only on ``(seed, label, index)``.
        distort: apply the random stroke-width change and affine distortion; without it
            each image is a clean rendering (of a random look-alike member and font).

    Returns:
        ``(x, y)``: ``x`` float32 ``[classes × per_class, 1, 28, 28]`` in [0, 1] (white
        ink on black), ``y`` int64 ``[classes × per_class]`` holding
        :func:`glyph_classes` labels, grouped by class in label order.

    Raises:
        ValueError: an unknown split or ``per_class < 1``.
        TypeError: ``per_class`` or ``seed`` is not an int.
        ImportError: matplotlib, pillow or fonttools is not installed.

    Example:
        >>> from hypernetworks.datasets import load_glyphs
        >>> x, y = load_glyphs("evaluation", per_class=2, seed=0)
        >>> tuple(x.shape[1:]), x.dtype, int(y.bincount().max())
        ((1, 28, 28), torch.float32, 2)
    """
    if split != "all" and split not in SPLITS:
        raise ValueError(f"split must be one of {sorted([*SPLITS, 'all'])}, got {split!r}")
    for name, value in (("per_class", per_class), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    classes = [c for c in glyph_classes() if split in ("all", c.split)]
    images = np.stack([_sample(c, i, seed, distort) for c in classes for i in range(per_class)])
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    y = torch.tensor([c.label for c in classes for _ in range(per_class)], dtype=torch.long)
    return x, y
