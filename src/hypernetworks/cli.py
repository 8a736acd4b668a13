"""The ``hypernetworks`` command: one entry point, a subcommand per job.

Each subcommand is a ``(name, help, add_arguments, main)`` entry in ``COMMANDS``;
recipes add theirs there, so every job shares one parser and one way of running.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

__all__ = ["main"]


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=int, default=5, help="number of relabelled tasks (default 5)")
    parser.add_argument("--epochs", type=int, default=30,
                        help="passes over the mixed training data (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", default=None, help="folder to write metrics.json into")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _demo(args: argparse.Namespace) -> int:
    from .demo import run

    if args.tasks < 2 or args.epochs < 1:
        raise SystemExit(f"--tasks must be >= 2 and --epochs >= 1, got {args.tasks} and {args.epochs}")
    run(tasks=args.tasks, epochs=args.epochs, seed=args.seed, out=args.out,
        progress=not args.no_progress)
    return 0


def _continual_arguments(parser: argparse.ArgumentParser) -> None:
    from .continual.cli import add_arguments

    add_arguments(parser)


def _continual(args: argparse.Namespace) -> int:
    from .continual.cli import main as continual_main

    return continual_main(args)


def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    from .sweep.cli import add_arguments

    add_arguments(parser)


def _sweep(args: argparse.Namespace) -> int:
    from .sweep.cli import main as sweep_main

    return sweep_main(args)


def _tabular_arguments(parser: argparse.ArgumentParser) -> None:
    from .tabular.cli import add_arguments

    add_arguments(parser)


def _tabular(args: argparse.Namespace) -> int:
    from .tabular.cli import main as tabular_main

    return tabular_main(args)


COMMANDS: list[tuple[str, str, Callable, Callable]] = [
    ("demo", "train a task-conditioned hypernetwork on relabelled digits and print the results",
     _demo_arguments, _demo),
    ("continual", "continual learning on permuted or split digits (hnet, finetune, ewc, joint)",
     _continual_arguments, _continual),
    ("sweep", "hyperparameter-conditioned training: sweep and optimize without retraining",
     _sweep_arguments, _sweep),
    ("tabular", "HyperTab on a small tabular data set, beside RF, boosting, LR and MLP",
     _tabular_arguments, _tabular),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hypernetworks", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, add_arguments, run in COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(run=run)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
