"""hypernetworks.fields: D'OH and COIN compression, JPEG, and the natural-image crops."""

from __future__ import annotations

import pytest
import torch

from hypernetworks.datasets import NATURAL_IMAGES, natural_image_crops
from hypernetworks.fields import COIN, DOH, jpeg_curve, psnr


@pytest.fixture(scope="module")
def smooth() -> torch.Tensor:
    """Two smooth 12×12 colour images (a field a small SIREN can hold)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 12), torch.linspace(0, 1, 12), indexing="ij")
    one = torch.stack([x, y, 0.5 + 0.4 * torch.sin(3 * x * y)])
    two = torch.stack([1 - y, 0.5 * x + 0.2, 0.3 + 0.3 * torch.cos(2 * x)])
    return torch.stack([one, two])


def test_doh_round_trip_keeps_the_fitted_quality_and_states_its_rate(smooth: torch.Tensor) -> None:
    doh = DOH(3, latent=64, bits=8, hidden=16, layers=2, omega0=5.0, steps=300, lr=3e-2, seed=0)
    codes = doh.compress(smooth)
    decoded = doh.decompress(codes)  # a fresh decoder from the same seed decodes as well
    again = DOH(3, latent=64, bits=8, hidden=16, layers=2, omega0=5.0, steps=1, seed=0).decompress(
        codes
    )
    assert torch.equal(decoded, again)
    assert codes[0].bpp == pytest.approx((64 * 8 + 32) / 144)
    assert all(int(c.levels.min()) >= 0 and int(c.levels.max()) <= 255 for c in codes)
    quality = psnr(decoded, smooth)
    assert bool((quality > 25).all()), quality
    coarse = DOH(3, latent=64, bits=2, hidden=16, layers=2, omega0=5.0, steps=300, lr=3e-2, seed=0)
    assert float(psnr(coarse.decompress(coarse.compress(smooth)), smooth).mean()) < float(
        quality.mean()
    )


def test_coin_round_trip_is_its_half_precision_siren(smooth: torch.Tensor) -> None:
    coin = COIN(3, hidden=12, layers=2, steps=300, lr=1e-2, seed=0)
    codes = coin.compress(smooth)
    assert codes[0].num_bits == 16 * coin.num_parameters
    assert bool((psnr(coin.decompress(codes), smooth) > 25).all())
    coarse = COIN(3, hidden=12, layers=2, bits=6, steps=300, lr=1e-2, seed=0)
    coarse_codes = coarse.compress(smooth)
    assert coarse_codes[0].num_bits == 6 * coin.num_parameters + 32 * 6  # 6 tensors' ranges
    assert coarse.decompress(coarse_codes).shape == smooth.shape


def test_jpeg_gets_better_with_quality(smooth: torch.Tensor) -> None:
    curve = jpeg_curve(smooth[0], qualities=(10, 90))
    assert curve[0][0] < curve[1][0] and curve[0][1] < curve[1][1]


def test_compression_checks_its_input() -> None:
    with pytest.raises(ValueError, match=r"must have 3 channel\(s\)"):
        DOH(3, latent=4, steps=1).compress(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="bits must be at most 16, got 20"):
        DOH(3, latent=4, bits=20)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        COIN(3, steps=1).compress(torch.rand(1, 3, 4, 4) + 1)


def test_natural_crops_are_repeatable_and_split_by_photograph() -> None:
    a = natural_image_crops(6, split="test", seed=1)
    assert a.shape == (6, 3, 32, 32) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, natural_image_crops(6, split="test", seed=1))
    assert not torch.equal(a, natural_image_crops(6, split="test", seed=2))
    assert not set(NATURAL_IMAGES["train"]) & set(NATURAL_IMAGES["test"])
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        natural_image_crops(2, split="val")
    with pytest.raises(ValueError, match=r"short_side \(=16\) must be at least size \(=32\)"):
        natural_image_crops(2, short_side=16)
