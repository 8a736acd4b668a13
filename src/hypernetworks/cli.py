"""The ``hypernetworks`` command: one entry point, a subcommand per job.

Each subcommand is a ``(name, help, add_arguments, main)`` entry in ``COMMANDS``;
recipes add theirs there, so every job shares one parser and one way of running.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib import import_module

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


def _recipe(package: str) -> tuple[Callable, Callable]:
    """``(add_arguments, main)`` forwarding to ``hypernetworks.<package>.cli``: the
    recipe is imported when the parser is built, not when this module is imported."""
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        import_module(f"{__package__}.{package}.cli").add_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        return import_module(f"{__package__}.{package}.cli").main(args)

    return add_arguments, run


COMMANDS: list[tuple[str, str, Callable, Callable]] = [
    ("demo", "train a task-conditioned hypernetwork on relabelled digits and print the results",
     _demo_arguments, _demo),
    ("continual", "continual learning on permuted or split digits (hnet, finetune, ewc, joint)",
     *_recipe("continual")),
    ("sweep", "hyperparameter-conditioned training: sweep and optimize without retraining",
     *_recipe("sweep")),
    ("tabular", "HyperTab on a small tabular data set, beside RF, boosting, LR and MLP",
     *_recipe("tabular")),
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
