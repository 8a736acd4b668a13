"""hypernetworks.fields: SIREN, the field hypernetwork, the CNP and test-time baselines."""

from __future__ import annotations

import math

import pytest
import torch

from hypernetworks.datasets import load_digits
from hypernetworks.fields import (
    CNP,
    AttentionEncoder,
    ContextEncoder,
    FieldHyperNetwork,
    Siren,
    SirenFit,
    context_set,
    fit_sirens,
    pixel_grid,
    random_masks,
    subpixel_offsets,
)


def tiny_hypernet(**kw: object) -> FieldHyperNetwork:
    options = dict(hidden=8, layers=2, code=16, hyper_hidden=(16,), steps=2, batch_size=4)
    options.update(kw)
    return FieldHyperNetwork(1, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_digits(images=True)[0]


def test_siren_uses_the_paper_initialisation_and_omega0() -> None:
    net = Siren(2, 3, hidden=64, layers=3, omega0=12.0, generator=torch.Generator().manual_seed(0))
    first, second = net.net[0].linear.weight.detach(), net.net[1].linear.weight.detach()
    assert float(first.abs().max()) <= 1 / 2 and float(first.abs().max()) > 0.4
    bound = math.sqrt(6 / 64) / 12.0
    assert float(second.abs().max()) <= bound and float(second.abs().max()) > 0.9 * bound
    x = pixel_grid(3, 3)
    expected = torch.sin(12.0 * net.net[0].linear(x))
    assert torch.allclose(net.net[0](x), expected)


def test_per_sample_sirens_equal_materialize_with_padded_contexts() -> None:
    images = torch.rand(5, 1, 6, 6)
    mask = random_masks(5, 6, 6, 4)
    mask[2] = True  # one image with a full context: the others are padded beside it
    model = tiny_hypernet().fit(images)
    completed = model.complete(images, mask)
    for i in range(5):
        siren = model.materialize(images[i], mask[i])
        assert type(siren) is Siren
        own = siren(pixel_grid(6, 6)).T.reshape(1, 6, 6).clamp(0, 1)
        assert torch.allclose(own, completed[i], atol=1e-5)


def test_fit_leaves_the_global_random_state_alone() -> None:
    images = torch.rand(4, 1, 5, 5)
    state = torch.get_rng_state()
    tiny_hypernet().fit(images)
    assert torch.equal(state, torch.get_rng_state())


def test_fit_is_repeatable_under_a_seed() -> None:
    images, mask = torch.rand(6, 1, 5, 5), random_masks(6, 5, 5, 6)
    a = tiny_hypernet(seed=3).fit(images).complete(images, mask)
    b = tiny_hypernet(seed=3).fit(images).complete(images, mask)
    assert torch.equal(a, b)


# The completion tests train on 1000 8×8 digits for 1000 steps (a few seconds each) and
# score 200 others at 3, 16 and 64 (all) context pixels, with the same masks for every model.
_BUDGET = dict(code=64, steps=1000, batch_size=16, seed=0)


def _errors(model: CNP | FieldHyperNetwork, test: torch.Tensor) -> list[float]:
    generator = torch.Generator().manual_seed(0)
    return [
        float(
            (
                (model.complete(test, random_masks(len(test), 8, 8, k, generator=generator)) - test)
                ** 2
            ).mean()
        )
        for k in (3, 16, 64)
    ]


@pytest.fixture(scope="module")
def completion_errors(digits: torch.Tensor) -> dict[str, list[float]]:
    train, test = digits[:1000], digits[1000:1200]
    hypernet = FieldHyperNetwork(1, hidden=32, layers=2, omega0=10.0, **_BUDGET).fit(train)
    cnp = CNP(1, **_BUDGET).fit(train)
    mean_image = float(((train.mean(0) - test) ** 2).mean())
    return {
        "hypernetwork": _errors(hypernet, test),
        "cnp": _errors(cnp, test),
        "mean": [mean_image],
    }


def test_completion_improves_with_more_context(completion_errors: dict[str, list[float]]) -> None:
    errors, mean_image = completion_errors["hypernetwork"], completion_errors["mean"][0]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.5 * mean_image
    assert errors[0] < mean_image  # even 3 pixels say something about the digit


def test_hypernetwork_beats_the_cnp_at_every_context_size(
    completion_errors: dict[str, list[float]],
) -> None:
    cnp = completion_errors["cnp"]
    assert cnp[0] > cnp[1] > cnp[2] and cnp[2] < completion_errors["mean"][0]
    for ours, theirs in zip(completion_errors["hypernetwork"], cnp, strict=True):
        assert ours < theirs


def test_the_default_hypernetwork_has_no_body_between_encoder_and_head() -> None:
    # A hidden body between the set encoder and the zero-initialised head kept the model at
    # the mean image (docs/benchmarks.md, section 10); the default feeds the code straight in.
    model = FieldHyperNetwork(1, hidden=8, layers=1, code=8, steps=1).fit(torch.rand(2, 1, 4, 4))
    assert model.hyper_hidden == ()
    assert not any(isinstance(m, torch.nn.Linear) for m in model.model_.body.modules())


def test_render_samples_the_field_at_any_resolution() -> None:
    images = torch.rand(3, 1, 6, 6)
    mask = random_masks(3, 6, 6, 10)
    model = tiny_hypernet().fit(images)
    assert model.render(images, mask, size=(12, 9)).shape == (3, 1, 12, 9)
    # a grid of the same resolution renders exactly the completion
    assert torch.equal(model.render(images, mask, size=(6, 6)), model.complete(images, mask))


def test_finetuning_lowers_the_error_on_the_context() -> None:
    images = torch.rand(4, 1, 6, 6)
    mask = random_masks(4, 6, 6, 12)
    model = tiny_hypernet().fit(images)

    def context_error(out: torch.Tensor) -> float:
        return float((((out - images) ** 2)[:, 0] * mask).sum() / mask.sum())

    before = context_error(model.finetune(images, mask, steps=0))
    after = context_error(model.finetune(images, mask, steps=30, lr=1e-2))
    assert torch.allclose(
        model.finetune(images, mask, steps=0), model.complete(images, mask), atol=1e-6
    )
    assert after < 0.7 * before


def test_subpixel_offsets_land_on_the_finer_pixel_grid() -> None:
    # pixel-centre convention: the 2×2 sub-pixels of a 3×4 image are the 6×8 grid's pixels
    fine = (pixel_grid(3, 4).unsqueeze(1) + subpixel_offsets(3, 4, 2)).reshape(3, 4, 2, 2, 2)
    expected = pixel_grid(6, 8).reshape(3, 2, 4, 2, 2).permute(0, 2, 1, 3, 4)
    assert torch.allclose(fine, expected, atol=1e-6)
    assert torch.equal(subpixel_offsets(5, 5, 1), torch.zeros(1, 2))


def test_fit_sirens_with_subsamples_fits_their_mean() -> None:
    net = Siren(2, 1, hidden=8, layers=1, omega0=10.0, generator=torch.Generator().manual_seed(0))
    params = {k: v.detach().expand(2, *v.shape).clone() for k, v in net.named_parameters()}
    coords = pixel_grid(3, 3).expand(2, 9, 2)
    same = coords.unsqueeze(2).expand(2, 9, 4, 2)  # four identical sub-samples: the centre
    values, weights = torch.rand(2, 9, 1), torch.ones(2, 9)
    a = fit_sirens(net, params, coords, values, weights, steps=5)
    b = fit_sirens(net, params, same, values, weights, steps=5)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_area_consistent_finetuning_lowers_the_error_of_the_pooled_render() -> None:
    # Super-resolution by 2: the 12×12 render, 2×2 mean-pooled, should match the 6×6 input.
    small = torch.nn.functional.avg_pool2d(torch.rand(4, 1, 12, 12), 2)
    full = torch.ones(6, 6, dtype=torch.bool)
    model = tiny_hypernet(hidden=16).fit(small)

    def pooled_error(out: torch.Tensor) -> float:
        return float(((torch.nn.functional.avg_pool2d(out, 2) - small) ** 2).mean())

    before = pooled_error(model.finetune(small, full, steps=0, size=(12, 12), area=2))
    after = pooled_error(model.finetune(small, full, steps=40, lr=1e-2, size=(12, 12), area=2))
    scratch = SirenFit(1, steps=40, lr=1e-2, hidden=16, area=2).render(small, full, size=(12, 12))
    assert after < 0.5 * before
    assert pooled_error(scratch) < 0.5 * before
    with pytest.raises(ValueError, match=r"area must be a positive int"):
        model.finetune(small, full, steps=1, area=0)


def test_siren_from_scratch_fits_its_context() -> None:
    images = torch.rand(3, 1, 8, 8)
    mask = random_masks(3, 8, 8, 20)
    out = SirenFit(1, steps=200, lr=1e-3, hidden=32).complete(images, mask)
    assert float((((out - images) ** 2)[:, 0] * mask).sum() / mask.sum()) < 0.01


@pytest.mark.parametrize("kind", [ContextEncoder, AttentionEncoder])
def test_encoders_are_permutation_invariant_and_ignore_padding(kind: type) -> None:
    encoder = kind(channels=2, dim=8, hidden=16)
    images = torch.rand(2, 2, 4, 4)
    mask = random_masks(2, 4, 4, 5)
    mask[1] = True
    sets = context_set(images, mask)  # image 0 is padded from 5 to 16 rows
    alone = encoder(context_set(images[:1], mask[:1])[0])
    shuffled = encoder(sets[0, torch.randperm(16)])
    assert torch.allclose(encoder(sets)[0], alone, atol=1e-5)
    assert torch.allclose(shuffled, alone, atol=1e-5)


def test_attention_encoder_works_as_the_hypernetwork_conditioner() -> None:
    images = torch.rand(4, 1, 5, 5)
    mask = random_masks(4, 5, 5, 6)
    model = tiny_hypernet(encoder="attention").fit(images)
    assert model.complete(images, mask).shape == (4, 1, 5, 5)


# -- bad input ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted() -> FieldHyperNetwork:
    torch.manual_seed(0)
    return tiny_hypernet().fit(torch.rand(4, 1, 5, 5))


def test_wrong_channels_are_refused(fitted: FieldHyperNetwork) -> None:
    with pytest.raises(ValueError, match=r"must have 1 channel\(s\).*got 3"):
        fitted.complete(torch.rand(2, 3, 5, 5), torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"must have 1 channel\(s\).*got 3"):
        tiny_hypernet().fit(torch.rand(2, 3, 5, 5))


def test_values_outside_the_unit_range_are_refused(fitted: FieldHyperNetwork) -> None:
    with pytest.raises(ValueError, match=r"values in \[0, 1\], got values in \[0, 2\]"):
        fitted.complete(
            torch.rand(2, 1, 5, 5) * 0 + 2 * (torch.arange(25).view(5, 5) == 0),
            torch.ones(5, 5, dtype=torch.bool),
        )
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        tiny_hypernet().fit(torch.full((2, 1, 5, 5), float("nan")))


def test_an_empty_context_is_refused(fitted: FieldHyperNetwork) -> None:
    mask = torch.ones(2, 5, 5, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"at least one context pixel.*image\(s\) \[1\]"):
        fitted.complete(torch.rand(2, 1, 5, 5), mask)


def test_a_mask_of_the_wrong_shape_or_kind_is_refused(fitted: FieldHyperNetwork) -> None:
    images = torch.rand(2, 1, 5, 5)
    with pytest.raises(ValueError, match=r"mask must be .*\[2, 5, 5\].*got shape \(2, 4, 4\)"):
        fitted.complete(images, torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        fitted.complete(images, torch.full((5, 5), 0.5))
    with pytest.raises(TypeError, match="mask must be"):
        fitted.complete(images, [[1]])


def test_other_bad_calls_are_refused(fitted: FieldHyperNetwork) -> None:
    images, mask = torch.rand(2, 1, 5, 5), torch.ones(5, 5, dtype=torch.bool)
    with pytest.raises(RuntimeError, match="not fitted yet; call fit"):
        tiny_hypernet().complete(images, mask)
    with pytest.raises(ValueError, match=r"size must be a pair of positive ints.*\(0, 4\)"):
        fitted.render(images, mask, size=(0, 4))
    with pytest.raises(TypeError, match=r"images must be a float tensor \[N, 1, H, W\]"):
        fitted.complete(images.long(), mask)
    with pytest.raises(ValueError, match=r"omega0 must be a positive finite number, got -1"):
        FieldHyperNetwork(1, omega0=-1.0)
    with pytest.raises(ValueError, match="encoder must be 'deepsets' or 'attention'"):
        FieldHyperNetwork(1, encoder="transformer")
    with pytest.raises(ValueError, match=r"min_context \(=50\) must not exceed .* \(=25\)"):
        tiny_hypernet(min_context=50).fit(torch.rand(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"context \(=30 pixels\) must lie in \[1, 25\]"):
        random_masks(2, 5, 5, 30)
