"""The baselines a practitioner would otherwise use for calibrated uncertainty.

* :class:`Single` — one network, trained once (K = 1).
* :class:`DeepEnsemble` — M independently initialised networks, each on its own data
  order (Lakshminarayanan, Pritzel & Blundell 2017). The members are trained *together*:
  their parameters are stacked with ``torch.func.stack_module_state`` and run under
  ``vmap(functional_call)``, so one step updates all M in one set of batched ops. The
  result equals training them one by one (``fit(..., vectorized=False)``; a test checks it).
* :class:`MCDropout` — a network with dropout kept on at prediction time (Gal &
  Ghahramani 2016); the K passes run as one batch of K·N rows.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from .._checks import check_positive_int, describe
from ._method import Method, Progress, check_task, member_nll

__all__ = ["DeepEnsemble", "MCDropout", "Single"]


def _check_module(net: object) -> nn.Module:
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be an nn.Module, got {describe(net)}")
    return net


class Single(Method):
    """One network: the plain baseline, a "stack" of one member.

    Args:
        net: the network (copied).
        task: ``"classification"`` or ``"regression"``.

    Example:
        >>> import torch, torch.nn as nn
        >>> Single(nn.Linear(3, 2)).members(torch.randn(4, 3)).shape
        torch.Size([1, 4, 2])
    """

    def __init__(self, net: nn.Module, *, task: str = "classification") -> None:
        super().__init__()
        self.net = copy.deepcopy(_check_module(net))
        self.task = check_task(task)

    def members(self, x: Tensor, k: int | None = None) -> Tensor:
        return self.net(x).unsqueeze(0)

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return member_nll(self.net(x).unsqueeze(0), y, self.task).sum()


class MCDropout(Method):
    """Monte Carlo dropout: K stochastic passes with dropout on.

    Args:
        net: a network containing ``nn.Dropout`` layers (copied).
        k: passes averaged at prediction time (default for :meth:`members`).
        task: ``"classification"`` or ``"regression"``.

    Raises:
        ValueError: ``net`` has no dropout layer, or ``k`` < 1.

    Example:
        >>> import torch, torch.nn as nn
        >>> net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        >>> MCDropout(net, k=4).members(torch.randn(5, 3)).shape
        torch.Size([4, 5, 2])
    """

    def __init__(self, net: nn.Module, *, k: int = 20, task: str = "classification") -> None:
        super().__init__()
        self.net = copy.deepcopy(_check_module(net))
        if not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in self.net.modules()):
            raise ValueError(
                "MCDropout needs a network with at least one nn.Dropout layer, got none"
            )
        self.k = check_positive_int(k, "k")
        self.task = check_task(task)

    def members(self, x: Tensor, k: int | None = None) -> Tensor:
        k = self.k if k is None else check_positive_int(k, "k")
        was_training = self.net.training
        self.net.train()  # dropout on: every row of the K·N batch gets its own mask
        try:
            out = self.net(x.expand(k, *x.shape).reshape(k * x.shape[0], *x.shape[1:]))
        finally:
            self.net.train(was_training)
        return out.view(k, x.shape[0], *out.shape[1:])

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return member_nll(self.net(x).unsqueeze(0), y, self.task).sum()


class DeepEnsemble(Method):
    """A deep ensemble of ``size`` networks, trained and run vectorized.

    Member ``i`` starts from ``make()`` called under the seed ``(seed, i)`` and draws its own
    data order. The members' parameters live stacked, ``[size, *shape]`` each.

    Args:
        make: builds one (freshly initialised) member network.
        size: the number of members.
        task: ``"classification"`` or ``"regression"``.
        seed: seeds the members' initialisation.

    Raises:
        ValueError: ``size`` < 1.
        TypeError: ``make()`` does not return an ``nn.Module``.

    Example:
        >>> import torch, torch.nn as nn
        >>> ens = DeepEnsemble(lambda: nn.Linear(3, 2), size=5)
        >>> ens.members(torch.randn(4, 3)).shape, ens.num_params
        (torch.Size([5, 4, 2]), 40)
    """

    def __init__(
        self, make: object, *, size: int = 5, task: str = "classification", seed: int = 0
    ) -> None:
        super().__init__()
        self.size = check_positive_int(size, "size")
        self.task = check_task(task)
        if not callable(make):
            raise TypeError(f"make must be a callable returning an nn.Module, got {describe(make)}")
        nets = []
        for i in range(self.size):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed * 7919 + i)
                nets.append(_check_module(make()))
        params, buffers = stack_module_state(nets)
        self._names = list(params)
        self.stacked = nn.ParameterList([nn.Parameter(params[n].detach()) for n in self._names])
        for i, value in enumerate(buffers.values()):
            self.register_buffer(f"_buffer{i}", value)
        self._buffer_names = list(buffers)
        self.base = copy.deepcopy(nets[0]).to("meta").requires_grad_(False)

    def orders(self) -> int:
        return self.size

    def _state(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        params = dict(zip(self._names, self.stacked, strict=True))
        buffers = {n: getattr(self, f"_buffer{i}") for i, n in enumerate(self._buffer_names)}
        return params, buffers

    def _run(self, x: Tensor, shared: bool) -> Tensor:
        params, buffers = self._state()

        def one(p: dict[str, Tensor], b: dict[str, Tensor], xi: Tensor) -> Tensor:
            return functional_call(self.base, (p, b), (xi,))

        return vmap(one, in_dims=(0, 0, None if shared else 0))(params, buffers, x)

    def members(self, x: Tensor, k: int | None = None) -> Tensor:
        return self._run(x, shared=True)

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        # x: [size, B, ...], one batch per member; the sum keeps each member's gradient its own
        return member_nll(self._run(x, shared=False), y, self.task).sum()

    def member(self, i: int) -> nn.Module:
        """A standalone copy of member ``i`` (an ordinary module with its own parameters)."""
        if not isinstance(i, int) or not 0 <= i < self.size:
            raise ValueError(f"member index must lie in [0, {self.size - 1}], got {i!r}")
        params, buffers = self._state()
        net = copy.deepcopy(self.base).to_empty(device="cpu")
        with torch.no_grad():
            state = {n: v[i] for n, v in {**params, **buffers}.items()}
            net.load_state_dict(state)
        return net.requires_grad_(True)

    def fit(
        self,
        x: Tensor,
        y: Tensor,
        *,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
        progress: Progress | None = None,
        vectorized: bool = True,
    ) -> DeepEnsemble:
        """Train all members (see :meth:`Method.fit`).

        With ``vectorized=False`` each member is trained alone, one after another, as a
        plain module with its own Adam (the reference the vectorized path must equal).
        """
        if vectorized:
            super().fit(
                x,
                y,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                weight_decay=weight_decay,
                seed=seed,
                progress=progress,
            )
            return self
        gens = self.generators(seed)
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        for i in range(self.size):
            single = _Member(self.member(i), gens[i], task=self.task)
            single.fit(
                x,
                y,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                weight_decay=weight_decay,
                seed=seed,
            )
            with torch.no_grad():
                trained = dict(single.net.named_parameters())
                for name, stacked in zip(self._names, self.stacked, strict=True):
                    stacked[i].copy_(trained[name])
        return self


class _Member(Single):
    """One ensemble member trained alone, on the member's own data order."""

    def __init__(self, net: nn.Module, generator: torch.Generator, *, task: str) -> None:
        super().__init__(net, task=task)
        self._generator = generator

    def generators(self, seed: int) -> list[torch.Generator]:
        return [self._generator]
