"""A noise-conditioned hypernetwork trained as an implicit variational posterior.

``hn.hypernetize(target, hn.Noise(dim), head=hn.LowRank(rank))`` maps a draw
z ~ N(0, I) to a whole weight set θ(z) = θ₀ + A(z)·B(z); the hypernetwork is an implicit
distribution q over networks (HyperGAN, Ratzlaff & Fuxin 2019; Bayesian hypernetworks,
Krueger et al. 2017). A naive one, trained on the likelihood alone, collapses: every z
gives the same network. Here it is trained on the negative ELBO

    E_z[−log p(y | x, θ(z))] + β/N · KL(q ‖ p),   KL = −H[q] − E_q[log p(θ)],

with a Gaussian prior p = N(0, σ²I) and the entropy of the implicit q estimated from the
K draws of each step by the nearest-neighbour (Kozachenko–Leonenko) estimator
``H ≈ d/K · Σ_k log min_{j≠k} ‖θ_k − θ_j‖ + const``. The entropy term is what keeps the
draws apart; β (the KL weight, 1 = the exact ELBO) tempers it.

Entropy in weight space does not make the draws *disagree* where there is no data: on the
1-D gap problem, once the fit converges, the draws differ by 0.04 in the gap, against a
noise of 0.1. ``function_entropy`` (γ) adds the same nearest-neighbour entropy estimate
for the draws' *outputs* at M measurement points drawn uniformly at every step from the
bounding box of the training inputs, optionally widened by a margin (the measurement
set of function-space variational inference, Sun et al. 2019; the repulsion in function
space of D'Angelo & Fortuin 2021):

    loss = E_z[NLL] + β/N · KL(q ‖ p) − γ/N · Ĥ[f(X_M)]

Data pins the draws together where it exists, and the entropy spreads them where it does
not. The outputs used are the means for regression and the logits for classification.

The K draws run as one vectorized call through the core's per-sample path: ``x`` is
repeated K times and each copy carries its own noise row, so the core generates each weight
set once and runs it on its N inputs (grouped, under ``vmap``).
"""

from __future__ import annotations

import copy
import math
from typing import Any, cast

import torch
from torch import Tensor, nn

import hypernetworks as hn

from .._checks import check_positive_int, describe
from ._method import Method, check_task, member_nll

__all__ = ["NoiseHypernet"]


def nearest_neighbour_entropy(samples: Tensor, dimension: int) -> Tensor:
    """Kozachenko–Leonenko entropy estimate (up to a constant) of the rows of ``samples``
    ``[K, D]``: ``dimension`` times the mean log distance of each row to its nearest other."""
    distances = torch.cdist(samples, samples) + torch.diag(
        torch.full((samples.shape[0],), math.inf, dtype=samples.dtype)
    )
    return dimension * distances.min(dim=1).values.clamp_min(1e-12).log().mean()


