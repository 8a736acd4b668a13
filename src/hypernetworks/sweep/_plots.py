"""The sweep benchmarks' figures: validation curves, search traces and Pareto fronts,
each saved atomically."""

from __future__ import annotations

from ..runner import atomic_write

__all__ = ["plot_curves", "plot_fronts", "plot_search"]


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


def plot_curves(grid, separate, curve, path: str) -> None:
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


def plot_search(budget, hyper_best, trace_rs, trace_tpe, path: str) -> None:
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


def plot_fronts(separate, front, alphas, path: str) -> None:
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
