"""``hypernetworks graph``: train a graph hypernetwork, then score held-out and
out-of-distribution architectures (zero-shot, fine-tuned, from scratch).

Writes ``OUT/metrics.json``, ``OUT/graph_hypernetwork.pt`` (``GraphHyperNetwork.load``)
and the fine-tuning curves ``OUT/finetune_held_out.png`` and
``OUT/finetune_out_of_distribution.png``.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import runner

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ._decoders import DECODERS, DEFAULT_DECODER

    runner.add_common_arguments(parser)
    parser.add_argument(
        "--benchmark",
        choices=["digits", "mnist"],
        default="digits",
        help="data set (default digits)",
    )
    parser.add_argument(
        "--steps",
        type=runner.positive_int,
        default=None,
        help="GHN training steps (default 3000): the main time budget",
    )
    parser.add_argument(
        "--architectures",
        type=runner.positive_int,
        default=None,
        help="training architectures sampled (default 200)",
    )
    parser.add_argument(
        "--held-out",
        type=runner.positive_int,
        default=None,
        help="held-out architectures, a third of them CNNs (default 12 on digits, 6 on mnist)",
    )
    parser.add_argument(
        "--scratch-steps",
        type=runner.positive_int,
        default=None,
        help="cap on the steps of training from scratch for the trained accuracy, which stops "
        "when validation accuracy stops improving (default 3000)",
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=["mlp", "cnn"],
        default=["mlp", "cnn"],
        help="architecture families (default both; CNNs dominate the cost on mnist)",
    )
    parser.add_argument(
        "--decoder",
        choices=sorted(DECODERS),
        default=DEFAULT_DECODER,
        help="hybrid: tiling for convolutions, low-rank for the rest; lowrank: A·Bᵀ "
        "(LoGAH); tiling: GHN-2 (default %(default)s)",
    )


def _figure(rows: list[dict[str, Any]], split: str, title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._benchmarks import CURVE_STEPS

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    chosen = [r for r in rows if r["split"] == split]
    for start, color in (("predicted", "tab:blue"), ("random", "tab:orange")):
        for r in chosen:
            ax.plot(
                CURVE_STEPS,
                [r["finetune"][start][str(s)] for s in CURVE_STEPS],
                color=color,
                alpha=0.2,
                lw=0.8,
            )
        mean = [
            sum(r["finetune"][start][str(s)] for r in chosen) / len(chosen) for s in CURVE_STEPS
        ]
        label = "from GHN prediction" if start == "predicted" else "from random init"
        ax.plot(CURVE_STEPS, mean, color=color, lw=2.2, marker="o", label=label)
    trained = sum(r["trained_accuracy"] for r in chosen) / len(chosen)
    ax.axhline(trained, color="gray", ls="--", label="trained from scratch, converged (mean)")
    ax.set(
        xlabel="fine-tuning steps (Adam, lr 1e-3)", ylabel="test accuracy", title=title, ylim=(0, 1)
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def main(args: argparse.Namespace) -> int:
    from ._benchmarks import BENCHMARKS

    config = {
        "benchmark": args.benchmark,
        "steps": args.steps,
        "architectures": args.architectures,
        "held_out": args.held_out,
        "scratch_steps": args.scratch_steps,
        "decoder": args.decoder,
        "kinds": sorted(set(args.kinds)),
    }
    with runner.Run.from_args("graph", args, config) as run:
        metrics, ghn = BENCHMARKS[args.benchmark](
            seed=args.seed,
            steps=args.steps,
            architectures=args.architectures,
            held_out_count=args.held_out,
            scratch_steps=args.scratch_steps,
            decoder=args.decoder,
            kinds=tuple(sorted(set(args.kinds))),
            progress=run.progress,
        )
        rows = metrics["results"]
        run.print_table(
            rows,
            [
                ("architecture", "architecture", ""),
                ("split", "split", ""),
                ("zero_shot_accuracy", "zero-shot", ".3f"),
                ("trained_accuracy", "trained", ".3f"),
                ("zero_shot_ratio", "ratio", ".2f"),
            ],
            title=f"graph hypernetwork on {args.benchmark} (seed {args.seed})",
        )
        means = metrics["means"]
        run.print_table(
            [{"split": k, **v} for k, v in means.items() if isinstance(v, dict) and "count" in v],
            [
                ("split", "split", ""),
                ("count", "n", ""),
                ("zero_shot_accuracy", "zero-shot", ".3f"),
                ("trained_accuracy", "trained", ".3f"),
                ("zero_shot_ratio", "ratio", ".2f"),
                ("predicted_10", "pred@10", ".3f"),
                ("random_10", "rand@10", ".3f"),
                ("predicted_100", "pred@100", ".3f"),
                ("random_100", "rand@100", ".3f"),
            ],
            title="means per split",
        )
        if run.out is not None:
            run.save_figure(
                _figure(rows, "held_out", "held-out architectures"), "finetune_held_out.png"
            )
            run.save_figure(
                _figure(rows, "out_of_distribution", "out-of-distribution"),
                "finetune_out_of_distribution.png",
            )
            runner.atomic_write(run.out / "graph_hypernetwork.pt", ghn.save)
        metrics["ghn_fit_seconds"] = round(float(metrics["ghn_fit_seconds"]), 3)
        run.write_metrics(metrics)
    return 0
