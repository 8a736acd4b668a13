"""PeFLL-style learning-to-learn (Scott, Zakerinia & Lampert, ICLR 2024).

An *embedding network* φ (a :class:`hypernetworks.SetEncoder` over a client's
``(flattened x, one-hot y)`` pairs) runs on the client and turns its data into a descriptor
v = φ(D). The server's hypernetwork h turns the descriptors of all sampled clients into
their weights θ = h(v) in one batched call. A round has three phases:

1. ``describe``: the server sends φ; each client returns v = φ(D) (a vector, not data);
2. ``train``: the server sends θ_i = h(v_i); the client trains it and returns Δθ_i; the
   server backpropagates ``-Δθ`` into h (Adam step) *and* into each v_i;
3. ``embed``: the server sends each client ∂/∂v_i; the client backpropagates it through φ
   on its own data and returns φ's gradient, which the server averages (Adam step).

A client never seen in training gets its model from one forward pass: describe, generate.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from torch import Tensor, nn

import hypernetworks as hn

from ._pfedhn import PFedHN
from ._protocol import ClientData, Info, Tensors, load_into

__all__ = ["PeFLL"]


class PeFLL(PFedHN):
    """PeFLL-style: an embedding network over a client's data conditions the hypernetwork.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hypernetworks.federated._pefll import PeFLL
        >>> from hypernetworks.federated._protocol import Info
        >>> method = PeFLL(nn.Linear(4, 3), num_clients=2, num_classes=3, input_shape=(4,))
        >>> data = (torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), None, None)
        >>> sent = method.configure("describe", [0], Info(1, -1))[0]
        >>> reply, _ = method.handle("describe", sent, {}, data, Info(1, 0))
        >>> tuple(reply["v"].shape)
        (16,)
    """

    name: ClassVar[str] = "pefll"
    train_phases: ClassVar[tuple[str, ...]] = ("describe", "train", "embed")
    eval_phases: ClassVar[tuple[str, ...]] = ("describe", "evaluate")
    serves_new_clients: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        features = 1
        for size in self.input_shape:
            features *= size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            self.phi = hn.SetEncoder(features + self.num_classes, self.settings.embedding_dim)
        self.phi_names = [n for n, _ in self.phi.named_parameters()]
        self._phi_optimizer = torch.optim.Adam(self.phi.parameters(), lr=self.settings.server_lr)
        self._descriptors: dict[int, Tensor] = {}
        self._v_grads: dict[int, Tensor] = {}
        self._leaf: Tensor | None = None

    def _build(self) -> hn.HyperModel:
        return hn.hypernetize(
            self.target,
            self.settings.embedding_dim,
            params=self.shared_names,
            hidden=self.settings.hidden,
            mip=self.settings.mip,
        )

    # -- server ------------------------------------------------------------------------
    def _phi_payload(self) -> Tensors:
        return {"phi." + n: p.detach().clone() for n, p in self.phi.named_parameters()}

    def configure(self, phase: str, ids: list[int], info: Info) -> dict[int, Tensors]:
        if phase == "describe":
            payload = self._phi_payload()
            return {i: payload for i in ids}
        if phase == "embed":
            payload = self._phi_payload()
            return {i: {**payload, "grad": self._v_grads[i]} for i in ids}
        leaf = torch.stack([self._descriptors[i] for i in ids]).requires_grad_(phase == "train")
        self._leaf = leaf
        return super().configure(phase, ids, info)  # θ = h(v) for all ids in one call

    def _generate(self, condition: object, train: bool) -> dict[str, Tensor]:
        with torch.set_grad_enabled(train):
            return self.hnet.generate(self._leaf)

    def aggregate(self, phase: str, replies: dict[int, Tensors], info: Info) -> None:
        if phase == "describe":
            self._descriptors.update({i: r["v"] for i, r in replies.items()})
        elif phase == "train":
            ids = sorted(replies)
            super().aggregate(phase, replies, info)
            if self._leaf is None or self._leaf.grad is None:
                raise RuntimeError("aggregate('train') needs configure('train') first")
            self._v_grads = {i: self._leaf.grad[k].clone() for k, i in enumerate(ids)}
        elif phase == "embed":
            params = dict(self.phi.named_parameters())
            for n in self.phi_names:
                params[n].grad = torch.stack([r["phi." + n] for r in replies.values()]).mean(0)
            self._phi_optimizer.step()
            self._phi_optimizer.zero_grad()

    def server_state(self) -> dict[str, object]:
        return {
            **super().server_state(),
            "phi": self.phi.state_dict(),
            "phi_optimizer": self._phi_optimizer.state_dict(),
        }

    def load_server_state(self, state: dict[str, object]) -> None:
        super().load_server_state(state)
        self.phi.load_state_dict(state["phi"])  # type: ignore[arg-type]
        self._phi_optimizer.load_state_dict(state["phi_optimizer"])  # type: ignore[arg-type]

    # -- client ------------------------------------------------------------------------
    def _features(self, data: ClientData) -> Tensor:
        x, y = data[0], data[1]
        onehot = nn.functional.one_hot(y, self.num_classes).to(x.dtype)
        return torch.cat([x.reshape(len(x), -1), onehot], dim=1)

    def client_step(
        self, phase: str, payload: Tensors, state: Tensors, data: ClientData, info: Info
    ) -> tuple[Tensors, Tensors]:
        if phase == "train":
            return super().client_step(phase, payload, state, data, info)
        phi = load_into(copy.deepcopy(self.phi), payload, "phi.")
        if phase == "describe":
            with torch.no_grad():
                return {"v": phi(self._features(data))}, state
        v = phi(self._features(data))
        v.backward(payload["grad"])
        return {
            "phi." + n: p.grad if p.grad is not None else torch.zeros_like(p)
            for n, p in phi.named_parameters()
        }, state
