"""``hypernetworks fields``: completion, super-resolution and compression benchmarks."""

from __future__ import annotations

import argparse

from .. import runner

BENCHMARK_NAMES = ("compress", "mnist", "patches", "superres")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The common flags, the benchmark and its budget."""
    runner.add_common_arguments(parser)
    parser.add_argument("--benchmark", choices=BENCHMARK_NAMES, default="mnist")
    parser.add_argument(
        "--steps",
        type=runner.positive_int,
        default=None,
        help="training steps of the hypernetwork and the CNP (default 6000; patches 2000)",
    )
    parser.add_argument(
        "--encoder",
        choices=("deepsets", "attention"),
        default=None,
        help="set encoder of the hypernetwork and the CNP (default: attention for mnist, "
        "deepsets for patches and superres; chosen on the development seed 0)",
    )
    parser.add_argument("--batch-size", type=runner.positive_int, default=32)
    parser.add_argument("--lr", type=runner.positive_float, default=1e-3)
    parser.add_argument(
        "--omega0",
        type=runner.positive_float,
        default=10.0,
        help="the SIRENs' ω₀ (default 10: the paper's 30 is meant for 256+ pixel images)",
    )
    parser.add_argument("--train-images", type=runner.positive_int, default=2000)
    parser.add_argument("--test-images", type=runner.positive_int, default=100)
    parser.add_argument(
        "--finetune-steps",
        type=runner.nonnegative_int,
        default=20,
        help="test-time fine-tuning steps of the generated SIREN",
    )
    parser.add_argument(
        "--finetune-lr",
        type=runner.positive_float,
        default=None,
        help="Adam's learning rate of the fine-tuning (default: 1e-4; superres 1e-3 with "
        "the area-consistency loss, and for its SIRENs fitted from scratch)",
    )
    parser.add_argument(
        "--scratch-steps",
        type=runner.positive_int,
        default=100,
        help="steps of the SIREN fitted from scratch to the context",
    )
    parser.add_argument(
        "--compress-steps",
        type=runner.positive_int,
        default=1000,
        help="compress: Adam steps per code (D'OH) or SIREN (COIN)",
    )
    parser.add_argument(
        "--bits", type=runner.positive_int, default=8, help="compress: bits per D'OH code number"
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="train the hypernetwork and the CNP one after the other in this process "
        "(default: side by side, the CNP in a second process; the results are the same)",
    )


def config_from(args: argparse.Namespace) -> dict:
    """Everything that shapes the result, with the benchmark's defaults filled in."""
    config = {
        "benchmark": args.benchmark,
        "steps": args.steps
        if args.steps is not None
        else (2000 if args.benchmark == "patches" else 6000),
        "encoder": args.encoder
        if args.encoder is not None
        else ("attention" if args.benchmark == "mnist" else "deepsets"),
        "batch_size": args.batch_size,
        "lr": args.lr,
        "omega0": args.omega0,
        "train_images": args.train_images,
        "test_images": args.test_images,
        "finetune_steps": args.finetune_steps,
        "finetune_lr": args.finetune_lr
        if args.finetune_lr is not None
        else (1e-3 if args.benchmark == "superres" else 1e-4),
        "scratch_steps": args.scratch_steps,
    }
    if args.benchmark == "compress":
        config = {
            "benchmark": "compress",
            "omega0": config["omega0"],
            "compress_steps": args.compress_steps,
            "bits": args.bits,
        }
    return config


def main(args: argparse.Namespace) -> int:
    """Run one benchmark; print its table; write metrics.json and the figures."""
    from ._benchmarks import BENCHMARKS

    config = config_from(args)
    with runner.Run.from_args("fields", args, config) as run:
        options = {k: v for k, v in config.items() if k != "benchmark"}
        metrics = BENCHMARKS[args.benchmark](run, **options, side_by_side=not args.sequential)
        if args.benchmark == "compress":
            columns = [
                ("method", "method", ""),
                ("image", "image", ""),
                ("bpp", "bpp", ".3f"),
                ("psnr", "PSNR (dB)", ".2f"),
            ]
            rows = [r for r in metrics["results"] if r["method"] != "jpeg"]
        elif args.benchmark == "superres":
            columns = [
                ("method", "method", ""),
                ("mse", "MSE", ".4f"),
                ("psnr", "PSNR", ".2f"),
                ("psnr_input", "PSNR vs 14×14 input", ".2f"),
                ("cpu_seconds", "CPU s", ".2f"),
            ]
            rows = metrics["results"]
        else:
            columns = [
                ("method", "method", ""),
                ("context", "context", ""),
                ("mse", "MSE", ".4f"),
                ("psnr", "PSNR", ".2f"),
                ("mse_target", "MSE unseen", ".4f"),
                ("psnr_target", "PSNR unseen", ".2f"),
            ]
            rows = metrics["results"]
        run.print_table(rows, columns, title=f"fields {args.benchmark}, seed {args.seed}")
        run.write_metrics(metrics)
        if args.out:  # inside the run: under torchrun only rank 0 prints
            print(f"\nwrote {args.out}/metrics.json and the figures")
    return 0
