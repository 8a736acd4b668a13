"""Hyperparameter-conditioned training: the three sweep benchmarks over several seeds.

The same runs as ``hypernetworks sweep --benchmark B --seed S`` (one process, 1 thread),
summarised in three Markdown tables with mean ± std over the seeds (sample std, n - 1)
and every run's metrics in ``benchmarks/results/sweep.json``. Finished (benchmark, seed)
pairs are kept in the JSON and skipped when the script is run again.

Development seeds 100-102 chose the trade-off settings; the reported seeds are 0-4.

    python benchmarks/sweep.py [--seeds 0 1 2 3 4] [--benchmarks tradeoff ...]
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch

from common import parser, setup, table
from hypernetworks.sweep import BENCHMARKS

NAMES = ("weight-decay", "many-decays", "tradeoff")


def spread(values: list[float], fmt: str = ".4f") -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{statistics.mean(values):{fmt}} ± {statistics.stdev(values):{fmt}}"


def summary_row(runs: list[dict], columns: list[tuple[str, str, str]]) -> dict:
    row: dict = {"seed": "mean ± std"}
    for key, _, fmt in columns[1:]:
        values = [r.get(key) for r in runs]
        if all(isinstance(v, bool) for v in values):
            row[key] = f"{sum(values)} of {len(values)}"
        elif all(isinstance(v, (int, float)) for v in values):
            row[key] = spread([float(v) for v in values], fmt or ".0f")
    return row


def print_table(title: str, runs: list[dict], columns: list[tuple[str, str, str]]) -> None:
    print(f"\n{title}\n")
    plain = [(k, h, "" if f == "" else f) for k, h, f in columns]
    rows = [*runs, summary_row(runs, columns)]
    print(table(rows, plain))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--benchmarks", nargs="+", choices=NAMES, default=list(NAMES))
    p.add_argument("--name", default="sweep", help="results file name (default sweep)")
    args = p.parse_args()
    info = setup(args)
    path = Path(args.out) / f"{args.name}.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    done: dict[str, dict[str, dict]] = saved.get("by_seed", {})
    for seed in args.seeds:
        for name in args.benchmarks:
            if str(seed) in done.get(name, {}):
                continue
            done.setdefault(name, {})[str(seed)] = BENCHMARKS[name](seed, progress=False)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"info": info, "by_seed": done}, indent=1))
            print(f"done: {name} seed {seed}", flush=True)
    runs = {n: [done[n][str(s)] for s in args.seeds] for n in args.benchmarks}
    if "weight-decay" in runs:
        print_table(
            "One hyperparameter (L2 weight decay, 13-point grid, softmax regression on digits)",
            runs["weight-decay"],
            [
                ("seed", "seed", ""),
                ("best_hparam_grid", "best, separate (L-BFGS)", ".2e"),
                ("best_hparam_hypernet", "best, hypernetwork", ".2e"),
                ("same_best", "same", ""),
                ("regret_of_hypernet_pick", "regret of its pick", ".4f"),
                ("grid_noise_at_pick", "grid noise (paired SE)", ".4f"),
                ("pick_within_noise", "within noise", ""),
                ("max_curve_gap", "max curve gap", ".4f"),
                ("wall_time_grid_s", "time, 13 models (s)", ".1f"),
                ("wall_time_hypernet_s", "time, hypernetwork (s)", ".1f"),
            ],
        )
    if "many-decays" in runs:
        print_table(
            "Nine weight decays (MLP on digits): validation / test cross-entropy of the best "
            "setting found, same wall-clock",
            runs["many-decays"],
            [
                ("seed", "seed", ""),
                ("best_val_loss_hypernet", "hypernet val", ".4f"),
                ("test_loss_hypernet", "hypernet test", ".4f"),
                ("val_loss_retrained_at_hypernet_best", "retrained at its pick, val", ".4f"),
                ("best_val_loss_random_search", "random search val", ".4f"),
                ("test_loss_random_search", "random search test", ".4f"),
                ("random_search_trials", "trials", ""),
                ("best_val_loss_optuna_tpe", "TPE val", ".4f"),
                ("test_loss_optuna_tpe", "TPE test", ".4f"),
                ("optuna_tpe_trials", "TPE trials", ""),
                ("wall_time_hypernet_s", "budget (s)", ".1f"),
            ],
        )
    if "tradeoff" in runs:
        for r in runs["tradeoff"]:
            r["hypernet_front_at_least_as_good"] = (
                r["hypervolume_hypernet"] >= r["hypervolume_separate"]
            )
        print_table(
            "Trade-off (MLP on digits, cross-entropy + α·L1, 10 values of α): hypervolume of "
            "the (val cross-entropy, L1) front",
            runs["tradeoff"],
            [
                ("seed", "seed", ""),
                ("hypervolume_separate", "separate models", ".2f"),
                ("hypervolume_hypernet", "one hypernetwork", ".2f"),
                ("hypernet_front_at_least_as_good", "hypernetwork ≥ separate", ""),
                ("max_val_loss_gap", "max val-loss gap at same α", ".3f"),
                ("wall_time_separate_s", "time, 10 models (s)", ".1f"),
                ("wall_time_hypernet_s", "time, hypernetwork (s)", ".1f"),
            ],
        )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
