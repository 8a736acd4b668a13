"""``hypernetworks federated``: one federated method on MNIST-5k or digits, local or on Flower.

Example:
    hypernetworks federated --method pfedhn --clients 50 --rounds 100 \\
        --partition pathological --seed 0 --engine local --out runs/pfedhn
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .. import runner

if TYPE_CHECKING:
    from ._simulate import FederatedResult

__all__ = ["add_arguments", "main"]

METHOD_NAMES = ("pfedhn", "pfedhn-pc", "pefll", "hyperfl", "fedavg", "fedavg-ft", "local")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The federated recipe's flags (plus the common ones)."""
    runner.add_common_arguments(parser)
    parser.add_argument(
        "--benchmark",
        choices=["mnist", "digits"],
        default="mnist",
        help="data set split among the clients (default mnist: MNIST-5k)",
    )
    parser.add_argument("--method", choices=METHOD_NAMES, default="pfedhn")
    parser.add_argument(
        "--clients",
        type=runner.positive_int,
        default=50,
        help="clients in all; 20%% are held out as new clients (default 50)",
    )
    parser.add_argument(
        "--rounds", type=runner.positive_int, default=100, help="rounds (default 100)"
    )
    parser.add_argument(
        "--partition", choices=["pathological", "dirichlet"], default="pathological"
    )
    parser.add_argument(
        "--alpha",
        type=runner.positive_float,
        default=0.5,
        help="Dirichlet concentration (default 0.5)",
    )
    parser.add_argument(
        "--engine",
        choices=["local", "flower"],
        default="local",
        help="local: in-process; flower: Flower's simulation engine (Ray)",
    )
    parser.add_argument("--clients-per-round", type=runner.positive_int, default=10)
    parser.add_argument("--local-steps", type=runner.positive_int, default=20)
    parser.add_argument(
        "--eval-every",
        type=runner.positive_int,
        default=10,
        help="evaluate every client every this many rounds (default 10)",
    )


def main(args: argparse.Namespace) -> int:
    """Run the benchmark, print the final table, write metrics.json and the plots."""
    from ._benchmarks import run_benchmark

    if args.resume and args.engine == "flower":
        raise runner.CheckpointError(
            "--resume works with --engine local only; Flower runs keep no checkpoints"
        )
    settings = {
        "clients_per_round": args.clients_per_round,
        "local_steps": args.local_steps,
        "eval_every": min(args.eval_every, args.rounds),
    }
    config = {
        "benchmark": args.benchmark,
        "method": args.method,
        "clients": args.clients,
        "rounds": args.rounds,
        "partition": args.partition,
        "alpha": args.alpha,
        "engine": args.engine,
        **settings,
    }
    with runner.Run.from_args("federated", args, config) as run:
        result, _ = run_benchmark(
            run,
            benchmark=args.benchmark,
            method=args.method,
            clients=args.clients,
            rounds=args.rounds,
            partition=args.partition,
            alpha=args.alpha,
            engine=args.engine,
            settings=settings,
        )
        metrics = {
            "method": result.method,
            "rounds": args.rounds,
            "mean_client_accuracy": result.mean_client_accuracy,
            "client_accuracies": result.client_accuracies,
            "new_client_accuracy": result.new_client_accuracy,
            "new_client_accuracies": result.new_client_accuracies,
            "history": [
                {"round": h["round"], "mean_client_accuracy": h["mean_client_accuracy"]}
                for h in result.history
            ],
            "seconds": result.seconds,
        }
        rows = [
            {
                "what": "training clients (mean)",
                "n": len(result.client_accuracies),
                "acc": result.mean_client_accuracy,
            },
            {"what": "worst training client", "n": 1, "acc": min(result.client_accuracies)},
        ]
        if result.new_client_accuracies:
            rows.append(
                {
                    "what": "new clients (mean)",
                    "n": len(result.new_client_accuracies),
                    "acc": result.new_client_accuracy,
                }
            )
        run.print_table(
            rows,
            [
                ("what", f"{result.method}, {args.rounds} rounds", ""),
                ("n", "clients", "d"),
                ("acc", "test accuracy", ".4f"),
            ],
            title=f"federated {args.benchmark}, {args.partition}, seed {args.seed}, "
            f"{result.seconds:.1f} s",
        )
        if run.out is not None:
            _plots(run, result, args)
        run.write_metrics(metrics)
    return 0


def _plots(run: runner.Run, result: FederatedResult, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [int(h["round"]) for h in result.history]  # type: ignore[call-overload]
    means = [float(h["mean_client_accuracy"]) for h in result.history]  # type: ignore[arg-type]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(rounds, means, marker="o")
    ax.set(
        xlabel="round",
        ylabel="mean client test accuracy",
        title=f"{args.method}: accuracy per round",
        ylim=(0, 1.02),
    )
    if result.new_client_accuracy is not None:
        ax.plot(
            [rounds[-1]],
            [result.new_client_accuracy],
            "s",
            color="tab:orange",
            label="new clients (one forward pass)",
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    run.save_figure(fig, "accuracy_per_round.png")
    accs = result.client_accuracies
    new = result.new_client_accuracies or []
    fig, ax = plt.subplots(figsize=(max(5.0, 0.15 * (len(accs) + len(new))), 3.2))
    ax.bar(range(len(accs)), accs, label="training clients")
    if new:
        ax.bar(range(len(accs), len(accs) + len(new)), new, color="tab:orange", label="new clients")
    ax.set(
        xlabel="client",
        ylabel="test accuracy",
        ylim=(0, 1),
        title=f"{args.method}: accuracy per client",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    run.save_figure(fig, "accuracy_per_client.png")
