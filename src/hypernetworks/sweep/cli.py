"""``hypernetworks sweep``: run one of the sweep benchmarks and print its results table."""

from __future__ import annotations

import argparse

from .. import runner
from ..runner import format_table

__all__ = ["add_arguments", "main"]

BENCHMARK_NAMES = ("weight-decay", "many-decays", "tradeoff")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    runner.add_common_arguments(parser)
    parser.add_argument(
        "--benchmark",
        required=True,
        choices=BENCHMARK_NAMES,
        help="weight-decay: one hyperparameter vs a grid of separate models; "
        "many-decays: 9 decays, optimize() vs random search and TPE; "
        "tradeoff: cross-entropy vs L1 Pareto front",
    )
    parser.add_argument(
        "--no-optuna",
        action="store_true",
        help="many-decays: skip Optuna's TPE baseline even if installed",
    )


def main(args: argparse.Namespace) -> int:
    from ._benchmarks import BENCHMARKS

    config = {"benchmark": args.benchmark, "optuna": not args.no_optuna}
    with runner.Run.from_args("sweep", args, config) as run:
        if run.resumed is not None:  # the benchmark finished before: report it again
            metrics = dict(run.resumed["metrics"])
        else:
            kwargs: dict = {
                "progress": run.show_progress,
                "out": None if run.out is None else str(run.out),
            }
            if args.benchmark == "many-decays":
                kwargs["optuna"] = not args.no_optuna
            metrics = BENCHMARKS[args.benchmark](args.seed, **kwargs)
            run.save_checkpoint({"metrics": metrics})
        print(_table(metrics))
        path = run.write_metrics(metrics)
        if path is not None:
            print(f"\nwrote {path} and plots in {run.out}")
    return 0


def _table(m: dict) -> str:
    columns = [("method", "method", ""), ("value", "result", ""), ("time", "wall time (s)", ".1f")]
    if m["benchmark"] == "weight-decay":
        rows = [
            {
                "method": "separately trained, one per grid point (L-BFGS)",
                "value": f"best weight decay {m['best_hparam_grid']:.2e}",
                "time": m["wall_time_grid_s"],
            },
            {
                "method": "one hypernetwork, swept",
                "value": f"best weight decay {m['best_hparam_hypernet']:.2e}",
                "time": m["wall_time_hypernet_s"],
            },
        ]
        note = (
            f"largest gap between the validation curves: {m['max_curve_gap']:.4f}; "
            f"same best value: {'yes' if m['same_best'] else 'no'} "
            f"(regret of the hypernetwork's pick: {m['regret_of_hypernet_pick']:.4f}; "
            f"within the grid's noise, {m['grid_noise_at_pick']:.4f}: "
            f"{'yes' if m['pick_within_noise'] else 'no'})"
        )
    elif m["benchmark"] == "many-decays":
        rows = [
            {
                "method": "hypernetwork + optimize()",
                "value": f"val {m['best_val_loss_hypernet']:.4f}, "
                f"test {m['test_loss_hypernet']:.4f}",
                "time": m["wall_time_hypernet_s"],
            },
            {
                "method": f"random search ({m['random_search_trials']} models)",
                "value": f"val {m['best_val_loss_random_search']:.4f}, "
                f"test {m['test_loss_random_search']:.4f}",
                "time": m["wall_time_random_search_s"],
            },
        ]
        if "best_val_loss_optuna_tpe" in m:
            rows.append(
                {
                    "method": f"Optuna TPE ({m['optuna_tpe_trials']} models)",
                    "value": f"val {m['best_val_loss_optuna_tpe']:.4f}, "
                    f"test {m['test_loss_optuna_tpe']:.4f}",
                    "time": m["wall_time_optuna_tpe_s"],
                }
            )
        note = (
            "validation cross-entropy of the best setting found; a model trained "
            f"separately at the hypernetwork's setting: "
            f"{m['val_loss_retrained_at_hypernet_best']:.4f}"
        )
    else:
        rows = [
            {
                "method": f"separately trained ({len(m['alphas'])} models)",
                "value": f"hypervolume {m['hypervolume_separate']:.2f}",
                "time": m["wall_time_separate_s"],
            },
            {
                "method": "one hypernetwork",
                "value": f"hypervolume {m['hypervolume_hypernet']:.2f}",
                "time": m["wall_time_hypernet_s"],
            },
        ]
        note = (
            "front: (validation cross-entropy, L1 norm), both minimised; largest gap in "
            f"validation cross-entropy at the same α: {m['max_val_loss_gap']:.4f}"
        )
    return f"{format_table(rows, columns)}\n{note}"
