"""HyperTab for small tabular data: scikit-learn estimators built on the core's
vectorized per-sample weight path (see :mod:`hypernetworks.tabular._estimators`)."""

from ._estimators import HyperTabClassifier as HyperTabClassifier
from ._estimators import HyperTabRegressor as HyperTabRegressor

__all__ = ["HyperTabClassifier", "HyperTabRegressor"]
