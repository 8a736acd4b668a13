"""HyperTab (Wydmański, Bulenok & Śmieja 2023) as scikit-learn estimators.

Each of ``n_views`` fixed random feature subsets ("views") is a 0/1 mask. A hypernetwork
maps the mask to the weights of a small target network that sees only that view's
features; the ensemble's prediction is the average over views. All views are trained
together: every batch runs through every view's network in one vectorized call (the
core's per-sample weight path, where each distinct mask is generated once and applied to
its block of rows), not one optimizer step per view.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import Tensor, nn

from .._checks import check_positive_int
from .._model import HyperModel, hypernetize
from ..runner import check_finite

__all__ = ["HyperTabClassifier", "HyperTabRegressor"]


class _HyperTabBase(BaseEstimator):
    """Shared fitting and prediction; subclasses define the output and the loss."""

    def __init__(
        self,
        n_views: int = 32,
        view_size: float = 0.75,
        target_hidden: int = 64,
        hyper_hidden: int = 64,
        max_epochs: int = 200,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 20,
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
    ) -> None:
        self.n_views = n_views
        self.view_size = view_size
        self.target_hidden = target_hidden
        self.hyper_hidden = hyper_hidden
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.device = device

    # -- to be defined by subclasses --------------------------------------------------
    def _outputs(self) -> int:
        raise NotImplementedError

    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return None

    # -- fitting ------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in (
            "n_views",
            "target_hidden",
            "hyper_hidden",
            "max_epochs",
            "batch_size",
            "n_iter_no_change",
        ):
            check_positive_int(getattr(self, name), name)
        size = self.view_size
        if (
            isinstance(size, bool)
            or not isinstance(size, numbers.Real)
            or size <= 0
            or (not isinstance(size, numbers.Integral) and size > 1)
        ):
            raise ValueError(
                "view_size must be a fraction in (0, 1] or a positive int number "
                f"of features, got {size!r}"
            )
        rate = self.learning_rate
        if (
            isinstance(rate, bool)
            or not isinstance(rate, numbers.Real)
            or not (0 < rate < float("inf"))
        ):
            raise ValueError(f"learning_rate must be a finite number > 0, got {rate!r}")
        fraction = self.validation_fraction
        if not isinstance(fraction, numbers.Real) or not 0 <= fraction < 1:
            raise ValueError(f"validation_fraction must lie in [0, 1), got {fraction!r}")

    def _view_masks(self, n_features: int, rng: np.random.RandomState) -> np.ndarray:
        size = self.view_size
        k = int(size) if isinstance(size, numbers.Integral) else round(size * n_features)
        k = min(max(k, 1), n_features)
        masks = np.zeros((self.n_views, n_features), dtype=np.float32)
        for mask in masks:
            mask[rng.choice(n_features, size=k, replace=False)] = 1.0
        return masks

    def _build(self, n_features: int) -> HyperModel:
        target = nn.Sequential(
            nn.Linear(n_features, self.target_hidden),
            nn.ReLU(),
            nn.Linear(self.target_hidden, self._outputs()),
        )
        return hypernetize(target, n_features, hidden=(self.hyper_hidden,))

    def _forward(
        self, x: Tensor, model: HyperModel | None = None, masks: Tensor | None = None
    ) -> Tensor:
        """Every view's output for every row: ``[n_views, n, outputs]``, in one call."""
        model = self.model_ if model is None else model
        masks = self._masks if masks is None else masks
        views, n = masks.shape[0], x.shape[0]
        rows = (x.unsqueeze(0) * masks.unsqueeze(1)).reshape(views * n, -1)
        return model(rows, masks.repeat_interleave(n, dim=0)).reshape(views, n, -1)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self._check_params()
        rng = check_random_state(self.random_state)
        device = torch.device(self.device)
        self.n_features_in_ = x.shape[1]
        self._mean, std = x.mean(axis=0), x.std(axis=0)
        self._scale = np.where(std > 0, std, 1.0)
        xs = ((x - self._mean) / self._scale).astype(np.float32)
        idx_train, idx_val = self._split(len(x), y, rng)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(rng.randint(2**31 - 1))
            self.model_ = self._build(x.shape[1]).to(device)
            self._masks = torch.from_numpy(self._view_masks(x.shape[1], rng)).to(device)
            self.view_masks_ = self._masks.cpu().numpy().astype(bool)
            x_t = torch.from_numpy(xs).to(device)
            y_t = torch.from_numpy(y).to(device)
            self._train(x_t, y_t, idx_train, idx_val, rng)

    def _split(self, n: int, y: np.ndarray, rng: np.random.RandomState):
        n_val = int(np.floor(self.validation_fraction * n))
        if n_val < 2 or n - n_val < 2:  # too small to hold data out: no early stopping
            return np.arange(n), None
        stratify = self._stratify(y)
        try:
            return train_test_split(
                np.arange(n), test_size=n_val, stratify=stratify, random_state=rng
            )
        except ValueError:  # a class too small to stratify
            return train_test_split(np.arange(n), test_size=n_val, random_state=rng)

    def _train(
        self,
        x: Tensor,
        y: Tensor,
        idx_train: np.ndarray,
        idx_val: np.ndarray | None,
        rng: np.random.RandomState,
    ) -> None:
        model = self.model_
        opt = torch.optim.Adam(model.parameters(), lr=self.learning_rate)
        best, best_state, stale = np.inf, None, 0
        self.loss_curve_, self.validation_scores_ = [], []
        batch = min(self.batch_size, len(idx_train))
        for epoch in range(self.max_epochs):
            model.train()
            order = idx_train[rng.permutation(len(idx_train))]
            total = 0.0
            for start in range(0, len(order), batch):
                rows = torch.from_numpy(order[start : start + batch]).to(x.device)
                out = self._forward(x[rows])
                loss = self._loss(out, y[rows].unsqueeze(0).expand(out.shape[0], -1))
                check_finite(loss, step=f"epoch {epoch + 1}, batch {start // batch + 1}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(rows)
            self.loss_curve_.append(total / len(order))
            monitored = self.loss_curve_[-1]
            if idx_val is not None:
                model.eval()
                with torch.no_grad():
                    rows = torch.from_numpy(idx_val).to(x.device)
                    monitored = self._validation_loss(self._forward(x[rows]), y[rows])
                self.validation_scores_.append(monitored)
            if monitored < best - 1e-4:
                best, stale = monitored, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if stale >= self.n_iter_no_change:
                    break
        self.n_epochs_ = epoch + 1
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()

    def _predict_views(self, x: object) -> Tensor:
        check_is_fitted(self, "model_")
        x = validate_data(self, x, reset=False, dtype=np.float64)
        # In float64: float32 rounding would make a row's prediction depend (at the 1e-7
        # level) on the other rows of the call, and scikit-learn checks that it does not.
        model, masks = copy.deepcopy(self.model_).double(), self._masks.double()
        with torch.no_grad():
            xs = torch.from_numpy((x - self._mean) / self._scale).to(masks.device)
            return self._forward(xs, model, masks).cpu()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class HyperTabClassifier(ClassifierMixin, _HyperTabBase):
    """HyperTab classifier: a hypernetwork-generated ensemble over random feature views.

    Args:
        n_views: number of random feature subsets (each its own generated network).
        view_size: features per view, as a fraction of all features or an int count.
        target_hidden: hidden width of each view's network (features → hidden → classes).
        hyper_hidden: hidden width of the hypernetwork that maps a view mask to weights.
        max_epochs, batch_size, learning_rate: Adam training; every batch trains all views.
        validation_fraction: share of the training rows held out (stratified) for early
            stopping on the ensemble's validation log-loss; the best epoch is kept.
        n_iter_no_change: epochs without improvement before stopping.
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
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    def _validation_loss(self, out: Tensor, y: Tensor) -> float:
        proba = out.softmax(-1).mean(0)
        return F.nll_loss(proba.clamp_min(1e-12).log(), y).item()

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


class HyperTabRegressor(RegressorMixin, _HyperTabBase):
    """HyperTab regressor: the average over views of hypernetwork-generated networks.

    Same arguments as :class:`HyperTabClassifier`; the target is standardised for
    training and early stopping monitors the ensemble's validation mean squared error.

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
