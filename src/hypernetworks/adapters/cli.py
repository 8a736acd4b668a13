"""``hypernetworks adapters``: hypernetwork LoRA adapters and their baselines on MiniLM."""

from __future__ import annotations

import argparse

from .. import runner
from ._benchmarks import (
    BENCHMARKS,
    DEFAULTS,
    HELD_OUT,
    LEARNING_RATES,
    METHODS,
    OUTPUT_LR_SCALES,
    SEEN,
    STEPS,
    UNSEEN,
)
from ._loto import UNSEEN_RULES

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The common flags, the benchmark, the methods and the training budget."""
    runner.add_common_arguments(parser)
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="text6")
    parser.add_argument(
        "--method",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        help="one or more methods (default: all)",
    )
    parser.add_argument(
        "--steps",
        type=runner.positive_int,
        default=DEFAULTS["steps"],
        help="training steps per task of every trained method (default: each method's, "
        + ", ".join(f"{m} {v}" for m, v in STEPS.items())
        + ", chosen on development seeds); multi-task methods run steps x tasks",
    )
    parser.add_argument("--batch-size", type=runner.positive_int, default=DEFAULTS["batch_size"])
    parser.add_argument(
        "--lr",
        type=runner.positive_float,
        default=DEFAULTS["lr"],
        help="Adam learning rate of every trained method (default: each method's rate, "
        + ", ".join(f"{m} {v:g}" for m, v in LEARNING_RATES.items())
        + ", chosen on development seeds)",
    )
    parser.add_argument(
        "--output-lr-scale",
        type=runner.positive_float,
        default=DEFAULTS["output_lr_scale"],
        help="learning-rate scale of the output layers of HyperLoRA's head (default: "
        + ", ".join(f"{m} {v:g}" for m, v in OUTPUT_LR_SCALES.items())
        + ")",
    )
    parser.add_argument(
        "--unseen",
        choices=list(UNSEEN_RULES),
        default=DEFAULTS["unseen"],
        help="how hyperlora-desc adapts to the held-out task: its generated adapters, "
        "pulled toward the pretrained model (scale-S), or the nearest seen task's (default: "
        + ", ".join(f"{m} {v}" for m, v in UNSEEN.items())
        + ", chosen by leave-one-task-out on development seeds)",
    )
    parser.add_argument(
        "--validation",
        action="store_true",
        help="development protocol: train on part of each seen task's training texts and "
        "score on the rest (whole groups), never on the test texts; no held-out task",
    )
    parser.add_argument("--rank", type=runner.positive_int, default=DEFAULTS["rank"])
    parser.add_argument("--max-length", type=runner.positive_int, default=DEFAULTS["max_length"])
    parser.add_argument(
        "--train-per-class", type=runner.positive_int, default=DEFAULTS["train_per_class"]
    )
    parser.add_argument(
        "--test-per-class", type=runner.positive_int, default=DEFAULTS["test_per_class"]
    )
    parser.add_argument(
        "--save-task",
        choices=SEEN + HELD_OUT,
        default=HELD_OUT[0],
        help="save the merged model of this task (hyperlora for a seen task, hyperlora-desc "
        f"for any) under DIR/merged-TASK-*/ (default {HELD_OUT[0]})",
    )
    parser.add_argument(
        "--model", default=None, help="path of the base model (default: the packaged MiniLM)"
    )
    parser.add_argument(
        "--dropout",
        type=runner.probability,
        default=DEFAULTS["dropout"],
        help="dropout probability of the base model in training (default: the model's own, "
        "0.1 for MiniLM)",
    )


def main(args: argparse.Namespace) -> int:
    """Train and test the methods; print a table; write metrics.json, accuracy.png and
    the merged model."""
    methods = list(dict.fromkeys(args.method))
    options = {key: getattr(args, key) for key in DEFAULTS}
    config = {"benchmark": args.benchmark, "methods": methods, "model": args.model, **options}
    with runner.Run.from_args("adapters", args, config) as run:
        metrics = BENCHMARKS[args.benchmark](
            run, methods=methods, save_task=args.save_task, model_path=args.model, **options
        )
        run.write_metrics(metrics)
        if run.out is not None:
            print(f"\nwrote {run.out}/metrics.json, accuracy.png, checkpoint.pt")
    return 0
