"""``hypernetworks continual``: the continual-learning benchmarks from the command line."""

from __future__ import annotations

import argparse

from torch import nn

BENCHMARKS = ("permuted-digits", "split-digits")
METHODS = ("hnet", "finetune", "ewc", "joint")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", choices=BENCHMARKS, default="permuted-digits")
    parser.add_argument("--tasks", type=int, default=None,
                        help="number of tasks (default: 10 permuted, 5 split)")
    parser.add_argument("--method", choices=METHODS, default="hnet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=200, help="Adam steps per task")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=0.01, help="hnet: regulariser weight")
    parser.add_argument("--head", choices=("full", "chunked", "lowrank"), default="full",
                        help="hnet: output head; chunked = a compressive hypernetwork with a "
                             "frozen base (use e.g. --beta 0.5 --iterations 1500)")
    parser.add_argument("--lookahead", action="store_true", help="hnet: one-step look-ahead")
    parser.add_argument("--ewc-strength", type=float, default=10.0, help="ewc: λ (default 10)")
    parser.add_argument("--out", default=None, help="folder for metrics, plot and checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--no-progress", action="store_true")


def target_for(benchmark: str) -> nn.Module:
    """MLP 64-100-100-k: k = 10 (permuted digits) or a shared 2-unit head (split digits)."""
    outputs = 10 if benchmark == "permuted-digits" else 2
    return nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                         nn.Linear(100, outputs))


def hnet_options(args: argparse.Namespace) -> dict:
    from .. import Chunked, LowRank

    if args.head == "chunked":  # compressive: 0.58× the target's trainable parameters
        return {"head": Chunked(chunk_size=512, embedding_dim=16, hidden=16), "hidden": (32,),
                "embedding_dim": 16, "train_base": False}
    if args.head == "lowrank":
        return {"head": LowRank(rank=8), "hidden": (64,)}
    return {}


def main(args: argparse.Namespace) -> int:
    import torch

    from .. import runner
    from ._data import permuted_digits, split_digits
    from ._harness import run

    # One thread: with two, some CPU kernels made per-sample training differ run to run.
    torch.set_num_threads(1)
    if args.resume and args.out is None:
        raise SystemExit("--resume needs --out, the folder holding checkpoint.pt")
    make = permuted_digits if args.benchmark == "permuted-digits" else split_digits
    num_tasks = args.tasks or (10 if args.benchmark == "permuted-digits" else 5)
    try:
        tasks = make(num_tasks, seed=args.seed)
    except ValueError as error:
        raise SystemExit(str(error)) from error
    options = {"iterations": args.iterations, "batch_size": args.batch_size, "lr": args.lr}
    if args.method == "hnet":
        options.update(beta=args.beta, lookahead=args.lookahead, **hnet_options(args))
    if args.method == "ewc":
        options.update(strength=args.ewc_strength)
    metrics = run(tasks, target_for(args.benchmark), args.method, out=args.out,
                  resume=args.resume, progress=not args.no_progress, seed=args.seed, **options)
    matrix = metrics["accuracy_matrix"]
    rows = [{"after": f"task {i + 1}", **{f"t{j + 1}": 100 * a for j, a in enumerate(row)}}
            for i, row in enumerate(matrix)]
    print(f"\n{args.benchmark}, {num_tasks} tasks, method {args.method}, seed {args.seed}: "
          "test accuracy (%) on each task after learning task i")
    print(runner.format_table(rows, [("after", "", "")] + [(f"t{j + 1}", f"t{j + 1}", ".1f")
                                                           for j in range(num_tasks)]))
    summary = [{"metric": "mean final accuracy (%)", "value": 100 * metrics["mean_accuracy"]},
               {"metric": "mean forgetting (points)", "value": 100 * metrics["mean_forgetting"]},
               {"metric": "trainable / target parameters", "value": metrics["param_ratio"]},
               {"metric": "training time (s)", "value": metrics["seconds"]}]
    if "class_incremental" in metrics:
        ci = metrics["class_incremental"]
        summary += [{"metric": "class-incremental accuracy (%)", "value": 100 * ci["accuracy"]},
                    {"metric": "task inferred correctly (%)",
                     "value": 100 * ci["task_inference_accuracy"]}]
    print()
    print(runner.format_table(summary, [("metric", "", ""), ("value", "value", ".2f")]))
    if args.out:
        print(f"\nwrote {args.out}/metrics.json, accuracy_matrix.png, checkpoint.pt")
    return 0
