"""The three sweep benchmarks on scikit-learn's digits, each beside its baseline.

* ``weight_decay`` — one hyperparameter: the hypernetwork's validation curve over L2
  weight decay against separately trained models on the same grid.
* ``many_decays`` — eight hyperparameters (one weight decay per row of the 8×8 image):
  ``optimize()`` against random search (and Optuna's TPE, if installed) with separately
  trained models under the same wall-clock budget.
* ``tradeoff`` — cross-entropy against an L1 penalty: the Pareto front from one training
  against separately trained points.

Every function returns a dict of JSON-ready figures; the CLI prints and saves them.
"""

from __future__ import annotations

import functools
import math
import operator
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..datasets import digits_splits
from ._baselines import (
    BestSoFar,
    cross_entropy,
    fit_exactly,
    hypervolume,
    loss_of,
    optuna_search,
    train_separately,
)
from ._plots import plot_curves, plot_fronts, plot_search
from ._priors import LogUniform
from ._sweep import HyperSweep

__all__ = ["BENCHMARKS", "many_decays", "tradeoff", "weight_decay"]


# -- one hyperparameter ----------------------------------------------------------------
def weight_decay(
    seed: int = 0,
    *,
    grid_points: int = 13,
    steps: int = 4000,
    draws: int = 8,
    lr: float = 0.01,
    endpoint_mass: float = 0.1,
    hidden: tuple = (32, 32),
    progress: bool = True,
    out: str | None = None,
) -> dict:
    """Softmax regression on digits; L2 weight decay in [1e-4, 1]."""
    data = digits_splits(seed)
    grid = np.logspace(-4, 0, grid_points).tolist()

    def l2(params: dict[str, Tensor]) -> Tensor:
        return params["weight"].pow(2).sum()

    def loss(net, batch, hp):
        return cross_entropy(net, batch) + hp["weight_decay"] * l2(net.params)

    start = time.perf_counter()
    separate, per_sample = [], []
    for wd in grid:

        def decay(m: nn.Module, wd: float = wd) -> Tensor:
            return wd * l2(dict(m.named_parameters()))

        net = fit_exactly(lambda: nn.Linear(64, 10), decay, data, seed)
        separate.append(loss_of(net, data, "val"))
        with torch.no_grad():
            per_sample.append(F.cross_entropy(net(data["x_val"]), data["y_val"], reduction="none"))
    time_grid = time.perf_counter() - start

    start = time.perf_counter()
    torch.manual_seed(seed)
    prior = LogUniform(1e-4, 1.0, endpoint_mass=endpoint_mass)
    hs = HyperSweep(
        nn.Linear(64, 10), {"weight_decay": prior}, loss, metric=cross_entropy, hidden=hidden
    )
    hs.fit(
        (data["x_train"], data["y_train"]),
        steps=steps,
        lr=lr,
        draws=draws,
        seed=seed,
        progress=progress,
    )
    curve = [r["metric"] for r in hs.sweep({"weight_decay": grid}, (data["x_val"], data["y_val"]))]
    time_hyper = time.perf_counter() - start

    best_h, best_g = grid[int(np.argmin(curve))], grid[int(np.argmin(separate))]
    # The grid's noise: the standard error of the validation loss difference between the
    # hypernetwork's pick and the best grid point, paired over validation samples.
    diff = per_sample[grid.index(best_h)] - per_sample[grid.index(best_g)]
    noise = float(diff.std() / math.sqrt(len(diff))) if best_h != best_g else 0.0
    regret = separate[grid.index(best_h)] - min(separate)
    metrics = {
        "benchmark": "weight-decay",
        "seed": seed,
        "grid": grid,
        "val_loss_grid": separate,
        "val_loss_hypernet": curve,
        "best_hparam_hypernet": best_h,
        "best_hparam_grid": best_g,
        "same_best": best_h == best_g,
        # How much worse, on the separately trained curve, the hypernetwork's pick is.
        "regret_of_hypernet_pick": regret,
        "grid_noise_at_pick": noise,
        "pick_within_noise": regret <= noise,
        "max_curve_gap": max(abs(a - b) for a, b in zip(curve, separate, strict=True)),
        "wall_time_hypernet_s": time_hyper,
        "wall_time_grid_s": time_grid,
        "hypernet_steps": steps,
        "draws_per_step": draws,
        "baseline": "L-BFGS to convergence, one model per grid point",
    }
    if out is not None:
        plot_curves(grid, separate, curve, f"{out}/weight_decay_curve.png")
    return metrics


