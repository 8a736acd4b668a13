"""Continual-learning benchmarks: every method on permuted and split digits, one table.

The same runs as ``hypernetworks continual --benchmark B --method M`` (see each row's
options); metrics as in the recipe: mean final accuracy, mean forgetting, the
hypernetwork-to-target parameter ratio, wall time and, for hnet, class-incremental
accuracy (task inferred from predictive entropy, HNET+ENT).

    python benchmarks/continual.py [--seed 0]
"""

from __future__ import annotations

import torch

from common import parser, save, setup, table
from hypernetworks.continual import hnet_options, permuted_digits, run, split_digits, target_for

COMPRESSIVE = hnet_options("chunked")  # the CLI's --head chunked
RUNS = [
    ("permuted-digits", "hnet", {}, "200 it/task, β 0.01"),
    ("permuted-digits", "hnet", {"iterations": 400}, "400 it/task"),
    (
        "permuted-digits",
        "hnet",
        {**COMPRESSIVE, "beta": 0.5, "iterations": 1500},
        "compressive Chunked, frozen θ₀, β 0.5, 1500 it/task",
    ),
    ("permuted-digits", "finetune", {}, "200 it/task"),
    ("permuted-digits", "ewc", {}, "λ 10, 200 it/task"),
    ("permuted-digits", "joint", {}, "200 it/task on all data so far"),
    ("split-digits", "hnet", {}, "200 it/task"),
    ("split-digits", "hnet", {"mip": False}, "200 it/task, mip=False"),
    ("split-digits", "finetune", {}, "200 it/task"),
    ("split-digits", "ewc", {}, "λ 10"),
    ("split-digits", "joint", {}, "all data so far"),
]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    info = setup(args)
    rows = []
    for benchmark, method, options, note in RUNS:
        tasks = (
            permuted_digits(10, args.seed)
            if benchmark == "permuted-digits"
            else split_digits(5, args.seed)
        )
        torch.manual_seed(args.seed)
        result = run(
            tasks, target_for(benchmark), method, progress=False, seed=args.seed, **options
        )
        ci = result.get("class_incremental", {})
        rows.append(
            {
                "benchmark": benchmark,
                "method": method,
                "setting": note,
                "accuracy": 100 * result["mean_accuracy"],
                "forgetting": 100 * result["mean_forgetting"],
                "param_ratio": result["param_ratio"],
                "seconds": result["seconds"],
                "class_incremental": 100 * ci["accuracy"] if ci else None,
                "task_inference": 100 * ci["task_inference_accuracy"] if ci else None,
                "accuracy_matrix": result["accuracy_matrix"],
            }
        )
        print(f"done: {benchmark} {method} ({note})", flush=True)
    print(
        f"\nContinual learning, MLP 64-100-100-k, Adam 1e-3, batch 32, seed {args.seed}, "
        f"{info['threads']} thread(s):\n"
    )
    print(
        table(
            rows,
            [
                ("benchmark", "benchmark", ""),
                ("method", "method", ""),
                ("setting", "setting", ""),
                ("accuracy", "mean acc %", ".2f"),
                ("forgetting", "forgetting (points)", ".2f"),
                ("param_ratio", "params / target", ".2f"),
                ("seconds", "time s", ".1f"),
                ("class_incremental", "class-incr. acc %", ".1f"),
                ("task_inference", "task inferred %", ".1f"),
            ],
        )
    )
    print(f"\nwrote {save(args.out, 'continual', {'info': info, 'rows': rows})}")


if __name__ == "__main__":
    main()
