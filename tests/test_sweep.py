"""hypernetworks.sweep: priors, training over them, sweeping, gradient search, errors."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypernetworks import cli
from hypernetworks.sweep import HyperSweep, LogUniform, Uniform, _baselines, _benchmarks

# A tiny ridge regression: its exact solution for every λ is closed-form, so a sweep can be
# checked against separately "trained" (solved) models with no optimiser noise.
N_FEATURES = 6


def _ridge_data():
    g = torch.Generator().manual_seed(0)
    w_true = 0.5 * torch.randn(N_FEATURES, 1, generator=g)
    x_tr = torch.randn(20, N_FEATURES, generator=g)
    x_va = torch.randn(200, N_FEATURES, generator=g)
    y_tr = x_tr @ w_true + 3.0 * torch.randn(20, 1, generator=g)
    y_va = x_va @ w_true + 3.0 * torch.randn(200, 1, generator=g)
    return (x_tr, y_tr), (x_va, y_va)


def _ridge_loss(net, batch, hp):
    x, y = batch
    return F.mse_loss(net(x), y) + hp["lam"] * net.params["weight"].pow(2).sum()


def _mse(net, batch):
    return F.mse_loss(net(batch[0]), batch[1])


def _exact_val(lam, train, val):
    """Validation MSE of the exact minimiser of mean((xw - y)^2) + lam * |w|^2."""
    x, y = train
    w = torch.linalg.solve(x.T @ x / len(x) + lam * torch.eye(N_FEATURES), x.T @ y / len(x))
    return F.mse_loss(val[0] @ w, val[1]).item()


@pytest.fixture(scope="module")
def ridge():
    torch.manual_seed(0)
    train, val = _ridge_data()
    hs = HyperSweep(
        nn.Linear(N_FEATURES, 1, bias=False),
        {"lam": LogUniform(1e-3, 10.0)},
        _ridge_loss,
        metric=_mse,
        hidden=(32, 32),
    )
    hs.fit(train, steps=600, lr=0.01, draws=8, progress=False)
    return hs, train, val


def test_sweep_tracks_separately_solved_models(ridge):
    hs, train, val = ridge
    grid = [1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
    rows = hs.sweep({"lam": grid}, val)
    exact = [_exact_val(lam, train, val) for lam in grid]
    swept = [r["metric"] for r in rows]
    assert [r["lam"] for r in rows] == pytest.approx(grid)
    # The curve has a clear interior minimum, and the hypernetwork finds the same one.
    assert exact.index(min(exact)) not in (0, len(grid) - 1)
    assert swept.index(min(swept)) == exact.index(min(exact))
    assert max(abs(a - b) for a, b in zip(swept, exact, strict=True)) < 0.05 * max(exact)


def test_gradient_search_moves_to_the_known_optimum(ridge):
    hs, train, val = ridge
    fine = torch.logspace(-3, 1, 81).tolist()
    exact = [_exact_val(lam, train, val) for lam in fine]
    best_lam = fine[exact.index(min(exact))]
    start = {"lam": 0.01}
    result = hs.optimize(val, start=start, steps=60)
    assert result.metric < result.history[0]  # it improved on the start
    assert result.history[0] == pytest.approx(hs.evaluate(start, val), rel=1e-5)
    assert abs(math.log10(result.hparams["lam"]) - math.log10(best_lam)) < 0.35
    assert result.metric == pytest.approx(hs.evaluate(result.hparams, val), rel=1e-5)


def test_materialize_is_the_plain_model_for_the_setting(ridge):
    hs, _, val = ridge
    net = hs.materialize({"lam": 0.5})
    assert type(net) is nn.Linear and all(p.requires_grad for p in net.parameters())
    with torch.no_grad():
        assert torch.equal(net(val[0]), hs.bind({"lam": 0.5})(val[0]))


def test_vector_priors_fixed_values_and_data_loaders():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    seen = []

    def loss(net, batch, hp):
        seen.append((hp["decays"].shape, hp["smooth"].shape))
        decay = (net.params["weight"].pow(2).sum(0) * hp["decays"]).sum()
        return F.cross_entropy(net(batch[0]), batch[1], label_smoothing=float(hp["smooth"])) + decay

    priors = {"decays": LogUniform(1e-4, 1e-1, size=4), "smooth": Uniform(0.0, 0.2)}
    hs = HyperSweep(
        nn.Linear(4, 3), priors, loss, metric=lambda net, b: F.cross_entropy(net(b[0]), b[1])
    )
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    assert hs.fit(loader, steps=6, draws=2, progress=False) is hs
    assert seen[0] == (torch.Size([4]), torch.Size([]))
    assert hs.width == 5 and len(hs.history) == 6
    result = hs.optimize(loader, steps=3, fixed={"smooth": 0.1})
    assert result.hparams["smooth"] == pytest.approx(0.1)
    assert len(result.hparams["decays"]) == 4
    rows = hs.sweep(
        [{"decays": [1e-3] * 4, "smooth": 0.0}, {"decays": [1e-2] * 4, "smooth": 0.2}], (x, y)
    )
    assert [r["smooth"] for r in rows] == [0.0, pytest.approx(0.2)]


def test_endpoint_mass_draws_the_range_ends():
    prior = LogUniform(1e-4, 1.0, endpoint_mass=0.4, size=2)
    gamma = prior.sample_gamma(20000, torch.Generator().manual_seed(0))
    assert gamma.shape == (20000, 2)
    assert (gamma == 0).float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert (gamma == 1).float().mean().item() == pytest.approx(0.2, abs=0.01)
    values = prior.to_value(gamma)
    assert values.min().item() == pytest.approx(1e-4) and values.max().item() == pytest.approx(1.0)
    assert (
        Uniform(0, 1).sample_gamma(1000, torch.Generator().manual_seed(0)).unique().numel() == 1000
    )


def test_training_is_reproducible():
    def run():
        torch.manual_seed(0)
        train, _ = _ridge_data()
        hs = HyperSweep(
            nn.Linear(N_FEATURES, 1),
            {"lam": LogUniform(1e-3, 1.0)},
            _ridge_loss,
            metric=_mse,
            hidden=(8,),
        )
        hs.fit(train, steps=20, batch_size=10, draws=3, seed=3, progress=False)
        return hs.history

    assert run() == run()


def _small_sweep():
    return HyperSweep(
        nn.Linear(3, 1),
        {"lam": LogUniform(1e-3, 1.0), "s": Uniform(0, 1)},
        _ridge_loss,
        hidden=(4,),
    )


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: LogUniform(0.0, 1.0), ValueError, "LogUniform needs 0 < low, got low=0"),
        (lambda: Uniform(1.0, 1.0), ValueError, "a prior needs low < high, got low=1, high=1"),
        (lambda: Uniform(0, 1, endpoint_mass=1.0), ValueError, "endpoint_mass must lie in [0, 1)"),
        (lambda: Uniform(0, 1, size=0), ValueError, "size must be None or a positive int, got 0"),
        (lambda: Uniform("0", 1), TypeError, "low must be a real number, got str '0'"),
        (
            lambda: HyperSweep(nn.Linear(2, 1), {}, _ridge_loss),
            ValueError,
            "priors must be a non-empty dict",
        ),
        (
            lambda: HyperSweep(nn.Linear(2, 1), {"lam": (0, 1)}, _ridge_loss),
            TypeError,
            "the prior for 'lam' must be Uniform(...) or LogUniform(...), got tuple",
        ),
        (
            lambda: HyperSweep(nn.Linear(2, 1), {"1x": Uniform(0, 1)}, _ridge_loss),
            ValueError,
            "hyperparameter names must be identifiers, got '1x'",
        ),
        (
            lambda: _small_sweep().sweep({"lam": [], "s": [0.5]}, (torch.ones(2, 3),), _mse),
            ValueError,
            "the grid has no values for 'lam'",
        ),
        (
            lambda: _small_sweep().sweep({}, (torch.ones(2, 3),), _mse),
            ValueError,
            "the grid is empty",
        ),
        (
            lambda: _small_sweep().sweep([], (torch.ones(2, 3),), _mse),
            ValueError,
            "the grid is empty",
        ),
        (
            lambda: _small_sweep().sweep(
                {"lam": [0.1], "s": [0.5], "wd": [1]}, (torch.ones(2, 3),), _mse
            ),
            ValueError,
            "the grid names unknown hyperparameters ['wd']; known: ['lam', 's']",
        ),
        (
            lambda: _small_sweep().sweep({"lam": [0.1]}, (torch.ones(2, 3),), _mse),
            ValueError,
            "missing ['s']",
        ),
        (
            lambda: _small_sweep().sweep({"lam": [5.0], "s": [0.5]}, (torch.ones(2, 3),), _mse),
            ValueError,
            "hyperparameter 'lam' must lie in [0.001, 1], got 5",
        ),
        (
            lambda: _small_sweep().materialize({"lam": 0.1, "s": -0.5}),
            ValueError,
            "hyperparameter 's' must lie in [0, 1], got -0.5",
        ),
        (
            lambda: _small_sweep().materialize({"lam": 0.1, "s": 0.5, "mu": 1}),
            ValueError,
            "hyperparameters must name exactly ['lam', 's']; missing [], unknown ['mu']",
        ),
        (
            lambda: _small_sweep().materialize({"lam": [0.1, 0.2], "s": 0.5}),
            ValueError,
            "hyperparameter 'lam' takes a number, got 2 values",
        ),
        (
            lambda: _small_sweep().optimize((torch.ones(2, 3),)),
            ValueError,
            "no validation metric: pass metric=... here or to HyperSweep",
        ),
        (
            lambda: _small_sweep().optimize((torch.ones(2, 3),), _mse, fixed={"wd": 1}),
            ValueError,
            "fixed names unknown hyperparameters ['wd']",
        ),
        (
            lambda: _small_sweep().fit((torch.ones(4, 3), torch.ones(4, 1)), steps=0),
            ValueError,
            "steps must be a positive int, got 0",
        ),
        (
            lambda: _small_sweep().fit((torch.ones(4, 3), torch.ones(5, 1)), steps=1),
            ValueError,
            "data tensors must share their first dimension, got shapes [(4, 3), (5, 1)]",
        ),
        (
            lambda: HyperSweep(
                nn.Linear(3, 1), {"lam": Uniform(0, 1)}, lambda net, b, hp: net(b[0])
            ).fit((torch.ones(4, 3),), steps=1, progress=False),
            TypeError,
            "loss must return a scalar tensor, got Tensor of shape (4, 1)",
        ),
    ],
)
def test_bad_input(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message in str(info.value)


def test_benchmarks_write_their_figures_and_plots(tmp_path):
    wd = _benchmarks.weight_decay(0, grid_points=3, steps=30, progress=False, out=str(tmp_path))
    assert {"best_hparam_hypernet", "best_hparam_grid", "max_curve_gap"} <= wd.keys()
    assert wd["best_hparam_grid"] in wd["grid"] and len(wd["val_loss_hypernet"]) == 3
    many = _benchmarks.many_decays(
        0, steps=10, optimize_steps=3, progress=False, out=str(tmp_path), optuna=False
    )
    assert many["hyperparameters"] == 9 and many["random_search_trials"] >= 1
    assert {
        "best_val_loss_hypernet",
        "best_val_loss_random_search",
        "wall_time_hypernet_s",
        "wall_time_random_search_s",
    } <= many.keys()
    trade = _benchmarks.tradeoff(0, points=3, steps=10, progress=False, out=str(tmp_path))
    assert trade["hypervolume_hypernet"] >= 0 and len(trade["front_hypernet"]) == 3
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "many_decays_search.png",
        "tradeoff_front.png",
        "weight_decay_curve.png",
    ]


def test_hypervolume():
    assert _baselines.hypervolume([(1.0, 1.0)], (2.0, 3.0)) == 2.0
    # A dominated point adds nothing.
    assert _baselines.hypervolume([(1.0, 1.0), (1.5, 1.5)], (2.0, 3.0)) == 2.0
    assert _baselines.hypervolume([(1.0, 2.0), (1.5, 1.0)], (2.0, 3.0)) == 1.0 + 0.5


def test_cli_prints_a_table_and_writes_metrics(tmp_path, capsys, monkeypatch):
    quick = _benchmarks.weight_decay

    def tiny(seed, **kwargs):
        return quick(seed, grid_points=3, steps=20, **kwargs)

    monkeypatch.setitem(_benchmarks.BENCHMARKS, "weight-decay", tiny)
    assert (
        cli.main(
            [
                "sweep",
                "--benchmark",
                "weight-decay",
                "--seed",
                "1",
                "--out",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "one hypernetwork, swept" in out and "largest gap between the validation curves" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["seed"] == 1 and (tmp_path / "weight_decay_curve.png").is_file()


def test_a_loss_that_goes_nan_stops_fit_naming_the_step():
    from hypernetworks.runner import NonFiniteError

    train, _ = _ridge_data()
    hs = HyperSweep(
        nn.Linear(N_FEATURES, 1, bias=False),
        {"lam": LogUniform(1e-3, 10.0)},
        _ridge_loss,
        metric=_mse,
        hidden=(8,),
    )
    with pytest.raises(NonFiniteError, match=r"the loss became (nan|inf) at step \d+"):
        hs.fit(train, steps=50, lr=1e30, progress=False, schedule="constant")


def test_optimize_reports_a_nan_metric_instead_of_blaming_the_range(ridge):
    from hypernetworks.runner import NonFiniteError

    hs, _, val = ridge
    bad = (val[0], val[1] * float("nan"))
    with pytest.raises(NonFiniteError, match="the metric became nan at step 0"):
        hs.optimize(bad, steps=3)


def test_output_scale_starts_as_the_plain_hypernetwork_and_materializes_what_it_binds():
    train, val = _ridge_data()

    def make(scale):
        torch.manual_seed(0)
        return HyperSweep(
            nn.Linear(N_FEATURES, 1),
            {"lam": LogUniform(1e-3, 1.0)},
            _ridge_loss,
            metric=_mse,
            hidden=(8,),
            output_scale=scale,
        )

    plain, scaled = make(False), make(True)
    hp = {"lam": 0.01}
    for name, w in plain.bind(hp).weights.items():  # scale exp(0) = 1 at the start
        assert torch.equal(w, scaled.bind(hp).weights[name])
    scaled.fit(train, steps=30, lr=0.05, draws=4, progress=False)
    assert scaled.scale is not None and scaled.scale.weight.abs().sum() > 0  # it trains
    net = scaled.materialize(hp)
    with torch.no_grad():
        assert torch.allclose(net(val[0]), scaled.bind(hp)(val[0]), atol=1e-6)
    found = scaled.optimize(val, steps=5)  # gradient search runs through the scale too
    assert math.isfinite(found.metric)
    with pytest.raises(TypeError, match="output_scale must be a bool, got int"):
        HyperSweep(nn.Linear(3, 1), {"lam": Uniform(0, 1)}, _ridge_loss, output_scale=1)
