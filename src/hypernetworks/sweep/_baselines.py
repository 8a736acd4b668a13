"""The sweep benchmarks' baselines: a model trained separately for one setting (Adam, or
L-BFGS to the optimum of a convex problem), the best-so-far record of a search under a
wall-clock budget, Optuna's TPE (if installed), and the hypervolume of a front."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._priors import LogUniform

__all__ = [
    "BASELINE_LR",
    "BASELINE_STEPS",
    "BestSoFar",
    "cross_entropy",
    "fit_exactly",
    "hypervolume",
    "loss_of",
    "optuna_search",
    "train_separately",
]

BASELINE_STEPS = 1500  # full-batch Adam steps for every separately trained model
BASELINE_LR = 0.01


def cross_entropy(net: Callable, batch: tuple) -> Tensor:
    return F.cross_entropy(net(batch[0]), batch[1])


def objective(
    net: nn.Module, penalty: Callable[[nn.Module], Tensor], data: dict[str, Tensor]
) -> Tensor:
    """A baseline's training loss: full-batch cross-entropy plus the setting's penalty."""
    return F.cross_entropy(net(data["x_train"]), data["y_train"]) + penalty(net)


def train_separately(
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
        loss = objective(net, penalty, data)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


def fit_exactly(
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
        loss = objective(net, penalty, data)
        loss.backward()
        return loss

    opt.step(closure)
    return net


def loss_of(net: Callable, data: dict[str, Tensor], split: str) -> float:
    with torch.no_grad():
        return cross_entropy(net, (data[f"x_{split}"], data[f"y_{split}"])).item()


class BestSoFar:
    """A search's record: the best validation loss (and that model's test loss) so far,
    and ``(seconds since start, best so far)`` after every trial."""

    def __init__(self, data: dict[str, Tensor]) -> None:
        self.data, self.start = data, time.perf_counter()
        self.val, self.test = math.inf, math.inf
        self.trace: list[tuple[float, float]] = []

    def add(self, net: nn.Module) -> float:
        val = loss_of(net, self.data, "val")
        if val < self.val:
            self.val, self.test = val, loss_of(net, self.data, "test")
        self.trace.append((self.elapsed(), self.val))
        return val

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def optuna_search(
    priors: dict[str, LogUniform], trial: Callable, data: dict, budget: float, seed: int
) -> dict | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    best = BestSoFar(data)

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


def hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (both objectives minimised) up to ``reference``."""
    area, best_y = 0.0, reference[1]
    for x, y in sorted(points):
        if y < best_y and x < reference[0]:
            area += (reference[0] - x) * (best_y - y)
            best_y = y
    return area
