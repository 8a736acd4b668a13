"""HyperShot's test-time adaptation: affine support views, adaptation, the ProtoNet control."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from hypernetworks.fewshot import (
    ConvNet,
    EpisodeSampler,
    HyperShot,
    ProtoNet,
    affine_views,
    kernel_matrix,
    train,
)
from hypernetworks.fewshot._adapt import adapt, view_features


def _episode(ways: int = 3, shots: int = 2, seed: int = 0):  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(ways * 2 * 8, 1, 28, 28, generator=g)
    y = torch.arange(ways * 2).repeat_interleave(8)
    return EpisodeSampler(x, y, ways, shots, queries=3).sample(g)


def test_affine_views_are_reproducible_and_the_identity_at_zero_range() -> None:
    torch.set_num_threads(1)
    images = torch.rand(4, 1, 28, 28)
    first = affine_views(images, 3, torch.Generator().manual_seed(1))
    again = affine_views(images, 3, torch.Generator().manual_seed(1))
    other = affine_views(images, 3, torch.Generator().manual_seed(2))
    assert first.shape == (4, 3, 1, 28, 28)
    assert torch.equal(first, again) and not torch.equal(first, other)
    still = affine_views(
        images, 2, torch.Generator(), rotation=0.0, shear=0.0, scale=0.0, shift=0.0
    )
    assert torch.allclose(still, images.unsqueeze(1).expand_as(still), atol=1e-5)


def test_affine_views_refuse_bad_input() -> None:
    g = torch.Generator()
    with pytest.raises(ValueError, match="views must be a positive int, got 0"):
        affine_views(torch.rand(2, 1, 8, 8), 0, g)
    with pytest.raises(ValueError, match=r"images must be \[n, C, H, W\], got shape \(2, 8, 8\)"):
        affine_views(torch.rand(2, 8, 8), 1, g)
    with pytest.raises(TypeError, match="floating-point tensor, got Tensor"):
        affine_views(torch.zeros(2, 1, 8, 8, dtype=torch.long), 1, g)


def test_views_join_the_class_means_of_an_untrained_hypershot() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    episode = _episode()
    model = HyperShot(3, 2, ConvNet(channels=4), views=3).eval()  # no adaptation steps
    support, query, copies = view_features(
        model.backbone, episode.support_x, episode.query_x, 3, model.view_seed
    )
    means = torch.cat([support.unsqueeze(1), copies], 1).unflatten(0, (3, 2)).mean((1, 2))
    expected = -torch.cdist(query, means).pow(2)  # zero classifier, temperature 1
    assert torch.allclose(model.predict(episode), expected, atol=1e-5)
    # the ProtoNet control with the same views has exactly HyperShot's class means
    control = ProtoNet(model.backbone, views=3, view_seed=model.view_seed)
    assert torch.allclose(control.predict(episode), expected, atol=1e-5)


def test_adaptation_is_deterministic_and_changes_no_parameter() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    episode = _episode()
    model = HyperShot(3, 2, ConvNet(channels=4), views=2, adapt_steps=5, adapt_lr=0.1).eval()
    before = copy.deepcopy(model.state_dict())
    first = model.predict(episode)
    with torch.no_grad():  # adaptation enables gradients itself
        again = model.predict(episode)
    assert torch.equal(first, again) and not first.requires_grad
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    plain = HyperShot(3, 2, model.backbone, views=2).eval()
    plain.load_state_dict(model.state_dict())
    assert not torch.allclose(first, plain.predict(episode))  # the steps did something


def test_adapt_lowers_the_pseudo_query_loss() -> None:
    torch.manual_seed(0)
    support, pseudo = torch.randn(6, 5), torch.randn(24, 5)
    labels = torch.arange(3).repeat_interleave(8)
    base = -torch.cdist(pseudo, support.unflatten(0, (3, 2)).mean(1)).pow(2)
    scores = kernel_matrix(pseudo, support, "euclidean")
    classifier = torch.nn.Linear(6, 3)
    log_t = torch.zeros((), requires_grad=True)

    def loss() -> float:
        with torch.no_grad():
            return float(F.cross_entropy(log_t.exp() * base + classifier(scores), labels))

    start = loss()
    adapt(classifier, log_t, base, scores, labels, steps=30, lr=0.05)
    assert loss() < start


def test_test_time_options_leave_training_unchanged() -> None:
    torch.set_num_threads(1)
    x, y = torch.rand(60, 1, 28, 28), torch.arange(6).repeat_interleave(10)
    sampler = EpisodeSampler(x, y, ways=3, shots=1, queries=2)
    trained = []
    for options in ({}, {"views": 2, "adapt_steps": 3}):
        torch.manual_seed(0)
        model = HyperShot(3, 1, ConvNet(channels=4), **options)  # type: ignore[arg-type]
        train(model, sampler, steps=3, generator=torch.Generator().manual_seed(1))
        trained.append(model.state_dict())
    for name, value in trained[0].items():
        assert torch.equal(value, trained[1][name]), name


def test_bad_test_time_options_get_clear_errors() -> None:
    with pytest.raises(ValueError, match="views must be at least 0, got -1"):
        HyperShot(3, 1, ConvNet(channels=4), views=-1)
    with pytest.raises(TypeError, match=r"adapt_steps must be an int, got 1.5 \(float\)"):
        HyperShot(3, 1, ConvNet(channels=4), views=1, adapt_steps=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="adapt_steps=3 needs views >= 1, got views=0"):
        HyperShot(3, 1, ConvNet(channels=4), adapt_steps=3)
    with pytest.raises(ValueError, match="adapt_lr must be a positive number, got 0"):
        HyperShot(3, 1, ConvNet(channels=4), views=1, adapt_lr=0)
    with pytest.raises(TypeError, match=r"views must be an int, got True \(bool\)"):
        ProtoNet(ConvNet(channels=4), views=True)  # type: ignore[arg-type]


def test_one_pass_controls_equal_the_separate_learners() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    episode = _episode(seed=3)
    model = HyperShot(3, 2, ConvNet(channels=4), views=2, adapt_steps=2).eval()
    out = model.predict_with_controls(episode)
    assert torch.allclose(out["hypershot"], model.predict(episode), atol=1e-5)
    assert torch.allclose(out["prototypes"], ProtoNet(model.backbone).predict(episode), atol=1e-4)
    control = ProtoNet(model.backbone, views=2, view_seed=model.view_seed)
    assert torch.allclose(out["prototypes_with_views"], control.predict(episode), atol=1e-4)
