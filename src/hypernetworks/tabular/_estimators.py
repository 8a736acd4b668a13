"""HyperTab (Wydmański, Bulenok & Śmieja 2023) as scikit-learn estimators.

Each of ``n_views`` fixed random feature subsets ("views") is a 0/1 mask. A hypernetwork
maps the mask to the weights of a small target network that sees only that view's
features; the ensemble's prediction is the average over views. All views are trained
together: for every batch the hypernetwork generates each view's weights once
(``HyperModel.generate`` on the ``[n_views, n_features]`` masks), and two batched matrix
products run every view on every row, not one optimizer step per view.

Beyond the paper (each chosen on the development sets, see ``docs/benchmarks.md``):
label smoothing, an exponential moving average of the weights that is validated and
kept (``averaging``), and a larger early-stopping split; options that did not help
there stay off by default (``linear``, ``n_bins``, ``weight_decay``, ``class_weight``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from torch import Tensor

from ._base import HyperTabBase, check_unit

__all__ = ["HyperTabClassifier", "HyperTabRegressor"]


class HyperTabClassifier(ClassifierMixin, HyperTabBase):
    """HyperTab classifier: a hypernetwork-generated ensemble over random feature views.

    The defaults were chosen on the development sets
    (:data:`hypernetworks.datasets.TABULAR_DEVELOPMENT`) with development seeds only; see
    ``docs/benchmarks.md`` for the held-out evaluation.

    Args:
        n_views: number of random feature subsets (each its own generated network).
        view_size: features per view, as a fraction of all features or an int count.
        target_hidden: hidden width of each view's network (features → hidden → classes).
        hyper_hidden: hidden width of the hypernetwork that maps a view mask to weights.
        max_epochs, batch_size, learning_rate: AdamW training; every batch trains all views.
        validation_fraction: share of the training rows held out (stratified) for early
            stopping on the ensemble's validation log-loss; the best epoch is kept.
        n_iter_no_change: epochs without improvement before stopping.
        weight_decay: AdamW's decoupled weight decay on the hypernetwork.
        linear: add a generated linear path ``features → classes`` to every view's network.
        n_bins: ``0``, or piecewise-linear encoding of every numerical feature with this
            many quantile bins (a view then sees all of its features' columns).
        averaging: ``0``, or the decay of an exponential moving average of the weights
            (updated every step) that is validated, kept and used for prediction: an
            ensemble over the last epochs.
        label_smoothing: cross-entropy label smoothing in training.
        class_weight: ``None``; ``"balanced"`` to weight each class's loss by
            ``n / (n_classes * count)``; or a dict class label -> weight (others 1).
            Used in training and early stopping.
        random_state: seed or ``RandomState`` for views, splits, initialisation, batches.
        device: where the networks run, e.g. ``"cpu"`` or ``"cuda"``.

    Attributes:
        classes_, n_features_in_, feature_names_in_ (pandas input), view_masks_,
        n_epochs_, loss_curve_, validation_scores_, model_ (the
        :class:`~hypernetworks.HyperModel`).

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from hypernetworks.tabular import HyperTabClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HyperTabClassifier(n_views=8, random_state=0).fit(X, y)
        >>> clf.predict_proba(X[:2]).sum(axis=1).round(6).tolist()
        [1.0, 1.0]
        >>> clf.score(X, y) > 0.9
        True
    """

    def __init__(
        self,
        n_views: int = 16,
        view_size: float = 0.75,
        target_hidden: int = 64,
        hyper_hidden: int = 64,
        max_epochs: int = 200,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 20,
        weight_decay: float = 0.0,
        linear: bool = False,
        n_bins: int = 0,
        averaging: float = 0.9,
        label_smoothing: float = 0.1,
        class_weight: str | dict | None = None,
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
    ) -> None:
        super().__init__(
            n_views=n_views,
            view_size=view_size,
            target_hidden=target_hidden,
            hyper_hidden=hyper_hidden,
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            weight_decay=weight_decay,
            linear=linear,
            n_bins=n_bins,
            averaging=averaging,
            random_state=random_state,
            device=device,
        )
        self.label_smoothing = label_smoothing
        self.class_weight = class_weight

    def _check_params(self) -> None:
        super()._check_params()
        check_unit("label_smoothing", self.label_smoothing)
        weights = self.class_weight
        if not (weights is None or weights == "balanced" or isinstance(weights, dict)):
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict class -> weight, got {weights!r}"
            )

    def fit(self, X: object, y: object) -> HyperTabClassifier:
        checked: tuple[np.ndarray, np.ndarray] = validate_data(self, X, y, dtype=np.float64)
        features, labels = checked
        check_classification_targets(labels)
        self.classes_, encoded = np.unique(labels, return_inverse=True)
        self._fit(features, encoded.astype(np.int64))
        return self

    def _outputs(self) -> int:
        return max(len(self.classes_), 2)

    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(
            out.reshape(-1, out.shape[-1]),
            y.reshape(-1),
            weight=self._class_weights,
            label_smoothing=self.label_smoothing,
        )

    def _validation_loss(self, out: Tensor, y: Tensor) -> float:
        proba = out.softmax(-1).mean(0)
        return F.nll_loss(proba.clamp_min(1e-12).log(), y, weight=self._class_weights).item()

    def _set_class_weights(self, y: Tensor) -> None:
        self._class_weights: Tensor | None = None
        if isinstance(self.class_weight, dict):
            given = [float(self.class_weight.get(c, 1.0)) for c in self.classes_]
            given += [1.0] * (self._outputs() - len(given))
            self._class_weights = torch.tensor(given, dtype=torch.float32, device=y.device)
        elif self.class_weight == "balanced":
            counts = torch.bincount(y, minlength=self._outputs()).to(torch.float32)
            present = counts > 0
            weights = torch.zeros_like(counts)
            weights[present] = len(y) / (int(present.sum()) * counts[present])
            self._class_weights = weights

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return y

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities, averaged over the views: ``[n_samples, n_classes]``."""
        proba = self._predict_views(X).softmax(-1).mean(0).double().numpy()
        proba = proba[:, : len(self.classes_)]
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: object) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


class HyperTabRegressor(RegressorMixin, HyperTabBase):
    """HyperTab regressor: the average over views of hypernetwork-generated networks.

    Same arguments as :class:`HyperTabClassifier` except ``label_smoothing`` and
    ``class_weight``, with the same defaults (chosen on classification sets: no
    regression set took part in choosing them). The target is standardised for training
    and early stopping monitors the ensemble's validation mean squared error.

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> from hypernetworks.tabular import HyperTabRegressor
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = HyperTabRegressor(n_views=8, random_state=0).fit(X, y)
        >>> reg.predict(X[:3]).shape
        (3,)
        >>> reg.score(X, y) > 0.4
        True
    """

    def fit(self, X: object, y: object) -> HyperTabRegressor:
        checked: tuple[np.ndarray, np.ndarray] = validate_data(
            self, X, y, dtype=np.float64, y_numeric=True
        )
        features, targets = checked
        self._y_mean = float(targets.mean())
        self._y_scale = float(targets.std()) or 1.0
        self._fit(features, ((targets - self._y_mean) / self._y_scale).astype(np.float32))
        return self

    def _outputs(self) -> int:
        return 1

    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(out[..., 0], y)

    def _validation_loss(self, out: Tensor, y: Tensor) -> float:
        return F.mse_loss(out[..., 0].mean(0), y).item()

    def predict(self, X: object) -> np.ndarray:
        out = self._predict_views(X)[..., 0].mean(0).double().numpy()
        return out * self._y_scale + self._y_mean
