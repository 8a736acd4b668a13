"""``hypernetworks fewshot``: HyperShot and its baselines on the few-shot benchmarks."""

from __future__ import annotations

import argparse

from .. import runner
from ._benchmarks import BENCHMARKS, DEFAULTS, METHODS
from ._hypershot import KERNELS

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The recipe's flags: the common ones, the benchmark, the method and the episode shape."""
    runner.add_common_arguments(parser)
    parser.add_argument(
        "--benchmark",
        choices=sorted(BENCHMARKS),
        default="glyphs",
        help="glyphs: held-out scripts; glyphs-to-mnist: cross-domain",
    )
    parser.add_argument("--method", choices=METHODS, default="hypershot")
    parser.add_argument("--shots", type=runner.positive_int, default=1)
    parser.add_argument("--ways", type=runner.positive_int, default=DEFAULTS["ways"])
    parser.add_argument(
        "--steps",
        type=runner.positive_int,
        default=DEFAULTS["steps"],
        help=f"training steps (default {DEFAULTS['steps']})",
    )
    parser.add_argument(
        "--queries",
        type=runner.positive_int,
        default=DEFAULTS["queries"],
        help="training queries per class",
    )
    parser.add_argument(
        "--test-episodes", type=runner.positive_int, default=DEFAULTS["test_episodes"]
    )
    parser.add_argument(
        "--test-queries", type=runner.positive_int, default=DEFAULTS["test_queries"]
    )
    parser.add_argument(
        "--images-per-class",
        type=runner.positive_int,
        default=DEFAULTS["images_per_class"],
        help="rendered images per glyph",
    )
    parser.add_argument(
        "--channels", type=runner.positive_int, default=DEFAULTS["channels"], help="backbone width"
    )
    parser.add_argument("--lr", type=runner.positive_float, default=DEFAULTS["lr"])
    parser.add_argument(
        "--kernel",
        choices=KERNELS,
        default=DEFAULTS["kernel"],
        help="hypershot: the support kernel",
    )
    parser.add_argument(
        "--hidden",
        type=runner.positive_int,
        default=DEFAULTS["hidden"],
        help="hypershot: width of the hypernetwork's two hidden layers",
    )
    parser.add_argument(
        "--views",
        type=runner.nonnegative_int,
        default=DEFAULTS["views"],
        help="hypershot, test time: affine views of each support image (0: no adaptation)",
    )
    parser.add_argument(
        "--adapt-steps",
        type=runner.nonnegative_int,
        default=DEFAULTS["adapt_steps"],
        help="hypershot, test time: Adam steps fitting the generated classifier to the views",
    )
    parser.add_argument("--adapt-lr", type=runner.positive_float, default=DEFAULTS["adapt_lr"])


def main(args: argparse.Namespace) -> int:
    """Train, test on 600 episodes, print a table, write metrics.json and episodes.png."""
    options = {key: getattr(args, key) for key in DEFAULTS}
    config = {"benchmark": args.benchmark, "method": args.method, "shots": args.shots, **options}
    with runner.Run.from_args("fewshot", args, config) as run:
        try:
            metrics = BENCHMARKS[args.benchmark](
                run, method=args.method, shots=args.shots, **options
            )
        except ValueError as error:
            raise SystemExit(f"hypernetworks fewshot: error: {error}") from error
        run.write_metrics(metrics)
        rows = [
            {
                "method": args.method,
                "acc": 100 * metrics["accuracy"],
                "ci": 100 * metrics["ci95"],
                "train": metrics["train_seconds"],
                "test": metrics["test_seconds"],
            }
        ]
        run.print_table(
            rows,
            [
                ("method", "method", ""),
                ("acc", "accuracy %", ".2f"),
                ("ci", "± 95% CI", ".2f"),
                ("train", "train s", ".0f"),
                ("test", "test s", ".0f"),
            ],
            title=f"{args.benchmark}, {args.ways}-way {args.shots}-shot, "
            f"{metrics['test_episodes']} test episodes, seed {args.seed}",
        )
        if run.out is not None:
            print(f"\nwrote {run.out}/metrics.json, episodes.png, checkpoint.pt")
    return 0
