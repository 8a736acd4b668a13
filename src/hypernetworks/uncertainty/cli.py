"""``hypernetworks uncertainty``: one method on one benchmark, a table, metrics and plots."""

from __future__ import annotations

import argparse

from .. import runner
from ._benchmarks import BENCHMARKS, DEFAULTS, METHODS

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The recipe's flags: the common ones, the benchmark, the method and training options."""
    runner.add_common_arguments(parser)
    parser.add_argument(
        "--benchmark",
        choices=sorted(BENCHMARKS),
        default="mnist-ood",
        help="mnist-ood: digits 0-4 in, 5-9 (+ glyphs) out; regression: 1-D with a gap",
    )
    parser.add_argument("--method", choices=METHODS, default="hypernet")
    parser.add_argument(
        "--epochs",
        type=runner.positive_int,
        default=DEFAULTS["epochs"],
        help=f"passes over the training data (default {DEFAULTS['epochs']}; "
        "regression runs 50x as many)",
    )
    parser.add_argument("--batch-size", type=runner.positive_int, default=DEFAULTS["batch_size"])
    parser.add_argument("--lr", type=runner.positive_float, default=DEFAULTS["lr"])
    parser.add_argument(
        "--members",
        type=runner.positive_int,
        default=DEFAULTS["members"],
        help="K: members drawn at prediction (hypernet, mc-dropout)",
    )
    parser.add_argument(
        "--kl-weight",
        type=float,
        default=DEFAULTS["kl_weight"],
        help="hypernet: weight of the KL term (1 = the exact ELBO)",
    )
    parser.add_argument(
        "--ensemble-size", type=runner.positive_int, default=DEFAULTS["ensemble_size"]
    )
    parser.add_argument(
        "--dropout", type=float, default=DEFAULTS["dropout"], help="mc-dropout: dropout probability"
    )


def main(args: argparse.Namespace) -> int:
    """Train, evaluate, print a table, write metrics.json and the PNGs."""
    options = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "members": args.members,
        "kl_weight": args.kl_weight,
        "ensemble_size": args.ensemble_size,
        "dropout": args.dropout,
    }
    config = {"benchmark": args.benchmark, "method": args.method, **options}
    with runner.Run.from_args("uncertainty", args, config) as run:
        try:
            metrics = BENCHMARKS[args.benchmark](run, method=args.method, **options)
        except ValueError as error:
            raise SystemExit(f"hypernetworks uncertainty: error: {error}") from error
        run.write_metrics(metrics)
        columns = [
            ("method", "method", ""),
            ("accuracy", "accuracy", ".4f"),
            ("nll", "NLL", ".4f"),
            ("ece", "ECE", ".4f"),
            ("ood_auroc", "OOD AUROC", ".4f"),
            ("params", "params", ",d"),
            ("train_seconds", "train s", ".1f"),
            ("predict_seconds", "predict s", ".2f"),
        ]
        run.print_table([metrics], columns, title=f"{args.benchmark}, seed {args.seed}")
        if run.out is not None and run.is_main:
            pngs = (
                "reliability.png, ood_histogram.png"
                if args.benchmark == "mnist-ood"
                else "regression_intervals.png"
            )
            print(f"\nwrote {run.out}/metrics.json, {pngs}")
    return 0
