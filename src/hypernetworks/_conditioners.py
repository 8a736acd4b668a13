"""Conditioners: what a hypernetwork is conditioned on.

The inputs of the taxonomy in "A Brief Review of Hypernetworks in Deep Learning"
(Chauhan et al.) — task-, data- and noise-conditioned — plus the hyperparameter
conditioning of the MIP paper. A conditioner turns the user's condition ``c`` into an
embedding: shape ``[dim]`` for one condition (one weight set for the whole batch) or
``[batch, dim]`` for a batch of conditions (one weight set per sample).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from ._checks import check_positive_int, describe

__all__ = ["Conditioner", "Hyperparameters", "Noise", "SetEncoder", "TaskEmbedding", "Vector"]


class Conditioner(nn.Module):
    """Base class of conditioners.

    Subclasses set ``dim`` (the embedding size) and ``bounded`` (True when every
    embedding component lies in [0, 1], which lets MIP apply its constant-norm
    encoding), and implement ``forward(c)`` returning ``[dim]`` for one condition or
    ``[batch, dim]`` for a batch. Bad conditions raise ``TypeError``/``ValueError``.
    """

    dim: int
    bounded: bool = False

    def _device_dtype(self) -> tuple[torch.device, torch.dtype]:
        probe: Tensor | None = next(self.parameters(), None)
        if probe is None:
            probe = next(self.buffers())
        return probe.device, probe.dtype


class Vector(Conditioner):
    """A raw condition vector of ``dim`` floats, used when ``condition`` is an ``int``.

    Example:
        >>> import torch
        >>> Vector(3)(torch.zeros(5, 3)).shape
        torch.Size([5, 3])
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "condition size")

    def forward(self, c: Tensor) -> Tensor:
        expected = f"a float Tensor of shape [{self.dim}] or [batch, {self.dim}]"
        if not isinstance(c, Tensor):
            raise TypeError(f"the condition must be {expected}, got {describe(c)}")
        if not c.is_floating_point():
            raise TypeError(f"the condition must be {expected}, got dtype {c.dtype}")
        if c.dim() not in (1, 2) or c.shape[-1] != self.dim:
            raise ValueError(f"the condition must be {expected}, got shape {tuple(c.shape)}")
        return c

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class TaskEmbedding(Conditioner):
    """Task-conditioned: integer task ids → learned embeddings (von Oswald et al. 2020).

    ``c`` is one task id (an ``int`` or a 0-d integer tensor) or a batch of ids (a 1-D
    integer tensor or a list of ints). Embeddings start as N(0, 1) draws.

    Args:
        num_tasks: how many tasks there are; ids run from 0 to ``num_tasks - 1``.
        dim: embedding size.

    Example:
        >>> import torch
        >>> tasks = TaskEmbedding(num_tasks=3, dim=8)
        >>> tasks(2).shape, tasks(torch.tensor([0, 2, 2])).shape
        (torch.Size([8]), torch.Size([3, 8]))
    """

    def __init__(self, num_tasks: int, dim: int) -> None:
        super().__init__()
        self.num_tasks = check_positive_int(num_tasks, "num_tasks")
        self.dim = check_positive_int(dim, "dim")
        self.embedding = nn.Embedding(self.num_tasks, self.dim)
        nn.init.normal_(self.embedding.weight)

    def forward(self, c: int | Tensor | Sequence[int]) -> Tensor:
        device = self.embedding.weight.device
        expected = "a task id (int), a 1-D integer tensor of ids, or a list of ints"
        if isinstance(c, numbers.Integral) and not isinstance(c, bool):
            ids = torch.tensor(int(c), device=device)
        elif isinstance(c, Tensor):
            if c.dtype == torch.bool or c.is_floating_point() or c.is_complex() or c.dim() > 1:
                raise TypeError(f"expected {expected}, got {describe(c)}")
            ids = c.to(device)
        elif (
            isinstance(c, (list, tuple))
            and c
            and all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in c)
        ):
            ids = torch.tensor([int(i) for i in c], device=device)
        else:
            raise TypeError(f"expected {expected}, got {describe(c)}")
        if ids.numel() == 0:
            raise ValueError("expected at least one task id, got an empty batch")
        if torch.compiler.is_compiling():  # a data-dependent check would break the graph
            return self.embedding(ids)
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= self.num_tasks:
            bad = low if low < 0 else high
            raise ValueError(
                f"task ids must lie in [0, {self.num_tasks - 1}] (num_tasks={self.num_tasks}), "
                f"got {bad}"
            )
        return self.embedding(ids)

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, dim={self.dim}"