class NoiseHypernet(Method):
    """A noise-conditioned hypernetwork with a variational (entropy + prior) objective.

    Args:
        target: the network whose weights are generated (copied; all its parameters are
            generated).
        noise_dim: size of the noise z.
        rank: rank of each generated weight change (``hn.LowRank``).
        hidden: widths of the hypernetwork body.
        k: draws per training step (≥ 2: the entropy estimate needs neighbours) and the
            default number of members at prediction.
        kl_weight: β, the weight of the KL term (1: the exact ELBO, which underfit on
            mnist-ood; the default 0.005 was chosen there on seed 0).
        prior_std: σ of the Gaussian prior over the weights.
        num_data: N, the training-set size the KL is divided by.
        task: ``"classification"`` or ``"regression"``.
        seed: seeds the initialisation and the noise generator.
        per_example: in training, run every example of a batch through its own draw (B
            distinct networks per step, cheap with the core's factored LowRank path); else
            all ``k`` draws see the whole batch. The KL term always uses ``k`` draws.
        function_entropy: γ, the weight of the entropy of the draws' outputs at random
            measurement points in the box of the training inputs (0: off).
        measurement_points: M, how many such points per step.
        measurement_margin: how far the box of the measurement points reaches beyond the
            training inputs' on each side, as a fraction of its width (per input dimension;
            0: the box itself. 0.1 was tried on the regression benchmark and not adopted,
            see docs/benchmarks.md §12).
        warmup: fraction of the training steps of :meth:`fit` over which the weights of
            both entropy terms (β and γ) rise linearly from 0 (KL annealing; 0: none).

    Raises:
        ValueError: ``k`` < 2 for training, ``kl_weight`` or ``function_entropy`` < 0,
            ``prior_std`` ≤ 0, ``measurement_margin`` < 0, or any size < 1.
        TypeError: ``target`` is not a module or ``per_example`` not a bool.

    Example:
        >>> import torch, torch.nn as nn
        >>> net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> hyper = NoiseHypernet(net, noise_dim=4, num_data=100, k=6)
        >>> hyper.members(torch.randn(10, 4)).shape
        torch.Size([6, 10, 3])
        >>> z = hyper.sample(2)
        >>> member = hyper.materialize(z[1])
        >>> x = torch.randn(5, 4)
        >>> torch.allclose(member(x), hyper.members(x, z)[1], atol=1e-6)
        True
    """

    def __init__(
        self,
        target: nn.Module,
        *,
        noise_dim: int = 8,
        rank: int = 1,
        hidden: tuple[int, ...] = (32,),
        k: int = 8,
        kl_weight: float = 0.005,
        prior_std: float = 1.0,
        num_data: int = 1000,
        task: str = "classification",
        seed: int = 0,
        per_example: bool = True,
        function_entropy: float = 0.0,
        measurement_points: int = 20,
        measurement_margin: float = 0.0,
        warmup: float = 0.0,
    ) -> None:
        super().__init__()
        if not (isinstance(function_entropy, (int, float)) and function_entropy >= 0):
            raise ValueError(f"function_entropy must be a number >= 0, got {function_entropy!r}")
        self.function_entropy = float(function_entropy)
        self.measurement_points = check_positive_int(measurement_points, "measurement_points")
        if not (
            isinstance(measurement_margin, (int, float))
            and not isinstance(measurement_margin, bool)
            and measurement_margin >= 0
        ):
            raise ValueError(
                f"measurement_margin must be a number >= 0, got {measurement_margin!r}"
            )
        self.measurement_margin = float(measurement_margin)
        self._measure = torch.Generator().manual_seed(seed + 7919)
        self._box: tuple[Tensor, Tensor] | None = None
        if not (isinstance(warmup, (int, float)) and 0 <= warmup <= 1):
            raise ValueError(f"warmup must be a fraction in [0, 1], got {warmup!r}")
        self.warmup = float(warmup)
        self._steps: tuple[int, int] | None = None  # (steps taken, warm-up steps) in fit
        if not isinstance(per_example, bool):
            raise TypeError(f"per_example must be True or False, got {describe(per_example)}")
        self.per_example = per_example
        if not isinstance(target, nn.Module):
            raise TypeError(f"target must be an nn.Module, got {describe(target)}")
        self.k = check_positive_int(k, "k")
        if self.k < 2:
            raise ValueError(
                f"k (draws per step) must be at least 2 for the entropy estimate, got {k}"
            )
        if not (isinstance(kl_weight, (int, float)) and kl_weight >= 0):
            raise ValueError(f"kl_weight must be a number >= 0, got {kl_weight!r}")
        if not (isinstance(prior_std, (int, float)) and prior_std > 0):
            raise ValueError(f"prior_std must be a number > 0, got {prior_std!r}")
        self.kl_weight = float(kl_weight)
        self.prior_std = float(prior_std)
        self.num_data = check_positive_int(num_data, "num_data")
        self.task = check_task(task)
        self.noise_dim = check_positive_int(noise_dim, "noise_dim")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = hn.hypernetize(
                copy.deepcopy(target),
                hn.Noise(self.noise_dim, seed=seed),
                head=hn.LowRank(check_positive_int(rank, "rank")),
                hidden=hidden,
            )
        self.dimension = sum(p.numel() for p in self.model.target.parameters())

    # -- sampling and running members ------------------------------------------
    def manual_seed(self, seed: int) -> NoiseHypernet:
        """Restart the private noise generator at ``seed`` (repeatable draws); returns ``self``."""
        cast(hn.Noise, self.model.conditioner).manual_seed(seed)
        return self

    def sample(self, k: int | None = None) -> Tensor:
        """``k`` (default ``self.k``) noise draws ``[k, noise_dim]`` from the private generator.

        Raises:
            ValueError: ``k`` < 1.
        """
        k = self.k if k is None else check_positive_int(k, "k (the number of members)")
        return self.model.conditioner(k)

    def _noise(self, k: int | Tensor | None) -> Tensor:
        if isinstance(k, Tensor):
            if k.dim() != 2 or k.shape[1] != self.noise_dim or k.shape[0] < 1:
                raise ValueError(
                    f"z must be a float tensor [K >= 1, {self.noise_dim}], got {describe(k)}"
                )
            return k
        return self.sample(k)

    def members(self, x: Tensor, k: int | Tensor | None = None) -> Tensor:
        """The outputs ``[K, N, out]`` of K sampled networks on ``x``, in one vectorized call.

        Args:
            x: ``[N, ...]`` inputs.
            k: how many members to draw (default ``self.k``), or given draws z ``[K, noise_dim]``.

        Returns:
            ``[K, N, out]``: row ``i`` is the network of ``z[i]`` applied to ``x``.

        Raises:
            ValueError: ``k`` < 1 or ``z`` of the wrong shape.
        """
        z = self._noise(k)
        n = x.shape[0]
        xs = x.expand(z.shape[0], *x.shape).reshape(z.shape[0] * n, *x.shape[1:])
        out = cast(Tensor, self.model(xs, z.repeat_interleave(n, dim=0)))
        return out.view(z.shape[0], n, *out.shape[1:])

    def materialize(self, z: Tensor) -> nn.Module:
        """The standalone network of one draw ``z`` ``[noise_dim]`` (``HyperModel.materialize``).

        Raises:
            ValueError: ``z`` is not one draw.
        """
        if not isinstance(z, Tensor) or z.shape != (self.noise_dim,):
            raise ValueError(
                f"materialize takes one draw z of shape [{self.noise_dim}], got {describe(z)}"
            )
        return self.model.materialize(z)

    # -- the objective -----------------------------------------------------------
    def kl(self, z: Tensor) -> Tensor:
        """KL(q ‖ p) estimated from the weight sets of the draws ``z`` (up to a constant)."""
        weights = self.model.generate(z)
        flat = torch.cat([w.reshape(z.shape[0], -1) for w in weights.values()], dim=1)
        entropy = nearest_neighbour_entropy(flat, self.dimension)
        log_prior = -0.5 * (flat**2).sum(1).mean() / self.prior_std**2
        return -entropy - log_prior

    def function_entropy_estimate(self, z: Tensor, points: Tensor) -> Tensor:
        """Nearest-neighbour entropy (up to a constant) of the draws' outputs at ``points``."""
        out = self.members(points, z)
        if self.task == "regression":
            out = out[..., 0]
        flat = out.reshape(z.shape[0], -1)
        return nearest_neighbour_entropy(flat, flat.shape[1])

    def fit(self, x: Tensor, y: Tensor, **options: Any) -> NoiseHypernet:
        """:meth:`Method.fit`, recording the box of the inputs ``x`` for the measurement
        points of ``function_entropy``."""
        if isinstance(x, Tensor) and x.is_floating_point() and x.dim() > 0 and x.shape[0] > 0:
            self._box = (x.detach().amin(0), x.detach().amax(0))
            epochs, batch = options.get("epochs", 20), options.get("batch_size", 64)
            if isinstance(epochs, int) and isinstance(batch, int) and batch > 0:
                per_epoch = -(-x.shape[0] // batch)
                self._steps = (0, round(self.warmup * epochs * per_epoch))
        try:
            super().fit(x, y, **options)
        finally:
            self._box, self._steps = None, None
        return self

    def _ramp(self) -> float:
        """The warm-up factor of this training step (1 outside :meth:`fit`)."""
        if self._steps is None:
            return 1.0
        taken, total = self._steps
        self._steps = (taken + 1, total)
        return 1.0 if total == 0 else min(1.0, (taken + 1) / total)

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        z = self.sample()
        if self.per_example:  # every example through its own draw; the KL on the first k
            out = cast(Tensor, self.model(x, self.sample(x.shape[0])))
            nll = member_nll(out.unsqueeze(1), y.unsqueeze(1), self.task).mean()
        else:
            nll = member_nll(self.members(x, z), y, self.task).mean()
        loss, ramp = nll, self._ramp()
        if self.kl_weight > 0:
            loss = loss + ramp * self.kl_weight * self.kl(z) / self.num_data
        if self.function_entropy > 0:
            low, high = self._box if self._box is not None else (x.amin(0), x.amax(0))
            reach = self.measurement_margin * (high - low)
            low, high = low - reach, high + reach
            u = torch.rand(self.measurement_points, *low.shape, generator=self._measure)
            points = low + (high - low) * u.to(low.dtype)
            entropy = self.function_entropy_estimate(self.sample(), points)
            loss = loss - ramp * self.function_entropy * entropy / self.num_data
        return loss
