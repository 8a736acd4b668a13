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
from ..runner import atomic_write
from ._priors import LogUniform
from ._sweep import HyperSweep

__all__ = ["BENCHMARKS", "many_decays", "tradeoff", "weight_decay"]

BASELINE_STEPS = 1500  # full-batch Adam steps for every separately trained model
BASELINE_LR = 0.01


def _cross_entropy(net: Callable, batch: tuple) -> Tensor:
    return F.cross_entropy(net(batch[0]), batch[1])


def _objective(
    net: nn.Module, penalty: Callable[[nn.Module], Tensor], data: dict[str, Tensor]
) -> Tensor:
    """A baseline's training loss: full-batch cross-entropy plus the setting's penalty."""
    return F.cross_entropy(net(data["x_train"]), data["y_train"]) + penalty(net)


def _train_separately(
    make: Callable[[], nn.Module],
    penalty: Callable[[nn.Module], Tensor],
    data: dict[str, Tensor],
    seed: int,
) -> nn.Module:
    """The baseline: one model trained for one setting (full batch, Adam)."""
    torch.manual_seed(seed)
    net = make()
    opt = torch.optim.Adam(net.parameters(), lr=BASELINE_LR)
    for _ in range(BASELINE_STEPS):
        loss = _objective(net, penalty, data)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


