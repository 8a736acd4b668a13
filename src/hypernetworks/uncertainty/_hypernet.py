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

The K draws run as one vectorized call through the core's per-sample path: ``x`` is
repeated K times and each copy carries its own noise row, so the core generates each weight
set once and runs it on its N inputs (grouped, under ``vmap``).
"""

from __future__ import annotations

import copy
import math
from typing import cast

import torch
from torch import Tensor, nn

import hypernetworks as hn

from .._checks import check_positive_int, describe
from ._method import Method, check_task, member_nll

__all__ = ["NoiseHypernet"]


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

    Raises:
        ValueError: ``k`` < 2 for training, ``kl_weight`` < 0, ``prior_std`` ≤ 0, or any
            size < 1.
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
    ) -> None:
        super().__init__()
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
        distances = torch.cdist(flat, flat) + torch.diag(
            torch.full((z.shape[0],), math.inf, dtype=flat.dtype)
        )
        nearest = distances.min(dim=1).values.clamp_min(1e-12)
        entropy = self.dimension * nearest.log().mean()
        log_prior = -0.5 * (flat**2).sum(1).mean() / self.prior_std**2
        return -entropy - log_prior

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        z = self.sample()
        if self.per_example:  # every example through its own draw; the KL on the first k
            out = cast(Tensor, self.model(x, self.sample(x.shape[0])))
            nll = member_nll(out.unsqueeze(1), y.unsqueeze(1), self.task).mean()
        else:
            nll = member_nll(self.members(x, z), y, self.task).mean()
        if self.kl_weight == 0:
            return nll
        return nll + self.kl_weight * self.kl(z) / self.num_data