# -- many hyperparameters --------------------------------------------------------------
def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def many_decays(
    seed: int = 0,
    *,
    steps: int = 2000,
    draws: int = 8,
    optimize_steps: int = 200,
    lr: float = 0.01,
    hidden: tuple = (64, 64),
    progress: bool = True,
    out: str | None = None,
    optuna: bool = True,
) -> dict:
    """An MLP 64-32-10 on digits with nine weight decays, each in [1e-5, 1]: one for the
    first layer's weights from each row of the 8×8 image, one for the output layer.
    ``optimize()`` against random search and TPE (if installed) with separately trained
    models under the same wall-clock budget."""
    data = digits_splits(seed)
    rows = torch.arange(64) // 8  # input pixel -> image row
    priors = {"rows": LogUniform(1e-5, 1.0, size=8), "output": LogUniform(1e-5, 1.0)}

    def penalty(params: dict[str, Tensor], row_decays: Tensor, output: Tensor) -> Tensor:
        first = (params["0.weight"].pow(2).sum(0) * row_decays[rows]).sum()
        return first + output * params["2.weight"].pow(2).sum()

    def loss(net, batch, hp):
        return cross_entropy(net, batch) + penalty(net.params, hp["rows"], hp["output"])

    def trial(flat: Tensor) -> nn.Module:
        flat = flat.float()
        return train_separately(
            _mlp, lambda m: penalty(dict(m.named_parameters()), flat[:8], flat[8]), data, seed
        )

    start = time.perf_counter()
    torch.manual_seed(seed)
    hs = HyperSweep(_mlp(), priors, loss, metric=cross_entropy, hidden=hidden)
    hs.fit(
        (data["x_train"], data["y_train"]),
        steps=steps,
        lr=lr,
        draws=draws,
        seed=seed,
        progress=progress,
    )
    found = hs.optimize((data["x_val"], data["y_val"]), steps=optimize_steps, lr=0.1)
    budget = time.perf_counter() - start
    chosen = hs.materialize(found.hparams)
    best_rows, best_output = found.hparams["rows"], found.hparams["output"]
    if not (isinstance(best_rows, list) and isinstance(best_output, float)):
        raise TypeError(f"expected a vector 'rows' and a scalar 'output', got {found.hparams}")
    best_flat = torch.tensor(best_rows + [best_output])

    generator = torch.Generator().manual_seed(seed)
    random_search = BestSoFar(data)
    while random_search.elapsed() < budget:
        random_search.add(trial(hs.sample(1, generator)[0]))
    time_rs = random_search.elapsed()

    metrics = {
        "benchmark": "many-decays",
        "seed": seed,
        "hyperparameters": hs.width,
        "best_val_loss_hypernet": found.metric,
        "test_loss_hypernet": loss_of(chosen, data, "test"),
        "val_loss_retrained_at_hypernet_best": loss_of(trial(best_flat), data, "val"),
        "best_hparams_hypernet": found.hparams,
        "wall_time_hypernet_s": budget,
        "best_val_loss_random_search": random_search.val,
        "test_loss_random_search": random_search.test,
        "wall_time_random_search_s": time_rs,
        "random_search_trials": len(random_search.trace),
    }
    trace_tpe = None
    if optuna:
        tpe = optuna_search(priors, trial, data, budget, seed)
        if tpe is not None:
            trace_tpe = tpe.pop("trace")
            metrics.update(tpe)
    if out is not None:
        plot_search(
            budget, found.metric, random_search.trace, trace_tpe, f"{out}/many_decays_search.png"
        )
    return metrics


