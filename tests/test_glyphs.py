"""The rendered-glyph data set: shapes, determinism, look-alike merging and the script split."""

from __future__ import annotations

import pytest
import torch

from hypernetworks.datasets import GLYPH_SPLITS as SPLITS
from hypernetworks.datasets import glyph_classes, load_glyphs


def test_shapes_range_and_grouping() -> None:
    x, y = load_glyphs("validation", per_class=3, seed=0)
    classes = [c for c in glyph_classes() if c.split == "validation"]
    assert x.shape == (3 * len(classes), 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert y.tolist() == [c.label for c in classes for _ in range(3)]
    # every image has ink, and not everywhere (white glyph on black)
    ink = x.flatten(1).mean(1)
    assert bool((ink > 0.01).all()) and bool((ink < 0.6).all())


def test_deterministic_under_a_seed_and_independent_of_the_split() -> None:
    a, ya = load_glyphs("validation", per_class=2, seed=3)
    b, yb = load_glyphs("validation", per_class=2, seed=3)
    c, _ = load_glyphs("validation", per_class=2, seed=4)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)
    everything, labels = load_glyphs("all", per_class=2, seed=3)
    mask = torch.isin(labels, ya)
    assert torch.equal(everything[mask], a)


def test_distortions_vary_the_images_of_a_class() -> None:
    x, _ = load_glyphs("evaluation", per_class=4, seed=0)
    first = x[:4].flatten(1)
    assert float((first[1:] - first[0]).abs().sum(1).min()) > 1.0
    clean, _ = load_glyphs("evaluation", per_class=1, seed=0, distort=False)
    assert clean.shape == (len(x) // 4, 1, 28, 28)


def test_look_alikes_across_scripts_are_one_class() -> None:
    by_char = {ch: c for c in glyph_classes() for ch in c.chars}
    latin_a = by_char["A"]
    assert by_char["\u0391"] is latin_a and by_char["\u0410"] is latin_a  # Greek, Cyrillic A
    assert latin_a.script == "latin"
    assert by_char["\u062c"] is not by_char["\u062d"]  # Arabic jeem / hah differ by a dot
    assert by_char["O"] is not by_char["Q"]
    chars = [ch for c in glyph_classes() for ch in c.chars]
    assert len(chars) == len(set(chars)) > 1000


def test_splits_are_disjoint_and_follow_the_scripts() -> None:
    classes = glyph_classes()
    assert [c.label for c in classes] == list(range(len(classes)))
    for cls in classes:
        assert cls.script in SPLITS[cls.split]
    sizes = {split: sum(c.split == split for c in classes) for split in SPLITS}
    assert sizes["background"] > 500 and sizes["evaluation"] > 150 and sizes["validation"] > 50
    labels = {s: set(load_glyphs(s, per_class=1)[1].tolist()) for s in ("validation", "evaluation")}
    assert not labels["validation"] & labels["evaluation"]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        load_glyphs("train")
    with pytest.raises(ValueError, match="per_class must be at least 1, got 0"):
        load_glyphs("evaluation", per_class=0)
    with pytest.raises(TypeError, match="per_class must be an int, got float"):
        load_glyphs("evaluation", per_class=2.0)  # type: ignore[arg-type]
