"""The fitting and prediction that HyperTab's classifier and regressor share: parameter
checks, the standardisation (and optional encoding) of features, the view masks, the
training loop with early stopping and weight averaging, and prediction in float64.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import Tensor

from .._checks import check_positive_int
from .._model import HyperModel, hypernetize
from ..runner import all_ranks_sum, average_gradients, check_finite, shard, world, zero_loss
from ._views import PiecewiseLinear, ViewNetwork, run_views, view_masks

__all__ = ["HyperTabBase", "check_unit"]


def check_unit(name: str, value: object, high: float = 1.0) -> None:
    """``value`` is a real number in ``[0, high)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not 0.0 <= float(value) < high:
        raise ValueError(f"{name} must lie in [0, {high:g}), got {value!r}")


class HyperTabBase(BaseEstimator):
    """Shared fitting and prediction; subclasses define the output and the loss."""

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
        self.weight_decay = weight_decay
        self.linear = linear
        self.n_bins = n_bins
        self.averaging = averaging
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
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, numbers.Integral):
            raise TypeError(f"n_bins must be an int (0 = no encoding), got {self.n_bins!r}")
        if self.n_bins < 0 or self.n_bins == 1:
            raise ValueError(f"n_bins must be 0 or an int >= 2, got {self.n_bins!r}")
        check_unit("weight_decay", self.weight_decay, high=float("inf"))
        check_unit("averaging", self.averaging)
        if not isinstance(self.linear, bool | np.bool_):
            raise TypeError(f"linear must be True or False, got {self.linear!r}")
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

    def _build(self, n_features: int) -> HyperModel:
        target = ViewNetwork(n_features, self.target_hidden, self._outputs(), self.linear)
        return hypernetize(target, self._n_raw, hidden=(self.hyper_hidden,))

    def _forward(
        self, x: Tensor, model: HyperModel | None = None, masks: Tensor | None = None
    ) -> Tensor:
        """Every view's output for every row: ``[n_views, n, outputs]``. Each view's
        weights are generated once per call, then all views run in two batched matmuls."""
        model = self.model_ if model is None else model
        masks = self._masks if masks is None else masks
        columns = masks if self._groups is None else masks[:, self._groups]
        return run_views(model.generate(masks), x, columns)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        xs = (x - self._mean) / self._scale
        return xs if self._encoder is None else self._encoder.transform(xs)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self._check_params()
        rng = check_random_state(self.random_state)
        device = torch.device(self.device)
        self.n_features_in_ = x.shape[1]
        self._mean, std = x.mean(axis=0), x.std(axis=0)
        self._scale = np.where(std > 0, std, 1.0)
        self._n_raw, self._encoder, self._groups = x.shape[1], None, None
        if self.n_bins:
            self._encoder = PiecewiseLinear(self.n_bins).fit((x - self._mean) / self._scale)
            self._groups = torch.from_numpy(self._encoder.groups).to(device)
        xs = self._encode(x).astype(np.float32)
        idx_train, idx_val = self._split(len(x), y, rng)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(rng.randint(2**31 - 1))
            self.model_ = self._build(xs.shape[1]).to(device)
            masks = view_masks(self.n_views, self.view_size, x.shape[1], rng)
            self._masks = torch.from_numpy(masks).to(device)
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
        opt = torch.optim.AdamW(
            model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        self._set_class_weights(y)
        # averaging > 0: validate and keep an exponential moving average of the weights.
        shadow = copy.deepcopy(model) if self.averaging else model
        pairs = list(zip(shadow.parameters(), model.parameters(), strict=True))
        best, best_state, stale = np.inf, None, 0
        self.loss_curve_, self.validation_scores_ = [], []
        batch = min(self.batch_size, len(idx_train))
        for epoch in range(self.max_epochs):
            model.train()
            order = idx_train[rng.permutation(len(idx_train))]
            total = 0.0
            for start in range(0, len(order), batch):
                rows = torch.from_numpy(order[start : start + batch]).to(x.device)
                # under torchrun: this rank's rows, gradients averaged (runner.shard)
                part, weight = shard(rows)
                if len(part):
                    out = self._forward(x[part])
                    loss = self._loss(out, y[part].unsqueeze(0).expand(out.shape[0], -1))
                    loss = loss * weight
                else:  # nothing left for this rank: a zero that reaches every parameter
                    loss = zero_loss(model.parameters())
                check_finite(loss, step=f"epoch {epoch + 1}, batch {start // batch + 1}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                average_gradients(model.parameters())
                opt.step()
                if shadow is not model:
                    with torch.no_grad():
                        for mean, p in pairs:
                            mean.lerp_(p, 1.0 - self.averaging)
                total += loss.item() * len(rows) / world()[1]
            self.loss_curve_.append(all_ranks_sum(total) / len(order))
            monitored = self.loss_curve_[-1]
            if idx_val is not None:
                with torch.no_grad():
                    rows = torch.from_numpy(idx_val).to(x.device)
                    out = self._forward(x[rows], shadow)
                    monitored = self._validation_loss(out, y[rows])
                self.validation_scores_.append(monitored)
            if monitored < best - 1e-4:
                best, stale = monitored, 0
                best_state = copy.deepcopy(shadow.state_dict())
            else:
                stale += 1
                if stale >= self.n_iter_no_change:
                    break
        self.n_epochs_ = epoch + 1
        if best_state is None and shadow is not model:
            best_state = shadow.state_dict()
        if best_state is not None:
            model.load_state_dict(best_state)

    def _set_class_weights(self, y: Tensor) -> None:
        self._class_weights: Tensor | None = None

    def _predict_views(self, x: object) -> Tensor:
        check_is_fitted(self, "model_")
        features: np.ndarray = validate_data(self, x, reset=False, dtype=np.float64)
        # In float64: float32 rounding would make a row's prediction depend (at the 1e-7
        # level) on the other rows of the call, and scikit-learn checks that it does not.
        model, masks = copy.deepcopy(self.model_).double(), self._masks.double()
        with torch.no_grad():
            xs = torch.from_numpy(self._encode(features)).to(masks.device)
            return self._forward(xs, model, masks).cpu()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