# -- trade-off of two loss terms -------------------------------------------------------
def tradeoff(
    seed: int = 0,
    *,
    points: int = 10,
    steps: int = 3000,
    draws: int = 1,
    lr: float = 0.01,
    hidden: tuple = (64, 64),
    endpoint_mass: float = 0.0,
    output_scale: bool = False,
    schedule: str = "cosine",
    mip: bool = True,
    log_loss: bool = False,
    low: float = 1e-5,
    high: float = 1e-2,
    progress: bool = True,
    out: str | None = None,
) -> dict:
    """An MLP 64-32-10 on digits, loss = cross-entropy + α·L1(weights), α in [1e-5, 1e-2]:
    the front (validation cross-entropy, L1 norm) from one hypernetwork against
    separately trained points.

    ``endpoint_mass``, ``output_scale``, ``schedule``, ``mip``, ``hidden`` and ``log_loss``
    (train on log(loss), the same minimiser for every α) are the remedies tried on the
    development seeds (docs/benchmarks.md, section 6); the defaults are the published run."""
    data = digits_splits(seed)
    alphas = np.logspace(math.log10(low), math.log10(high), points).tolist()

    def l1(params: dict[str, Tensor]) -> Tensor:
        terms = [p.abs().sum() for name, p in params.items() if name.endswith("weight")]
        return functools.reduce(operator.add, terms)

    def loss(net, batch, hp):
        value = cross_entropy(net, batch) + hp["alpha"] * l1(net.params)
        # log(loss) has the same minimiser for every α, and its gradient, ∇loss / loss,
        # keeps the same size whether the loss is 1e-3 (small α) or 1 (large α).
        return value.log() if log_loss else value

    start = time.perf_counter()
    separate: list[tuple[float, float]] = []
    for alpha in alphas:

        def scaled_l1(m: nn.Module, a: float = alpha) -> Tensor:
            return a * l1(dict(m.named_parameters()))

        net = train_separately(_mlp, scaled_l1, data, seed)
        with torch.no_grad():
            norm = float(l1(dict(net.named_parameters())))
        separate.append((loss_of(net, data, "val"), norm))
    time_sep = time.perf_counter() - start

    start = time.perf_counter()
    torch.manual_seed(seed)
    hs = HyperSweep(
        _mlp(),
        {"alpha": LogUniform(low, high, endpoint_mass=endpoint_mass)},
        loss,
        metric=cross_entropy,
        hidden=hidden,
        mip=mip,
        output_scale=output_scale,
    )
    hs.fit(
        (data["x_train"], data["y_train"]),
        steps=steps,
        lr=lr,
        draws=draws,
        schedule=schedule,
        seed=seed,
        progress=progress,
    )
    front: list[tuple[float, float]] = []
    with torch.no_grad():
        for alpha in alphas:
            bound = hs.bind({"alpha": alpha})
            front.append((loss_of(bound, data, "val"), float(l1(bound.params))))
    time_hyper = time.perf_counter() - start

    both = separate + front
    reference = (max(p[0] for p in both) * 1.05, max(p[1] for p in both) * 1.05)
    metrics = {
        "benchmark": "tradeoff",
        "seed": seed,
        "alphas": alphas,
        "front_separate": [list(p) for p in separate],
        "front_hypernet": [list(p) for p in front],
        "hypervolume_separate": hypervolume(separate, reference),
        "hypervolume_hypernet": hypervolume(front, reference),
        "max_val_loss_gap": max(abs(a[0] - b[0]) for a, b in zip(front, separate, strict=True)),
        "max_l1_relative_gap": max(
            abs(a[1] - b[1]) / b[1] for a, b in zip(front, separate, strict=True)
        ),
        "wall_time_hypernet_s": time_hyper,
        "wall_time_separate_s": time_sep,
    }
    if out is not None:
        plot_fronts(separate, front, alphas, f"{out}/tradeoff_front.png")
    return metrics


def _isolated(benchmark: Callable[..., dict]) -> Callable[..., dict]:
    """Run ``benchmark`` on a forked random state: it seeds torch itself, and the
    caller's global state is left as it was."""

    @functools.wraps(benchmark)
    def run(*args, **kwargs) -> dict:
        with torch.random.fork_rng(devices=[]):
            return benchmark(*args, **kwargs)

    return run


weight_decay = _isolated(weight_decay)
many_decays = _isolated(many_decays)
tradeoff = _isolated(tradeoff)

BENCHMARKS: dict[str, Callable[..., dict]] = {
    "weight-decay": weight_decay,
    "many-decays": many_decays,
    "tradeoff": tradeoff,
}
