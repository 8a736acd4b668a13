"""hypernetworks.uncertainty: the noise hypernetwork, the baselines and their invariants."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hypernetworks.uncertainty import (
    DeepEnsemble,
    MCDropout,
    NoiseHypernet,
    Single,
    classification_summary,
    mlp,
)


def _blobs(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    return centers[y] + 0.5 * torch.randn(n, 4, generator=g), y


@pytest.fixture(scope="module")
def trained() -> NoiseHypernet:
    torch.manual_seed(0)
    x, y = _blobs()
    hyper = NoiseHypernet(mlp(4, (16,), 3), noise_dim=4, num_data=96, k=4, kl_weight=0.1)
    return hyper.fit(x, y, epochs=10, batch_size=32, lr=1e-2)


def test_noise_draws_give_different_networks(trained: NoiseHypernet) -> None:
    x, _ = _blobs(20, seed=1)
    z = trained.sample(2)
    assert not torch.equal(z[0], z[1])
    out = trained.members(x, z)
    assert (out[0] - out[1]).abs().max() > 1e-3
    assert not torch.equal(trained.sample(3), trained.sample(3))  # fresh draws every call


def test_materialize_equals_the_sampled_member(trained: NoiseHypernet) -> None:
    x, _ = _blobs(20, seed=1)
    z = trained.sample(5)
    out = trained.members(x, z)
    for i in range(5):
        net = trained.materialize(z[i])
        assert isinstance(net, nn.Sequential)
        torch.testing.assert_close(net(x), out[i], atol=1e-5, rtol=1e-5)


def test_members_run_each_draw_on_all_inputs(trained: NoiseHypernet) -> None:
    x, _ = _blobs(7, seed=2)
    z = trained.sample(3)
    together = trained.members(x, z)
    for i in range(3):  # one vectorized call == each draw alone
        torch.testing.assert_close(together[i], trained.members(x, z[i : i + 1])[0])


def test_hypernet_learns_above_chance(trained: NoiseHypernet) -> None:
    x, y = _blobs(200, seed=3)
    probs = classification_summary(trained.members(x, 10))["probs"]
    assert (probs.argmax(1) == y).double().mean() > 0.8


def test_kl_term_keeps_draws_apart() -> None:
    x, y = _blobs()
    spread = {}
    for beta in (0.0, 10.0):
        hyper = NoiseHypernet(
            mlp(4, (16,), 3), noise_dim=4, num_data=96, k=4, kl_weight=beta, seed=0
        )
        hyper.fit(x, y, epochs=20, batch_size=32, lr=1e-2)
        with torch.no_grad():
            w = hyper.model.generate(hyper.sample(16))
        flat = torch.cat([v.flatten(1) for v in w.values()], dim=1)
        spread[beta] = float(torch.pdist(flat).mean())
    assert spread[10.0] > 2 * spread[0.0]


def test_function_entropy_makes_draws_disagree_away_from_the_data() -> None:
    # a 1-D problem observed on [-2, -1] and [1, 2]: the draws should spread in the gap
    g = torch.Generator().manual_seed(0)
    x = torch.cat([-2 + torch.rand(40, generator=g), 1 + torch.rand(40, generator=g)])[:, None]
    y = torch.sin(2 * x[:, 0]) + 0.1 * torch.randn(80, generator=g)
    gap, data = torch.linspace(-0.5, 0.5, 11)[:, None], x[:20]
    spread = {}
    for gamma in (0.0, 0.3):
        torch.manual_seed(0)  # the target's initial weights
        hyper = NoiseHypernet(
            mlp(1, (16,), 2),
            noise_dim=4,
            hidden=(),
            num_data=80,
            task="regression",
            per_example=False,
            function_entropy=gamma,
            seed=0,
        )
        hyper.fit(x, y, epochs=150, batch_size=40, lr=1e-2)
        with torch.no_grad():
            means = hyper.members(torch.cat([gap, data]), 16)[..., 0]
        spread[gamma] = (float(means[:, :11].std(0).mean()), float(means[:, 11:].std(0).mean()))
    # more disagreement in the gap than without the term, and more in the gap than on the data
    assert spread[0.3][0] > 2 * spread[0.0][0]
    assert spread[0.3][0] > 2 * spread[0.3][1]


def test_measurement_points_fill_the_box_of_the_inputs_widened_by_the_margin() -> None:
    x = torch.linspace(-2.0, 2.0, 32)[:, None]
    y = torch.sin(x[:, 0])
    seen: list[torch.Tensor] = []

    class Recording(NoiseHypernet):
        def function_entropy_estimate(self, z, points):  # type: ignore[no-untyped-def]
            seen.append(points)
            return super().function_entropy_estimate(z, points)

    for margin in (0.0, 0.25):
        seen.clear()
        hyper = Recording(
            mlp(1, (8,), 2),
            noise_dim=2,
            hidden=(),
            num_data=32,
            k=3,
            task="regression",
            per_example=False,
            function_entropy=0.3,
            measurement_points=50,
            measurement_margin=margin,
        )
        hyper.fit(x, y, epochs=4, batch_size=8, lr=1e-3)
        points = torch.cat(seen)
        reach = 2.0 + 4.0 * margin  # the box [-2, 2] widened by margin · 4 on each side
        assert points.min() >= -reach and points.max() <= reach
        assert points.min() < -reach + 0.2 and points.max() > reach - 0.2  # and filled


def test_warmup_scales_the_entropy_terms_during_the_first_steps() -> None:
    x, y = _blobs(32)

    def fitted(warmup: float, epochs: int) -> torch.Tensor:
        torch.manual_seed(0)  # the target's initial weights
        hyper = NoiseHypernet(
            mlp(4, (8,), 3),
            noise_dim=2,
            num_data=32,
            k=3,
            kl_weight=50.0,
            seed=0,
            function_entropy=50.0,
            warmup=warmup,
        )
        hyper.fit(x, y, epochs=epochs, batch_size=32, lr=1e-2)
        return torch.cat([p.detach().flatten() for p in hyper.parameters()])

    # warm-up over a single step reaches full weight at once: the same as no warm-up
    assert torch.equal(fitted(1.0, 1), fitted(0.0, 1))
    # over two steps the first step has half the weight
    assert not torch.allclose(fitted(1.0, 2), fitted(0.0, 2))


def test_fit_leaves_global_random_state_alone() -> None:
    x, y = _blobs(32)
    net = mlp(4, (8,), 3)
    state = torch.get_rng_state()
    NoiseHypernet(net, noise_dim=2, num_data=32, k=2).fit(x, y, epochs=1)
    NoiseHypernet(net, noise_dim=2, num_data=32, k=2, function_entropy=1.0).fit(x, y, epochs=1)
    DeepEnsemble(lambda: mlp(4, (8,), 3), size=2).fit(x, y, epochs=1)
    assert torch.equal(state, torch.get_rng_state())


def test_vectorized_ensemble_equals_members_trained_one_by_one() -> None:
    x, y = _blobs(50)
    ensemble = DeepEnsemble(lambda: mlp(4, (8,), 3), size=3, seed=1)
    reference = copy.deepcopy(ensemble)
    ensemble.fit(x, y, epochs=3, batch_size=16, lr=1e-2, weight_decay=1e-3, seed=2)
    reference.fit(
        x, y, epochs=3, batch_size=16, lr=1e-2, weight_decay=1e-3, seed=2, vectorized=False
    )
    moved = [
        float((a - b).detach().abs().max())
        for a, b in zip(
            ensemble.stacked,
            copy.deepcopy(DeepEnsemble(lambda: mlp(4, (8,), 3), size=3, seed=1)).stacked,
            strict=True,
        )
    ]
    assert min(moved) > 1e-3  # training changed every tensor
    for a, b in zip(ensemble.stacked, reference.stacked, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    member = reference.member(1)  # the one-by-one result, as a plain module
    torch.testing.assert_close(member(x), ensemble.members(x)[1], atol=1e-5, rtol=1e-5)


def test_ensemble_members_differ_and_count_parameters() -> None:
    ensemble = DeepEnsemble(lambda: nn.Linear(3, 2), size=5)
    out = ensemble.members(torch.randn(4, 3))
    assert out.shape == (5, 4, 2)
    assert (out[0] - out[1]).abs().max() > 1e-3
    assert ensemble.num_params == 5 * 8


def test_mc_dropout_draws_differ_and_single_is_one_member() -> None:
    x, _ = _blobs(10)
    dropout = MCDropout(mlp(4, (32,), 3, dropout=0.5), k=6)
    out = dropout.members(x)
    assert out.shape == (6, 10, 3) and (out[0] - out[1]).abs().max() > 1e-4
    assert Single(mlp(4, (8,), 3)).members(x).shape == (1, 10, 3)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda h: h.members(torch.zeros(2, 4), 0), ValueError, r"k \(the number of members\)"),
        (lambda h: h.sample(-1), ValueError, "positive int, got -1"),
        (
            lambda h: h.members(torch.zeros(2, 4), torch.zeros(3, 5)),
            ValueError,
            r"z must be a float tensor \[K >= 1, 4\]",
        ),
        (lambda h: h.materialize(torch.zeros(2, 4)), ValueError, r"one draw z of shape \[4\]"),
        (
            lambda h: h.fit(torch.zeros(3, 4), torch.zeros(2, dtype=torch.long)),
            ValueError,
            "same number",
        ),
        (
            lambda h: h.fit(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), epochs=0),
            ValueError,
            "epochs must be a positive int",
        ),
    ],
)
def test_hypernet_bad_input(trained: NoiseHypernet, call, error, match) -> None:
    with pytest.raises(error, match=match):
        call(trained)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: NoiseHypernet(mlp(4, (8,), 3), k=1), ValueError, "at least 2.*got 1"),
        (lambda: NoiseHypernet(mlp(4, (8,), 3), k=0), ValueError, "k must be a positive int"),
        (lambda: NoiseHypernet(mlp(4, (8,), 3), kl_weight=-1.0), ValueError, "kl_weight"),
        (lambda: NoiseHypernet(mlp(4, (8,), 3), prior_std=0.0), ValueError, "prior_std"),
        (
            lambda: NoiseHypernet(mlp(4, (8,), 3), function_entropy=-0.1),
            ValueError,
            "function_entropy must be a number >= 0, got -0.1",
        ),
        (
            lambda: NoiseHypernet(mlp(4, (8,), 3), warmup=1.5),
            ValueError,
            r"warmup must be a fraction in \[0, 1\], got 1.5",
        ),
        (
            lambda: NoiseHypernet(mlp(4, (8,), 3), measurement_points=0),
            ValueError,
            "measurement_points must be a positive int",
        ),
        (
            lambda: NoiseHypernet(mlp(4, (8,), 3), measurement_margin=-0.1),
            ValueError,
            "measurement_margin must be a number >= 0, got -0.1",
        ),
        (lambda: NoiseHypernet("net"), TypeError, "target must be an nn.Module"),  # type: ignore[arg-type]
        (lambda: NoiseHypernet(mlp(4, (8,), 3), task="ranking"), ValueError, "task must be"),
        (lambda: NoiseHypernet(mlp(4, (8,), 3), per_example=1), TypeError, "True or False"),
        (lambda: MCDropout(nn.Dropout(0.1), k=0), ValueError, "k must be a positive int"),
        (lambda: MCDropout(mlp(4, (8,), 3)), ValueError, "at least one nn.Dropout"),
        (lambda: DeepEnsemble(lambda: nn.Linear(2, 2), size=0), ValueError, "size must be"),
        (lambda: DeepEnsemble(nn.Linear(2, 2)(torch.zeros(1, 2)), size=2), TypeError, "callable"),
        (lambda: DeepEnsemble(lambda: nn.Linear(2, 2)).member(5), ValueError, r"\[0, 4\]"),
        (lambda: mlp(4, (8,), 3, dropout=1.0), ValueError, r"dropout must lie in \[0, 1\)"),
    ],
)
def test_constructors_refuse_bad_arguments(build, error, match) -> None:
    with pytest.raises(error, match=match):
        build()
