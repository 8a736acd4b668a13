"""HyperTab against the usual baselines on small tabular data sets.

Protocol: stratified 70/30 splits, training rows capped at 500, one split per seed;
features standardised on the training rows (a ``Pipeline``); balanced accuracy on the
held-out rows; fit time of every method on the same rows. Comparisons with other
libraries' HyperTab (hypertab 0.6.2) live in ``benchmarks/tabular.py`` and come in
through ``extra``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedShuffleSplit, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler

from ..datasets import load_tabular
from ._estimators import HyperTabClassifier

__all__ = ["Encoded", "average_ranks", "baselines", "evaluate", "splitter"]

MAX_TRAIN = 500


def splitter(n_samples: int, seeds: list[int], seed_offset: int = 0):
    """One stratified 70/30 split per seed, training rows capped at ``MAX_TRAIN``."""
    train = min(MAX_TRAIN, int(0.7 * n_samples))
    test = int(0.3 * n_samples)
    return [
        next(
            StratifiedShuffleSplit(
                1, train_size=train, test_size=test, random_state=seed + seed_offset
            ).split(np.zeros(n_samples), np.zeros(n_samples))
        )
        for seed in seeds
    ]


Factory = Callable[[int], BaseEstimator]


def baselines(
    seed: int, *, extra: Mapping[str, Factory] | None = None
) -> dict[str, Callable[[], BaseEstimator]]:
    """The methods compared, each a zero-argument factory: HyperTab, RandomForest,
    HistGradientBoosting, LogisticRegression, scikit-learn's MLP, XGBoost (when
    installed), and ``extra`` (name -> factory taking the seed)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    methods: dict[str, Callable[[], BaseEstimator]] = {
        "HyperTab (ours)": lambda: HyperTabClassifier(random_state=seed),
        "RandomForest": lambda: RandomForestClassifier(random_state=seed),
        "HistGradientBoosting": lambda: HistGradientBoostingClassifier(random_state=seed),
        "LogisticRegression": lambda: LogisticRegression(max_iter=2000),
        "MLP (scikit-learn)": lambda: MLPClassifier(max_iter=500, random_state=seed),
    }
    try:
        from xgboost import XGBClassifier

        methods["XGBoost"] = lambda: Encoded(XGBClassifier(n_jobs=1, random_state=seed))
    except ImportError:
        pass
    for name, factory in (extra or {}).items():

        def made(factory: Factory = factory) -> BaseEstimator:
            return factory(seed)

        methods[name] = made
    return methods


class Encoded(ClassifierMixin, BaseEstimator):
    """Label-encodes ``y`` for estimators (XGBoost) that want classes 0..k-1."""

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def fit(self, X, y):
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        self.estimator_ = clone(self.estimator).fit(X, self._encoder.transform(y))
        return self

    def predict(self, X):
        return self._encoder.inverse_transform(self.estimator_.predict(X))


def evaluate(
    dataset: str,
    seeds: list[int],
    *,
    extra: Mapping[str, Factory] | None = None,
    progress: bool = False,
    done: Mapping[str, dict] | None = None,
    on_method: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Per method: balanced accuracy per seed (mean and sample std), mean fit time and
    fit time relative to RandomForest, on ``dataset``.

    ``done`` holds rows already computed (by method name; a resumed run skips them);
    ``on_method(row)`` is called after each method (the CLI checkpoints there).
    """
    from ..runner import progress as progress_bar

    x, y = load_tabular(dataset)
    rows = []
    for name in progress_bar(list(baselines(0, extra=extra)), desc=dataset, enabled=progress):
        if done and name in done:
            rows.append(dict(done[name]))
            continue
        scores, times = [], []
        for seed, split in zip(seeds, splitter(len(y), seeds), strict=True):
            model = make_pipeline(StandardScaler(), baselines(seed, extra=extra)[name]())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. MLP's max_iter ConvergenceWarning
                result = cross_validate(
                    model, x, y, cv=[split], scoring="balanced_accuracy", error_score="raise"
                )
            scores.append(float(result["test_score"][0]))
            times.append(float(result["fit_time"][0]))
        rows.append(
            {
                "dataset": dataset,
                "method": name,
                "scores": scores,
                "balanced_accuracy": float(np.mean(scores)),
                "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
                "fit_time_s": float(np.mean(times)),
            }
        )
        if on_method is not None:
            on_method(rows[-1])
    rf = next((r["fit_time_s"] for r in rows if r["method"] == "RandomForest"), None)
    for row in rows:
        row["fit_time_vs_rf"] = row["fit_time_s"] / rf if rf else None
    return rows


def average_ranks(rows: list[dict]) -> dict[str, float]:
    """Mean over data sets of each method's rank by balanced accuracy (1 = best, ties
    share the mean rank)."""
    from scipy.stats import rankdata

    by_dataset: dict[str, list[dict]] = {}
    for row in rows:
        by_dataset.setdefault(row["dataset"], []).append(row)
    totals: dict[str, list[float]] = {}
    for group in by_dataset.values():
        ranks = rankdata([-r["balanced_accuracy"] for r in group])
        for row, rank in zip(group, ranks, strict=True):
            totals.setdefault(row["method"], []).append(float(rank))
    return {m: float(np.mean(v)) for m, v in totals.items()}