def _fit_exactly(
    make: Callable[[], nn.Module],
    penalty: Callable[[nn.Module], Tensor],
    data: dict[str, Tensor],
    seed: int,
) -> nn.Module:
    """The baseline for a convex problem: full-batch L-BFGS to convergence (the unique
    optimum of softmax regression with an L2 penalty, as scikit-learn would find it)."""
    torch.manual_seed(seed)
    net = make()
    opt = torch.optim.LBFGS(
        net.parameters(),
        lr=1,
        max_iter=1000,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        loss = _objective(net, penalty, data)
        loss.backward()
        return loss

    opt.step(closure)
    return net


def _loss_of(net: Callable, data: dict[str, Tensor], split: str) -> float:
    with torch.no_grad():
        return _cross_entropy(net, (data[f"x_{split}"], data[f"y_{split}"])).item()


class _BestSoFar:
    """A search's record: the best validation loss (and that model's test loss) so far,
    and ``(seconds since start, best so far)`` after every trial."""

    def __init__(self, data: dict[str, Tensor]) -> None:
        self.data, self.start = data, time.perf_counter()
        self.val, self.test = math.inf, math.inf
        self.trace: list[tuple[float, float]] = []

    def add(self, net: nn.Module) -> float:
        val = _loss_of(net, self.data, "val")
        if val < self.val:
            self.val, self.test = val, _loss_of(net, self.data, "test")
        self.trace.append((self.elapsed(), self.val))
        return val

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


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
        return _cross_entropy(net, batch) + hp["weight_decay"] * l2(net.params)

    start = time.perf_counter()
    separate, per_sample = [], []
    for wd in grid:

        def decay(m: nn.Module, wd: float = wd) -> Tensor:
            return wd * l2(dict(m.named_parameters()))

        net = _fit_exactly(lambda: nn.Linear(64, 10), decay, data, seed)
        separate.append(_loss_of(net, data, "val"))
        with torch.no_grad():
            per_sample.append(F.cross_entropy(net(data["x_val"]), data["y_val"], reduction="none"))
    time_grid = time.perf_counter() - start

    start = time.perf_counter()
    torch.manual_seed(seed)
    prior = LogUniform(1e-4, 1.0, endpoint_mass=endpoint_mass)
    hs = HyperSweep(
        nn.Linear(64, 10), {"weight_decay": prior}, loss, metric=_cross_entropy, hidden=hidden
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
        _plot_curves(grid, separate, curve, f"{out}/weight_decay_curve.png")
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
        return _cross_entropy(net, batch) + penalty(net.params, hp["rows"], hp["output"])

    def trial(flat: Tensor) -> nn.Module:
        flat = flat.float()
        return _train_separately(
            _mlp, lambda m: penalty(dict(m.named_parameters()), flat[:8], flat[8]), data, seed
        )

    start = time.perf_counter()
    torch.manual_seed(seed)
    hs = HyperSweep(_mlp(), priors, loss, metric=_cross_entropy, hidden=hidden)
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
    random_search = _BestSoFar(data)
    while random_search.elapsed() < budget:
        random_search.add(trial(hs.sample(1, generator)[0]))
    time_rs = random_search.elapsed()

    metrics = {
        "benchmark": "many-decays",
        "seed": seed,
        "hyperparameters": hs.width,
        "best_val_loss_hypernet": found.metric,
        "test_loss_hypernet": _loss_of(chosen, data, "test"),
        "val_loss_retrained_at_hypernet_best": _loss_of(trial(best_flat), data, "val"),
        "best_hparams_hypernet": found.hparams,
        "wall_time_hypernet_s": budget,
        "best_val_loss_random_search": random_search.val,
        "test_loss_random_search": random_search.test,
        "wall_time_random_search_s": time_rs,
        "random_search_trials": len(random_search.trace),
    }
    trace_tpe = None
    if optuna:
        tpe = _optuna_search(priors, trial, data, budget, seed)
        if tpe is not None:
            trace_tpe = tpe.pop("trace")
            metrics.update(tpe)
    if out is not None:
        _plot_search(
            budget, found.metric, random_search.trace, trace_tpe, f"{out}/many_decays_search.png"
        )
    return metrics


def _optuna_search(
    priors: dict[str, LogUniform], trial: Callable, data: dict, budget: float, seed: int
) -> dict | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    best = _BestSoFar(data)

    def objective(t) -> float:
        values = [
            t.suggest_float(f"{name}{i}", p.low, p.high, log=True)
            for name, p in priors.items()
            for i in range(p.width)
        ]
        return best.add(trial(torch.tensor(values, dtype=torch.float64)))

    while best.elapsed() < budget:
        study.optimize(objective, n_trials=1)
    return {
        "best_val_loss_optuna_tpe": best.val,
        "test_loss_optuna_tpe": best.test,
        "wall_time_optuna_tpe_s": best.elapsed(),
        "optuna_tpe_trials": len(best.trace),
        "trace": best.trace,
    }


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
        value = _cross_entropy(net, batch) + hp["alpha"] * l1(net.params)
        # log(loss) has the same minimiser for every α, and its gradient, ∇loss / loss,
        # keeps the same size whether the loss is 1e-3 (small α) or 1 (large α).
        return value.log() if log_loss else value

    start = time.perf_counter()
    separate: list[tuple[float, float]] = []
    for alpha in alphas:

        def scaled_l1(m: nn.Module, a: float = alpha) -> Tensor:
            return a * l1(dict(m.named_parameters()))

        net = _train_separately(_mlp, scaled_l1, data, seed)
        with torch.no_grad():
            norm = float(l1(dict(net.named_parameters())))
        separate.append((_loss_of(net, data, "val"), norm))
    time_sep = time.perf_counter() - start

    start = time.perf_counter()
    torch.manual_seed(seed)
    hs = HyperSweep(
        _mlp(),
        {"alpha": LogUniform(low, high, endpoint_mass=endpoint_mass)},
        loss,
        metric=_cross_entropy,
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
            front.append((_loss_of(bound, data, "val"), float(l1(bound.params))))
    time_hyper = time.perf_counter() - start

    both = separate + front
    reference = (max(p[0] for p in both) * 1.05, max(p[1] for p in both) * 1.05)
    metrics = {
        "benchmark": "tradeoff",
        "seed": seed,
        "alphas": alphas,
        "front_separate": [list(p) for p in separate],
        "front_hypernet": [list(p) for p in front],
        "hypervolume_separate": _hypervolume(separate, reference),
        "hypervolume_hypernet": _hypervolume(front, reference),
        "max_val_loss_gap": max(abs(a[0] - b[0]) for a, b in zip(front, separate, strict=True)),
        "max_l1_relative_gap": max(
            abs(a[1] - b[1]) / b[1] for a, b in zip(front, separate, strict=True)
        ),
        "wall_time_hypernet_s": time_hyper,
        "wall_time_separate_s": time_sep,
    }
    if out is not None:
        _plot_fronts(separate, front, alphas, f"{out}/tradeoff_front.png")
    return metrics


def _hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (both objectives minimised) up to ``reference``."""
    area, best_y = 0.0, reference[1]
    for x, y in sorted(points):
        if y < best_y and x < reference[0]:
            area += (reference[0] - x) * (best_y - y)
            best_y = y
    return area


# -- plots -----------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> None:
    """Save a figure atomically (temp file, fsync, rename) and close it."""
    fig.tight_layout()
    try:
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    finally:
        _pyplot().close(fig)


def _plot_curves(grid, separate, curve, path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(grid, separate, "o", label="separately trained (one model per point)")
    ax.plot(grid, curve, "-", label="one hypernetwork")
    ax.set_xscale("log")
    ax.set_xlabel("L2 weight decay")
    ax.set_ylabel("validation cross-entropy")
    ax.set_title("Digits, softmax regression")
    ax.legend()
    _save(fig, path)


def _plot_search(budget, hyper_best, trace_rs, trace_tpe, path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.step(*zip(*trace_rs, strict=True), where="post", label="random search")
    if trace_tpe:
        ax.step(*zip(*trace_tpe, strict=True), where="post", label="Optuna TPE")
    ax.plot([budget], [hyper_best], "*", markersize=12, label="hypernetwork + optimize()")
    ax.set_xlabel("wall-clock (s)")
    ax.set_ylabel("best validation cross-entropy")
    ax.set_title("9 weight decays (MLP on digits)")
    ax.legend()
    _save(fig, path)


def _plot_fronts(separate, front, alphas, path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(
        [p[1] for p in separate],
        [p[0] for p in separate],
        "o",
        label="separately trained (one model per α)",
    )
    ax.plot([p[1] for p in front], [p[0] for p in front], "-x", label="one hypernetwork")
    ax.set_xscale("log")
    ax.set_xlabel("L1 norm of the weights")
    ax.set_ylabel("validation cross-entropy")
    ax.set_title(f"Trade-off, α in [{alphas[0]:g}, {alphas[-1]:g}]")
    ax.legend()
    _save(fig, path)


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