class Hyperparameters(Conditioner):
    """Hyperparameter-conditioned: named scalars, each with its range.

    Each keyword gives ``(low, high)`` or ``(low, high, "log")`` (or ``"linear"``). The
    condition is a dict ``{name: value}`` (floats for one setting, 1-D tensors for a
    batch) or a tensor ``[n]`` / ``[batch, n]`` of raw values in the keyword order. Values
    are normalised to γ ∈ [0, 1] (in log space for ``"log"``); under MIP the model then
    applies the constant-norm ``[cos, sin]`` encoding.

    Example:
        >>> hp = Hyperparameters(weight_decay=(1e-5, 1e-1, "log"), dropout=(0.0, 0.5))
        >>> hp({"weight_decay": 1e-3, "dropout": 0.25})
        tensor([0.5000, 0.5000])
    """

    bounded = True
    _log: Tensor
    _low: Tensor
    _high: Tensor

    def __init__(self, **ranges: tuple) -> None:
        super().__init__()
        if not ranges:
            raise ValueError("Hyperparameters needs at least one `name=(low, high)` range")
        lows, highs, logs = [], [], []
        for name, spec in ranges.items():
            low, high, scale = _parse_range(name, spec)
            lows.append(low)
            highs.append(high)
            logs.append(scale == "log")
        self.names = tuple(ranges)
        self.ranges = {n: tuple(r) for n, r in ranges.items()}
        self.dim = len(self.names)
        self.register_buffer("_log", torch.tensor(logs), persistent=False)
        self.register_buffer("_low", torch.tensor(lows), persistent=False)
        self.register_buffer("_high", torch.tensor(highs), persistent=False)

    def forward(self, c: Mapping[str, float | Tensor] | Tensor) -> Tensor:
        if isinstance(c, Mapping) and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in c.values()
        ):  # one setting of plain floats: normalise in Python, make a single tensor
            floats = cast(Mapping[str, float], c)
            return torch.tensor(
                self._normalise_floats(floats), dtype=self._low.dtype, device=self._low.device
            )
        values = self._as_tensor(c)
        if not torch.compiler.is_compiling():  # a data-dependent check would break the graph
            self._check_range(values)
        values = values.to(self._low.dtype)
        lo = torch.where(self._log, self._low.log(), self._low)
        hi = torch.where(self._log, self._high.log(), self._high)
        x = torch.where(self._log, values.clamp_min(torch.finfo(values.dtype).tiny).log(), values)
        # Clamping only removes float rounding (out-of-range values were rejected above),
        # so it passes gradients straight through: search on a range's end can move off it.
        gamma = (x - lo) / (hi - lo)
        return gamma + (gamma.clamp(0.0, 1.0) - gamma).detach()

    def _check_range(self, values: Tensor) -> None:
        low, high = self._low.to(torch.float64), self._high.to(torch.float64)
        v64 = values.detach().to(torch.float64)
        tolerance = 1e-6 * (high - low).abs() + 1e-12 * high.abs()
        outside = (v64 < low - tolerance) | (v64 > high + tolerance) | v64.isnan()
        if outside.any():
            column = int(outside.nonzero()[0, -1])
            value = float(v64[outside][0])
            raise ValueError(
                f"hyperparameter {self.names[column]!r} must lie in "
                f"[{float(low[column]):g}, {float(high[column]):g}], got {value:g}"
            )

    def _normalise_floats(self, c: Mapping[str, float]) -> list[float]:
        self._check_names(c)
        gammas = []
        for name in self.names:
            low, high, *scale = self.ranges[name]
            value = float(c[name])
            tolerance = 1e-6 * (high - low) + 1e-12 * abs(high)
            if not low - tolerance <= value <= high + tolerance:  # also refuses nan
                raise ValueError(
                    f"hyperparameter {name!r} must lie in [{float(low):g}, {float(high):g}], "
                    f"got {value:g}"
                )
            if scale == ["log"]:
                value, low, high = math.log(max(value, low)), math.log(low), math.log(high)
            gammas.append(min(max((value - low) / (high - low), 0.0), 1.0))
        return gammas

    def _check_names(self, c: Mapping[str, object]) -> None:
        missing = [n for n in self.names if n not in c]
        unknown = [n for n in c if n not in self.names]
        if missing or unknown:
            raise ValueError(
                f"hyperparameters must be exactly {list(self.names)}; "
                f"missing {missing}, unknown {unknown}"
            )

    def _as_tensor(self, c: Mapping[str, float | Tensor] | Tensor) -> Tensor:
        device = self._low.device
        if isinstance(c, Tensor):
            if not c.is_floating_point():
                raise TypeError(
                    f"a hyperparameter tensor must be floating point, got dtype {c.dtype}"
                )
            if c.dim() not in (1, 2) or c.shape[-1] != self.dim:
                raise ValueError(
                    f"a hyperparameter tensor must have shape [{self.dim}] or "
                    f"[batch, {self.dim}] (columns {list(self.names)}), got {tuple(c.shape)}"
                )
            return c.to(device)
        if not isinstance(c, Mapping):
            raise TypeError(
                f"hyperparameters must be a dict {{name: value}} or a tensor, got {describe(c)}"
            )
        self._check_names(c)
        columns = []
        for name in self.names:
            value = c[name]
            if isinstance(value, Tensor):
                if not value.is_floating_point() or value.dim() > 1:
                    raise TypeError(
                        f"hyperparameter {name!r} must be a float or a 0-d/1-d float tensor, "
                        f"got {describe(value)}"
                    )
                columns.append(value.to(device))
            elif isinstance(value, numbers.Real) and not isinstance(value, bool):
                columns.append(torch.tensor(float(value), dtype=self._low.dtype, device=device))
            else:
                raise TypeError(f"hyperparameter {name!r} must be a float, got {describe(value)}")
        shapes = {tuple(col.shape) for col in columns}
        if len(shapes) > 1:
            shapes_of = [tuple(col.shape) for col in columns]
            raise ValueError(
                f"all hyperparameters must have the same shape (a float each, or 1-D tensors "
                f"of one batch size), got shapes {dict(zip(self.names, shapes_of, strict=True))}"
            )
        dtype = torch.promote_types(columns[0].dtype, self._low.dtype)
        return torch.stack([col.to(dtype) for col in columns], dim=-1)

    def extra_repr(self) -> str:
        return ", ".join(f"{n}={r}" for n, r in self.ranges.items())


