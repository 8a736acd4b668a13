"""``hypernetworks continual``: the continual-learning benchmarks from the command line."""

from __future__ import annotations

import argparse

from .. import runner
from ._benchmarks import BENCHMARKS, HEADS, ITERATIONS, METHODS

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    runner.add_common_arguments(parser)
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="permuted-digits")
    parser.add_argument(
        "--tasks",
        type=runner.positive_int,
        default=None,
        help="number of tasks (default: 10 permuted, 5 split)",
    )
    parser.add_argument("--method", choices=METHODS, default="hnet")
    parser.add_argument(
        "--iterations",
        type=runner.positive_int,
        default=None,
        help="Adam steps per task (default: "
        + ", ".join(f"{n} {b}" for b, n in ITERATIONS.items())
        + ")",
    )
    parser.add_argument("--batch-size", type=runner.positive_int, default=32)
    parser.add_argument("--lr", type=runner.positive_float, default=1e-3)
    parser.add_argument("--beta", type=float, default=0.01, help="hnet: regulariser weight")
    parser.add_argument(
        "--head",
        choices=HEADS,
        default="full",
        help="hnet: output head; chunked = a compressive hypernetwork with a "
        "frozen base (use e.g. --beta 0.5 --iterations 1500)",
    )
    parser.add_argument("--lookahead", action="store_true", help="hnet: one-step look-ahead")
    parser.add_argument(
        "--replay",
        type=runner.nonnegative_int,
        default=0,
        help="training samples stored per task to train a task classifier for "
        "class-incremental inference (HNET+R-style stored-sample replay; the learner itself "
        "never sees them). Default 0: hnet infers tasks from predictive entropy (HNET+ENT), "
        "the baselines are evaluated with task ids only",
    )
    parser.add_argument("--ewc-strength", type=float, default=10.0, help="ewc: λ (default 10)")


def main(args: argparse.Namespace) -> int:
    from ._benchmarks import hnet_options, target_for
    from ._harness import learn_tasks

    make, default_tasks, _ = BENCHMARKS[args.benchmark]
    num_tasks = args.tasks or default_tasks
    iterations = args.iterations or ITERATIONS[args.benchmark]
    config = {
        "benchmark": args.benchmark,
        "tasks": num_tasks,
        "method": args.method,
        "iterations": iterations,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "replay": args.replay,
    }
    if args.method == "hnet":
        config.update(beta=args.beta, head=args.head, lookahead=args.lookahead)
    if args.method == "ewc":
        config.update(ewc_strength=args.ewc_strength)
    with runner.Run.from_args("continual", args, config) as run:
        try:
            tasks = make(num_tasks, seed=args.seed)
        except ValueError as error:
            raise SystemExit(f"hypernetworks continual: error: {error}") from error
        options = {
            "iterations": iterations,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "replay": args.replay,
        }
        if args.method == "hnet":
            options.update(
                beta=args.beta,
                lookahead=args.lookahead,
                **hnet_options(args.head),
            )
        if args.method == "ewc":
            options.update(strength=args.ewc_strength)
        target = target_for(args.benchmark, seed=args.seed)
        metrics = learn_tasks(tasks, target, args.method, run, **options)
        matrix = metrics["accuracy_matrix"]
        rows = [
            {"after": f"task {i + 1}", **{f"t{j + 1}": 100 * a for j, a in enumerate(row)}}
            for i, row in enumerate(matrix)
        ]
        run.print_table(
            rows,
            [("after", "", "")] + [(f"t{j + 1}", f"t{j + 1}", ".1f") for j in range(num_tasks)],
            title=f"{args.benchmark}, {num_tasks} tasks, method {args.method}, seed "
            f"{args.seed}: test accuracy (%) on each task after task i",
        )
        summary = [
            {"metric": "mean final accuracy (%)", "value": 100 * metrics["mean_accuracy"]},
            {"metric": "mean forgetting (points)", "value": 100 * metrics["mean_forgetting"]},
            {"metric": "trainable / target parameters", "value": metrics["param_ratio"]},
            {"metric": "training time (s)", "value": metrics["seconds"]},
        ]
        if "class_incremental" in metrics:
            ci = metrics["class_incremental"]
            summary += [
                {"metric": "class-incremental accuracy (%)", "value": 100 * ci["accuracy"]},
                {
                    "metric": "task inferred correctly (%)",
                    "value": 100 * ci["task_inference_accuracy"],
                },
            ]
        run.print_table(summary, [("metric", "", ""), ("value", "value", ".2f")], title="")
        if run.out is not None:
            print(f"\nwrote {run.out}/metrics.json, accuracy_matrix.png, checkpoint.pt")
    return 0
