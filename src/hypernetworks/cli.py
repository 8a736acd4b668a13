"""The ``hypernetworks`` command: one entry point, a subcommand per recipe.

Every recipe's ``cli`` module has ``add_arguments(parser)`` and ``main(args) -> int``
(see docs/recipes.md). Only the chosen recipe's module is imported, so ``hypernetworks
demo`` never imports scikit-learn's estimators or Flower, and a recipe whose optional
packages are missing fails alone, with the extra to install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

__all__ = ["RECIPES", "main"]

# name -> (module holding add_arguments/main, one-line help)
RECIPES: dict[str, tuple[str, str]] = {
    "demo": ("demo", "train a task-conditioned hypernetwork on relabelled digits"),
    "continual": (
        "continual.cli",
        "continual learning on permuted or split digits (hnet, finetune, ewc, joint)",
    ),
    "sweep": (
        "sweep.cli",
        "hyperparameter-conditioned training: sweep and optimize without retraining",
    ),
    "tabular": (
        "tabular.cli",
        "HyperTab on a small tabular data set, beside RF, boosting, LR and MLP",
    ),
    "federated": (
        "federated.cli",
        "personalized federated learning (pFedHN, PeFLL, HyperFL) on Flower or in-process",
    ),
    "fields": ("fields.cli", "neural fields: image completion, super-resolution, D'OH compression"),
    "graph": ("graph.cli", "graph hypernetworks: parameters for architectures never trained"),
    "uncertainty": (
        "uncertainty.cli",
        "noise-conditioned hypernetworks against deep ensembles and MC dropout",
    ),
    "fewshot": ("fewshot.cli", "few-shot learning with HyperShot, ProtoNet, MAML"),
    "adapters": ("adapters.cli", "hypernetwork LoRA adapters for a pretrained transformer"),
}


def _available(name: str) -> bool:
    from importlib.util import find_spec

    package = RECIPES[name][0].rpartition(".")[0] or RECIPES[name][0]
    return find_spec(f"{__package__}.{package}") is not None


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hypernetworks",
        description="Hypernetworks for any PyTorch model: one command, a subcommand per recipe.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in RECIPES.items():
        if not _available(name):
            continue
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the chosen recipe is imported
            import_module(f"{__package__}.{module}").add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hypernetworks COMMAND [options]``; returns the exit status."""
    from .runner import RunError

    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = _parser(chosen if chosen in RECIPES else None)
    args = parser.parse_args(argv)
    module = import_module(f"{__package__}.{RECIPES[args.command][0]}")
    try:
        return int(module.main(args) or 0)
    except RunError as error:
        print(f"hypernetworks {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
