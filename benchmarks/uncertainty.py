"""Noise-conditioned hypernetwork vs deep ensemble, MC dropout and a single network.

The same runs as ``hypernetworks uncertainty --benchmark B --method M --seed S`` (one
process, 1 thread), every method on every seed. Seed 0 is the development seed that chose
the defaults (``DEFAULTS`` in ``hypernetworks/uncertainty/_benchmarks.py``); the summary
is the mean ± std over the other seeds. Each finished run is stored at once in the results
file, and a rerun skips the runs already there, so the work can be split between processes
(``--results`` per process, then ``--summarize`` over all files).

    python benchmarks/uncertainty.py [--benchmarks mnist-ood regression] [--seeds 0 1 2 3]
    python benchmarks/uncertainty.py --summarize a.json b.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from hypernetworks.runner import Run
from hypernetworks.uncertainty import BENCHMARKS, DEFAULTS, METHODS

DEVELOPMENT_SEED = 0
KEYS = ("accuracy", "nll", "ece", "ood_auroc", "params", "train_seconds", "predict_seconds")


def _key(benchmark: str, method: str, seed: int) -> str:
    return f"{benchmark}/{method}/{seed}"


def run_all(benchmarks: list[str], methods: list[str], seeds: list[int], path: Path) -> dict:
    runs = json.loads(path.read_text())["runs"] if path.is_file() else {}
    for benchmark in benchmarks:
        for seed in seeds:
            for method in methods:
                key = _key(benchmark, method, seed)
                if key in runs:
                    continue
                with Run(
                    "uncertainty",
                    {"benchmark": benchmark, "method": method, **DEFAULTS},
                    seed=seed,
                    progress=False,
                    threads=1,
                ) as run:
                    metrics = BENCHMARKS[benchmark](run, method=method, **DEFAULTS)
                runs[key] = metrics
                print(key, {k: metrics.get(k) for k in KEYS}, flush=True)
                path.write_text(json.dumps({"runs": runs}, indent=1))
    return runs


def _mean_std(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def summarize(runs: dict) -> dict:
    """Mean ± std over the non-development seeds, per benchmark and method; the goals."""
    summary: dict = {}
    for key, metrics in runs.items():
        benchmark, method, seed = key.split("/")
        if int(seed) == DEVELOPMENT_SEED:
            continue
        entry = summary.setdefault(benchmark, {}).setdefault(method, {"seeds": []})
        entry["seeds"].append(int(seed))
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                entry.setdefault("_values", {}).setdefault(k, []).append(float(v))
    for benchmark, methods in summary.items():
        for entry in methods.values():
            entry.update({k: _mean_std(v) for k, v in entry.pop("_values").items()})
        summary[benchmark]["goals"] = goals(methods)
    return summary


def goals(methods: dict) -> dict:
    """The issue's goals on the seed means (ECE, NLL: lower is better; AUROC: higher)."""
    if not {"hypernet", "single", "ensemble"} <= set(methods):
        return {}
    h, s, e = (methods[m] for m in ("hypernet", "single", "ensemble"))
    mean = lambda m, k: m[k]["mean"] if k in m else float("nan")  # noqa: E731
    return {
        "beats_single_nll": mean(h, "nll") < mean(s, "nll"),
        "beats_single_ece": mean(h, "ece") < mean(s, "ece"),
        "beats_single_ood_auroc": mean(h, "ood_auroc") > mean(s, "ood_auroc"),
        "within_1pt_of_ensemble_ood_auroc": mean(h, "ood_auroc") >= mean(e, "ood_auroc") - 0.01,
        "within_1pt_of_ensemble_ece": mean(h, "ece") <= mean(e, "ece") + 0.01,
        "params_ratio_to_ensemble": mean(h, "params") / mean(e, "params"),
        "wins_over_ensemble": [
            k
            for k, better in (
                ("ood_auroc", mean(h, "ood_auroc") > mean(e, "ood_auroc")),
                ("ece", mean(h, "ece") < mean(e, "ece")),
            )
            if better
        ],
    }


def markdown(summary: dict) -> str:
    lines = []
    for benchmark, methods in summary.items():
        lines += [
            f"\n{benchmark} (mean ± std over seeds "
            f"{methods[next(iter(m for m in methods if m != 'goals'))]['seeds']})\n",
            "| method | accuracy | NLL | ECE | OOD AUROC | params | train s | predict s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for method in METHODS:
            if method not in methods:
                continue
            m = methods[method]
            cells = [
                f"{m[k]['mean']:.4f} ± {m[k]['std']:.4f}" if k in m else "—"
                for k in ("accuracy", "nll", "ece", "ood_auroc")
            ]
            cells.append(f"{int(m['params']['mean']):,}")
            cells += [f"{m[k]['mean']:.1f}" for k in ("train_seconds", "predict_seconds")]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append(f"\ngoals: {methods['goals']}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--benchmarks", nargs="+", default=sorted(BENCHMARKS), choices=BENCHMARKS)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--results", default="benchmarks/results/uncertainty.json")
    p.add_argument(
        "--summarize",
        nargs="+",
        default=None,
        help="only merge these results files into --results and summarise",
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    path = Path(args.results)
    if args.summarize:
        runs: dict = {}
        for name in args.summarize:
            runs.update(json.loads(Path(name).read_text())["runs"])
    else:
        runs = run_all(args.benchmarks, args.methods, args.seeds, path)
    summary = summarize(runs)
    path.write_text(
        json.dumps(
            {
                "defaults": DEFAULTS,
                "development_seed": DEVELOPMENT_SEED,
                "summary": summary,
                "runs": runs,
            },
            indent=1,
        )
    )
    print(markdown(summary))


if __name__ == "__main__":
    main()
