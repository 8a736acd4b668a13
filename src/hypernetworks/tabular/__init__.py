"""HyperTab for small tabular data (Wydmański, Bulenok & Śmieja 2023): scikit-learn
estimators built on the core's vectorized per-sample weight path, and the benchmark
protocol that compares them with the usual baselines.

Example:
    >>> from sklearn.datasets import load_iris
    >>> from hypernetworks.tabular import HyperTabClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = HyperTabClassifier(n_views=4, max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
"""

from ._benchmarks import Encoded as Encoded
from ._benchmarks import average_ranks as average_ranks
from ._benchmarks import baselines as baselines
from ._benchmarks import evaluate as evaluate
from ._benchmarks import splitter as splitter
from ._estimators import HyperTabClassifier as HyperTabClassifier
from ._estimators import HyperTabRegressor as HyperTabRegressor

__all__ = [
    "Encoded",
    "HyperTabClassifier",
    "HyperTabRegressor",
    "average_ranks",
    "baselines",
    "evaluate",
    "splitter",
]
