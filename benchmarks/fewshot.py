"""Few-shot benchmarks: HyperShot, ProtoNet, MAML and fine-tuning over seeds, one table.

Each (method, shots, seed) trains once on the background glyph scripts and is tested on
600 5-way episodes of the held-out scripts (``--benchmark glyphs``) and of MNIST-5k
(``--benchmark glyphs-to-mnist``); the CLI runs the same function with one test set.
Defaults were chosen on the validation scripts with seed 0. Jobs run in parallel
processes of one thread each; results are written after every job.

    python benchmarks/fewshot.py --seeds 1 2 3 --jobs 4
"""

from __future__ import annotations

import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch

from common import parser, save, setup, table
from hypernetworks.fewshot import DEFAULTS, METHODS, experiment
from hypernetworks.runner import Run

TESTS = {"glyphs": "glyphs", "mnist": "glyphs-to-mnist"}


def job(method: str, shots: int, seed: int, options: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    config = {"method": method, "shots": shots, **DEFAULTS, **options}
    with Run("fewshot", config, seed=seed, progress=False) as run:
        result = experiment(run, method=method, shots=shots, tests=tuple(TESTS), **options)
    row: dict[str, Any] = {
        "method": method,
        "shots": shots,
        "seed": seed,
        "params": result["params"],
        "train_seconds": result["train"]["train_seconds"],
        "final_train_loss": result["train"]["final_loss"],
    }
    for test, benchmark in TESTS.items():
        row[benchmark] = {k: result[test][k] for k in ("accuracy", "ci95", "test_seconds")}
        if "paired" in result[test]:  # HyperShot minus its own prototype rule, same episodes
            row[benchmark]["paired"] = result[test]["paired"]
    return row


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    summary = []
    for benchmark in TESTS.values():
        for shots in (1, 5):
            for method in METHODS:
                runs = [r for r in rows if r["method"] == method and r["shots"] == shots]
                if not runs:
                    continue
                accuracies = [100 * r[benchmark]["accuracy"] for r in runs]
                summary.append(
                    {
                        "benchmark": benchmark,
                        "shots": shots,
                        "method": method,
                        "mean": statistics.fmean(accuracies),
                        "std": statistics.stdev(accuracies) if len(runs) > 1 else 0.0,
                        "ci95": statistics.fmean(100 * r[benchmark]["ci95"] for r in runs),
                        "seeds": " ".join(str(r["seed"]) for r in runs),
                        "train_s": statistics.fmean(r["train_seconds"] for r in runs),
                        **_paired(runs, benchmark),
                    }
                )
    return summary


def _paired(runs: list[dict[str, Any]], benchmark: str) -> dict[str, Any]:
    """HyperShot's paired differences (points) against its controls: per seed and mean ± std."""
    out: dict[str, Any] = {}
    for prefix in ("", "views_"):
        key = f"{prefix}difference"
        if not all(key in r[benchmark].get("paired", {}) for r in runs):
            continue
        gaps = [100 * r[benchmark]["paired"][key] for r in runs]
        out[f"paired_{prefix}mean"] = statistics.fmean(gaps)
        out[f"paired_{prefix}std"] = statistics.stdev(gaps) if len(gaps) > 1 else 0.0
        out[f"paired_{prefix}per_seed"] = [
            (round(g, 2), round(100 * r[benchmark]["paired"][f"{prefix}ci95"], 2))
            for g, r in zip(gaps, runs, strict=True)
        ]
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    p.add_argument("--jobs", type=int, default=1, help="parallel processes (1 thread each)")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    p.add_argument("--test-episodes", type=int, default=DEFAULTS["test_episodes"])
    p.add_argument("--views", type=int, default=DEFAULTS["views"], help="HyperShot test-time")
    p.add_argument("--adapt-steps", type=int, default=DEFAULTS["adapt_steps"])
    p.add_argument("--name", default="fewshot", help="results file name (without .json)")
    args = p.parse_args()
    info = setup(args)
    options = {
        "steps": args.steps,
        "test_episodes": args.test_episodes,
        "views": args.views,
        "adapt_steps": args.adapt_steps,
    }
    todo = [(m, k, s) for m in args.methods for k in args.shots for s in args.seeds]
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(job, m, k, s, options) for m, k, s in todo]
        for future in as_completed(futures):
            rows.append(future.result())
            rows.sort(key=lambda r: (r["shots"], r["method"], r["seed"]))
            summary = summarize(rows)
            save(
                args.out,
                args.name,
                {
                    "info": info,
                    "defaults": DEFAULTS,
                    "options": options,
                    "summary": summary,
                    "runs": rows,
                },
            )
            print(f"done {len(rows)}/{len(todo)}", flush=True)
    columns = [
        ("benchmark", "benchmark", ""),
        ("shots", "shots", "d"),
        ("method", "method", ""),
        ("mean", "accuracy %", ".2f"),
        ("std", "± std (seeds)", ".2f"),
        ("ci95", "mean 95% CI", ".2f"),
        ("seeds", "seeds", ""),
        ("train_s", "train s", ".0f"),
    ]
    print(table(summarize(rows), columns))


if __name__ == "__main__":
    main()