def _parse_range(name: str, spec: tuple) -> tuple[float, float, str]:
    shape = "(low, high) or (low, high, 'log' | 'linear')"
    if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
        raise TypeError(f"hyperparameter {name!r} needs {shape}, got {spec!r}")
    low, high = spec[0], spec[1]
    scale = spec[2] if len(spec) == 3 else "linear"
    for bound in (low, high):
        if (
            not isinstance(bound, numbers.Real)
            or isinstance(bound, bool)
            or not math.isfinite(bound)
        ):
            raise TypeError(f"hyperparameter {name!r} needs finite numeric bounds, got {spec!r}")
    if scale not in ("linear", "log"):
        raise ValueError(f"hyperparameter {name!r}: scale must be 'linear' or 'log', got {scale!r}")
    if not low < high:
        raise ValueError(f"hyperparameter {name!r}: low must be below high, got {spec!r}")
    if scale == "log" and low <= 0:
        raise ValueError(f"hyperparameter {name!r}: a 'log' range needs low > 0, got {spec!r}")
    return float(low), float(high), scale


class SetEncoder(Conditioner):
    """Data-conditioned: a permutation-invariant encoder of a set of examples (DeepSets).

    ``φ`` (a two-layer MLP) embeds each example, the embeddings are pooled (mean, sum or
    max) and ``ρ`` (a linear layer) maps the pool to ``dim``. The condition is a set
    ``[n, in_features]`` or a batch of sets ``[batch, n, in_features]``.

    Example:
        >>> import torch
        >>> enc = SetEncoder(in_features=5, dim=16)
        >>> enc(torch.randn(10, 5)).shape, enc(torch.randn(4, 10, 5)).shape
        (torch.Size([16]), torch.Size([4, 16]))
    """

    def __init__(self, in_features: int, dim: int, *, hidden: int = 64, pool: str = "mean") -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.dim = check_positive_int(dim, "dim")
        hidden = check_positive_int(hidden, "hidden")
        if pool not in ("mean", "sum", "max"):
            raise ValueError(f"pool must be 'mean', 'sum' or 'max', got {pool!r}")
        self.pool = pool
        self.phi = nn.Sequential(
            nn.Linear(self.in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.rho = nn.Linear(hidden, self.dim)

    def forward(self, c: Tensor) -> Tensor:
        expected = (
            f"a float set [n, {self.in_features}] or a batch of sets [batch, n, {self.in_features}]"
        )
        if not isinstance(c, Tensor) or not c.is_floating_point():
            raise TypeError(f"expected {expected}, got {describe(c)}")
        if c.dim() not in (2, 3) or c.shape[-1] != self.in_features or c.shape[-2] == 0:
            raise ValueError(f"expected {expected}, got shape {tuple(c.shape)}")
        h = self.phi(c)
        if self.pool == "mean":
            pooled = h.mean(dim=-2)
        elif self.pool == "sum":
            pooled = h.sum(dim=-2)
        else:
            pooled = h.amax(dim=-2)
        return self.rho(pooled)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, dim={self.dim}, pool={self.pool!r}"


class Noise(Conditioner):
    """Noise-conditioned: draws z ~ N(0, I) on every call (implicit weight distributions).

    The condition is ``None`` (one draw, shared by the batch), an ``int`` n (n draws: one
    weight set per sample, an implicit ensemble) or a tensor z ``[dim]`` / ``[batch, dim]``
    to reuse a given draw. With ``seed`` the draws come from a private generator, so they
    repeat run to run; :meth:`manual_seed` restarts it.

    Example:
        >>> noise = Noise(4, seed=0)
        >>> noise(None).shape, noise(3).shape
        (torch.Size([4]), torch.Size([3, 4]))
    """

    def __init__(self, dim: int, *, seed: int | None = None) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.register_buffer("_probe", torch.empty(0), persistent=False)
        self._generator: torch.Generator | None = None
        if seed is not None:
            self.manual_seed(seed)

    def manual_seed(self, seed: int) -> Noise:
        """Restart the private generator at ``seed``; returns ``self``."""
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {describe(seed)}")
        self._generator = torch.Generator().manual_seed(int(seed))
        return self

    def forward(self, c: None | int | Tensor = None) -> Tensor:
        device, dtype = self._device_dtype()
        if c is None:
            shape: tuple[int, ...] = (self.dim,)
        elif isinstance(c, numbers.Integral) and not isinstance(c, bool):
            shape = (check_positive_int(int(c), "the number of noise draws"), self.dim)
        elif isinstance(c, Tensor):
            if not c.is_floating_point() or c.dim() not in (1, 2) or c.shape[-1] != self.dim:
                raise ValueError(
                    f"a given noise draw must be a float tensor [{self.dim}] or "
                    f"[batch, {self.dim}], got {describe(c)}"
                )
            return c
        else:
            raise TypeError(
                f"Noise takes None (one draw), an int n (n draws) or a tensor z, got {describe(c)}"
            )
        z = torch.randn(shape, generator=self._generator)
        return z.to(device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
