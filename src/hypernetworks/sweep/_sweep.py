"""HyperSweep: train one hypernetwork over a prior of hyperparameters, then sweep,
optimise and materialize without retraining."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .._checks import check_positive_int
from .._conditioners import Hyperparameters
from .._heads import Head
from .._mip import MIP
from .._model import HyperModel, hypernetize
from ..runner import WeightedLoss, check_finite, data_parallel, world
from ..runner import progress as progress_bar
from ._data import batches, eval_batches, shard_rows
from ._priors import Prior

__all__ = ["BoundNet", "HyperSweep", "OptimizeResult"]

Loss = Callable[["BoundNet", tuple, dict], Tensor]
Metric = Callable[["BoundNet", tuple], Tensor]


class BoundNet:
    """The target network with the weights generated for one hyperparameter setting.

    ``net(*inputs)`` runs the target; ``net.params`` maps every target parameter name to
    the tensor in use (generated, or the target's own), for penalties such as weight decay.
    Gradients flow through both to the hypernetwork (and, in :meth:`HyperSweep.optimize`,
    to the hyperparameters).
    """

    def __init__(self, model: HyperModel, weights: Mapping[str, Tensor]) -> None:
        self._model = model
        self.weights = dict(weights)

    def __call__(self, *args: Tensor) -> object:
        return functional_call(self._model.target, self.weights, args)

    @property
    def params(self) -> dict[str, Tensor]:
        own = dict(self._model.target.named_parameters())
        return {name: self.weights.get(name, p) for name, p in own.items()}


@dataclass
class OptimizeResult:
    """What :meth:`HyperSweep.optimize` found: the best ``hparams`` seen, its ``metric``,
    and the metric at the start and after every step (``history``)."""

    hparams: dict[str, float | list[float]]
    metric: float
    history: list[float] = field(default_factory=list)


class HyperSweep(nn.Module):
    """A hypernetwork that maps hyperparameters to the target's weights trained for them.

    Each training step draws a setting from ``priors`` and minimises the user's ``loss``
    for it (Lorraine & Duvenaud 2018; HyperMorph; MIP). Afterwards one model answers
    "what if the hyperparameters were different?" for every setting in the priors' ranges:
    :meth:`sweep` over a grid, :meth:`optimize` by gradient descent through the frozen
    hypernetwork, :meth:`materialize` for the plain network at a chosen setting.

    Args:
        target: any ``nn.Module``; left untouched (a copy is made).
        priors: ``{name: Uniform(...) | LogUniform(...)}``; a prior with ``size=k`` is a
            vector of ``k`` hyperparameters (e.g. one weight decay per layer).
        loss: ``loss(net, batch, hp) -> scalar``. ``net`` is a :class:`BoundNet` for the
            drawn setting ``hp`` (``{name: tensor}``; 0-d for scalars, ``[k]`` for
            vectors); ``batch`` is a tuple of tensors from the training data.
        metric: ``metric(net, batch) -> scalar``, the validation measure that
            :meth:`sweep` and :meth:`optimize` use unless given one there. Averaged over
            batches weighted by batch size; :meth:`optimize` needs it differentiable.
        params, head, hidden, mip: as for :func:`~hypernetworks.hypernetize`.
        output_scale: also learn one scale per generated tensor, ``exp(a·γ + b)`` with
            γ the normalised setting (``a``, ``b`` start at 0, so training starts from the
            plain hypernetwork). It lets the generated weights' size follow the setting
            over orders of magnitude (e.g. weights that grow as a penalty vanishes), which
            the hypernetwork alone learns slowly. Adds ``(width + 1) ×`` (generated
            tensors) parameters.

    Example:
        >>> import torch, torch.nn as nn, torch.nn.functional as F
        >>> from hypernetworks.sweep import HyperSweep, LogUniform
        >>> def loss(net, batch, hp):
        ...     x, y = batch
        ...     decay = sum(p.pow(2).sum() for p in net.params.values())
        ...     return F.cross_entropy(net(x), y) + hp["weight_decay"] * decay
        >>> hs = HyperSweep(nn.Linear(4, 3), {"weight_decay": LogUniform(1e-4, 1e-1)}, loss,
        ...                 metric=lambda net, b: F.cross_entropy(net(b[0]), b[1]))
        >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
        >>> _ = hs.fit((x, y), steps=20, progress=False)
        >>> len(hs.sweep({"weight_decay": [1e-4, 1e-3, 1e-2]}, (x, y)))
        3
        >>> type(hs.materialize({"weight_decay": 1e-3})).__name__
        'Linear'
    """

    def __init__(
        self,
        target: nn.Module,
        priors: Mapping[str, Prior],
        loss: Loss,
        *,
        metric: Metric | None = None,
        params: list | None = None,
        head: str | Head = "full",
        hidden: tuple[int, ...] = (64, 64),
        mip: bool | MIP = True,
        output_scale: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(output_scale, bool):
            raise TypeError(f"output_scale must be a bool, got {type(output_scale).__name__}")
        if not isinstance(priors, Mapping) or not priors:
            raise ValueError(
                "priors must be a non-empty dict {name: Uniform(...) | LogUniform(...)}, "
                f"got {priors!r}"
            )
        for name, prior in priors.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"hyperparameter names must be identifiers, got {name!r}")
            if not isinstance(prior, Prior):
                raise TypeError(
                    f"the prior for {name!r} must be Uniform(...) or LogUniform(...), "
                    f"got {type(prior).__name__}"
                )
        if not callable(loss):
            raise TypeError(f"loss must be callable as loss(net, batch, hp), got {loss!r}")
        if metric is not None and not callable(metric):
            raise TypeError(f"metric must be callable as metric(net, batch), got {metric!r}")
        self.priors = dict(priors)
        self.loss = loss
        self.metric = metric
        # Each prior's columns in the flat ``[width]`` setting, in the priors' order.
        self._slices, start = {}, 0
        for name, prior in self.priors.items():
            self._slices[name] = slice(start, start + prior.width)
            start += prior.width
        self.width = start  # the number of scalar hyperparameters
        ranges = {}
        for name, prior in self.priors.items():
            columns = [name] if prior.size is None else [f"{name}[{i}]" for i in range(prior.size)]
            ranges.update(dict.fromkeys(columns, prior.range_spec()))
        self.model = hypernetize(
            target, Hyperparameters(**ranges), params=params, head=head, hidden=hidden, mip=mip
        )
        self.scale: nn.Linear | None = None
        if output_scale:
            self.scale = nn.Linear(self.width, len(self.model.generated), dtype=self._dtype())
            nn.init.zeros_(self.scale.weight)
            nn.init.zeros_(self.scale.bias)
        self.history: list[float] = []

    # -- settings --------------------------------------------------------------------
    def _split(self, flat: Tensor) -> dict[str, Tensor]:
        """``[..., width]`` values → ``{name: [...] or [..., k]}``."""
        return {
            name: flat[..., cols].squeeze(-1) if self.priors[name].size is None else flat[..., cols]
            for name, cols in self._slices.items()
        }

    def _from_gamma(self, gamma: Tensor) -> Tensor:
        return torch.cat(
            [self.priors[name].to_value(gamma[..., cols]) for name, cols in self._slices.items()],
            dim=-1,
        )

    def _to_gamma(self, values: Tensor) -> Tensor:
        return torch.cat(
            [self.priors[name].to_gamma(values[..., cols]) for name, cols in self._slices.items()],
            dim=-1,
        )

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` settings drawn from the priors, as raw values ``[n, width]`` (float64) in
        the priors' order (a vector prior's entries side by side)."""
        gamma = torch.cat([p.sample_gamma(n, generator) for p in self.priors.values()], dim=1)
        return self._from_gamma(gamma)

    def _flatten(self, hp: Mapping[str, object], what: str = "hyperparameters") -> Tensor:
        """A user's setting → checked float64 values ``[width]``."""
        if not isinstance(hp, Mapping):
            raise TypeError(f"{what} must be a dict {{name: value}}, got {type(hp).__name__}")
        missing = [n for n in self.priors if n not in hp]
        unknown = [n for n in hp if n not in self.priors]
        if missing or unknown:
            raise ValueError(
                f"{what} must name exactly {list(self.priors)}; "
                f"missing {missing}, unknown {unknown}"
            )
        parts = []
        for name, prior in self.priors.items():
            value = torch.as_tensor(_plain(hp[name], name), dtype=torch.float64).reshape(-1)
            if value.numel() != prior.width:
                expected = "a number" if prior.size is None else f"{prior.size} values"
                raise ValueError(
                    f"hyperparameter {name!r} takes {expected}, got {value.numel()} values"
                )
            # A tolerance of float rounding only (np.logspace's ends, say), then clamped.
            slack = 1e-9 * (prior.high - prior.low) + 1e-12 * abs(prior.high)
            bad = (value < prior.low - slack) | (value > prior.high + slack) | value.isnan()
            if bad.any():
                raise ValueError(
                    f"hyperparameter {name!r} must lie in [{prior.low:g}, "
                    f"{prior.high:g}], got {float(value[bad][0]):g}"
                )
            parts.append(value.clamp(prior.low, prior.high))
        return torch.cat(parts)

    def _setting(self, flat: Tensor) -> dict[str, float | list[float]]:
        return {
            name: (float(v) if v.dim() == 0 else v.tolist())
            for name, v in self._split(flat.detach().double()).items()
        }

    def _dtype(self) -> torch.dtype:
        return self.model.target_dtype

    def bind(self, hp: Mapping[str, object] | Tensor) -> BoundNet:
        """The target with the weights for ``hp`` (a dict, or raw values ``[width]``)."""
        flat = hp if isinstance(hp, Tensor) else self._flatten(hp).to(self._dtype())
        return BoundNet(self.model, self._generate(flat))

    def _generate(self, values: Tensor) -> dict[str, Tensor]:
        """The generated weights for raw values ``[width]`` or ``[n, width]``, with the
        learned per-tensor scale when ``output_scale`` is on."""
        weights = self.model.generate(values)
        if self.scale is None:
            return weights
        log_scale = self.scale(self._to_gamma(values).to(self._dtype()))  # [..., tensors]
        return {
            name: w
            * log_scale[..., k]
            .exp()
            .reshape(log_scale.shape[:-1] + (1,) * (w.dim() - log_scale.dim() + 1))
            for k, (name, w) in enumerate(weights.items())
        }

    # -- training --------------------------------------------------------------------
    def fit(
        self,
        data: Sequence[Tensor] | Iterable,
        *,
        steps: int = 1000,
        batch_size: int | None = None,
        lr: float = 1e-3,
        draws: int = 1,
        optimizer: torch.optim.Optimizer | None = None,
        schedule: str = "cosine",
        seed: int = 0,
        progress: bool = True,
    ) -> HyperSweep:
        """Train for ``steps`` steps; each step draws ``draws`` settings and averages the
        loss over them on one batch.

        ``data`` is a tuple of tensors with a common first dimension (batches of
        ``batch_size`` rows are drawn from it; all rows if ``None``), or an iterable of
        batches (e.g. a ``DataLoader``), cycled. The ``draws`` weight sets of a step are
        generated in one batched call; more draws per step lower the variance of the
        hypernetwork's gradient. ``optimizer`` defaults to Adam(``lr``) over the
        hypernetwork's parameters; ``schedule`` is ``"cosine"`` (decay to 0 over
        ``steps``) or ``"constant"``. Returns ``self``.
        """
        check_positive_int(steps, "steps")
        check_positive_int(draws, "draws")
        if schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
        stream = batches(data, batch_size, torch.Generator().manual_seed(seed))
        generator = torch.Generator().manual_seed(seed + 1)
        optimizer = optimizer or torch.optim.Adam(self.parameters(), lr=lr)
        scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
            if schedule == "cosine"
            else None
        )

        def step_loss(values: Tensor, batch: Any) -> Tensor:
            if draws == 1:
                value = self.loss(self.bind(values[0]), batch, self._split(values[0]))
                _check_scalar(value, "loss")
                return value
            weights = self._generate(values)
            for k in range(draws):
                net = BoundNet(self.model, {n: w[k] for n, w in weights.items()})
                term = self.loss(net, batch, self._split(values[k]))
                _check_scalar(term, "loss")
                value = term / draws if k == 0 else value + term / draws
            return value

        # Under torchrun each rank takes its rows of every batch of tensors and DDP
        # averages the gradients (see hypernetworks.runner.shard); in one process this
        # is the plain loss.
        objective = data_parallel(WeightedLoss(self, step_loss))
        self.model.train()
        shown = progress and world()[0] == 0
        for step in progress_bar(range(steps), total=steps, desc="hypernetwork", enabled=shown):
            values = self.sample(draws, generator).to(self._dtype())
            batch, weight = shard_rows(next(stream))
            value = objective(weight, values, batch)
            check_finite(value, step=step)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            self.history.append(value.item())
        self.model.eval()
        return self

    # -- using the trained model -----------------------------------------------------
    def evaluate(
        self,
        hp: Mapping[str, object],
        data: Sequence[Tensor] | Iterable,
        metric: Metric | None = None,
    ) -> float:
        """The validation ``metric`` of the network generated for ``hp``."""
        with torch.no_grad():
            return float(self._metric(self.bind(hp), data, self._resolve(metric)))

    def sweep(
        self,
        grid: Mapping[str, Sequence] | Sequence[Mapping[str, object]],
        data: Sequence[Tensor] | Iterable,
        metric: Metric | None = None,
    ) -> list[dict]:
        """Evaluate ``metric`` at every setting of ``grid`` without retraining.

        ``grid`` is ``{name: [values...]}`` (every combination is evaluated) or a list of
        settings. Returns one dict per setting: its hyperparameters and ``"metric"``.
        """
        settings = self._grid(grid)
        metric = self._resolve(metric)
        self.model.eval()
        rows = []
        with torch.no_grad():
            for flat in settings:
                value = self._metric(self.bind(flat.to(self._dtype())), data, metric)
                rows.append({**self._setting(flat), "metric": float(value)})
        return rows

    def optimize(
        self,
        data: Sequence[Tensor] | Iterable,
        metric: Metric | None = None,
        *,
        steps: int = 100,
        lr: float = 0.05,
        start: Mapping[str, object] | None = None,
        fixed: Mapping[str, object] | None = None,
    ) -> OptimizeResult:
        """Gradient descent on the hyperparameters through the frozen hypernetwork.

        Minimises ``metric`` on ``data`` over the priors' ranges with projected Adam in
        the normalised space (log space for :class:`LogUniform`; ``lr`` is a fraction of
        the range per step, and iterates are clipped to the ranges). Starts from
        ``start`` (default: the middle of every range); hyperparameters named in ``fixed``
        keep their given values. Returns the best setting seen and its metric.
        """
        check_positive_int(steps, "steps")
        metric = self._resolve(metric)
        fixed = dict(fixed or {})
        unknown = [n for n in fixed if n not in self.priors]
        if unknown:
            raise ValueError(
                f"fixed names unknown hyperparameters {unknown}; known: {list(self.priors)}"
            )
        if start is None:
            gamma0 = torch.full((self.width,), 0.5, dtype=torch.float64)
        else:
            gamma0 = self._to_gamma(self._flatten(start, "start"))
        frozen = torch.zeros(self.width, dtype=torch.bool)
        if fixed:
            merged = {**self._setting(self._from_gamma(gamma0)), **fixed}
            gamma0 = self._to_gamma(self._flatten(merged, "start and fixed"))
            for name in fixed:
                frozen[self._slices[name]] = True
        gamma = gamma0.to(self._dtype()).requires_grad_(True)
        opt = torch.optim.Adam([gamma], lr=lr)
        self.model.eval()
        trainable = [p for p in self.parameters() if p.requires_grad]
        for p in trainable:
            p.requires_grad_(False)
        best, history = math.inf, []
        best_values: Tensor | None = None
        try:
            for step in range(steps + 1):
                values = self._from_gamma(gamma)
                value = self._metric(BoundNet(self.model, self._generate(values)), data, metric)
                current = check_finite(value, step=step, what="metric")
                history.append(current)
                if current < best:
                    best, best_values = current, values.detach().clone()
                if step == steps:
                    break
                opt.zero_grad(set_to_none=True)
                value.backward()
                if gamma.grad is None:  # unreachable: backward() needs a graph through gamma
                    raise RuntimeError("the metric's gradient did not reach the hyperparameters")
                gamma.grad[frozen] = 0.0
                opt.step()
                with torch.no_grad():  # projected: every iterate stays inside the ranges
                    gamma.clamp_(0.0, 1.0)
        finally:
            for p in trainable:
                p.requires_grad_(True)
        if best_values is None:  # unreachable: check_finite refuses a non-finite metric
            raise RuntimeError("optimize found no finite metric value")
        return OptimizeResult(self._setting(best_values), best, history)

    def materialize(self, hp: Mapping[str, object]) -> nn.Module:
        """A plain copy of the target holding the weights generated for ``hp``."""
        flat = self._flatten(hp).to(self._dtype())
        net = self.model.materialize(flat)
        if self.scale is not None:
            with torch.no_grad():
                for name, w in self._generate(flat).items():
                    net.get_parameter(name).copy_(w)
        return net

    # -- helpers ---------------------------------------------------------------------
    def _resolve(self, metric: Metric | None) -> Metric:
        metric = metric if metric is not None else self.metric
        if metric is None:
            raise ValueError("no validation metric: pass metric=... here or to HyperSweep")
        if not callable(metric):
            raise TypeError(f"metric must be callable as metric(net, batch), got {metric!r}")
        return metric

    def _metric(self, net: BoundNet, data: Sequence[Tensor] | Iterable, metric: Metric) -> Tensor:
        total: Tensor | None = None
        count = 0
        for batch in eval_batches(data):
            n = batch[0].shape[0]
            value = metric(net, batch)
            _check_scalar(value, "metric")
            total = value * n if total is None else total + value * n
            count += n
        if total is None or count == 0:
            raise ValueError("the validation data has no samples")
        return total / count

    def _grid(self, grid: object) -> list[Tensor]:
        """The grid's settings, each checked and flattened to float64 values ``[width]``."""
        if isinstance(grid, Mapping):
            if not grid:
                raise ValueError("the grid is empty: give {name: [values, ...]}")
            unknown = [n for n in grid if n not in self.priors]
            if unknown:
                raise ValueError(
                    f"the grid names unknown hyperparameters {unknown}; known: {list(self.priors)}"
                )
            missing = [n for n in self.priors if n not in grid]
            if missing:
                raise ValueError(
                    f"the grid must give values for every hyperparameter; missing {missing}"
                )
            axes = []
            for name, values in grid.items():
                values = list(values) if isinstance(values, Iterable) else [values]
                if not values:
                    raise ValueError(f"the grid has no values for {name!r}")
                axes.append(values)
            settings = [dict(zip(grid, combo, strict=True)) for combo in product(*axes)]
        elif isinstance(grid, Sequence) and not isinstance(grid, str):
            settings = list(grid)
            if not settings:
                raise ValueError("the grid is empty: give at least one setting")
        else:
            raise TypeError(
                f"grid must be {{name: [values]}} or a list of settings, got {type(grid).__name__}"
            )
        return [self._flatten(setting, "a grid setting") for setting in settings]


def _plain(value: object, name: str) -> object:
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, (bool, str)):
        raise TypeError(f"hyperparameter {name!r} must be a number or numbers, got {value!r}")
    return value


def _check_scalar(value: object, what: str) -> None:
    if not isinstance(value, Tensor) or value.numel() != 1:
        shape = f" of shape {tuple(value.shape)}" if isinstance(value, Tensor) else ""
        raise TypeError(f"{what} must return a scalar tensor, got {type(value).__name__}{shape}")
