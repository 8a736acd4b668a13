"""The command-line flags every recipe shares, and argparse types that refuse bad values
with a message saying what was expected (``--steps 0``, ``--lr nan``, ``--dropout 1``)."""

from __future__ import annotations

import argparse

import numpy as np

__all__ = [
    "add_common_arguments",
    "nonnegative_int",
    "positive_float",
    "positive_int",
    "probability",
]


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (``--tasks 0`` and ``--tasks -3`` are refused)."""
    return _bounded_int(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer ≥ 0."""
    return _bounded_int(text, 0)


def _bounded_int(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= {minimum}, got {text!r}"
        ) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``--lr 0``, ``--lr inf`` and ``--lr nan`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {value}")
    return value


def probability(text: str) -> float:
    """argparse type: a number in [0, 1) (a dropout rate; ``1`` and ``-0.1`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a probability in [0, 1), got {text!r}"
        ) from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}")
    return value


def add_common_arguments(parser: argparse.ArgumentParser, *, seed: int = 0) -> None:
    """Add the flags every recipe shares: ``--seed --out --resume --no-progress --threads
    --device`` (see docs/recipes.md)."""
    parser.add_argument(
        "--seed",
        type=nonnegative_int,
        default=seed,
        help=f"random seed, set before anything random is built (default {seed})",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for metrics.json, plots and checkpoint.pt (default: none)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt (same configuration only)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch CPU threads (default 1: fastest and reproducible here)",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
