"""pFedHN and pFedHN-PC (Shamsian, Navon, Fetaya & Chechik, ICML 2021).

The hypernetwork and the client embeddings stay on the server. Each round the server
generates the weights of *all* sampled clients in one ``HyperModel.generate(ids)`` call
and sends client ``i`` its own weights θ_i. The client trains them for a few local steps
and returns Δθ_i; the server backpropagates ``-Δθ_i`` through the generated tensors
(``torch.autograd.backward(θ, grad_tensors=-Δθ)``), which is pFedHN's update
``∇φ = (∂θ/∂φ)ᵀ(θ − θ̃)``, and takes one Adam step. pFedHN-PC generates only the feature
extractor; each client keeps a personal classifier that never leaves it.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from torch import nn

import hypernetworks as hn

from ._protocol import (
    ClientData,
    Info,
    Method,
    Tensors,
    last_module_patterns,
    load_into,
    parameters_of,
)

__all__ = ["PFedHN", "PFedHNPC"]


class PFedHN(Method):
    """pFedHN: a server-side hypernetwork generates every client's whole model.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hypernetworks.federated._pfedhn import PFedHN
        >>> from hypernetworks.federated._protocol import Info
        >>> method = PFedHN(nn.Linear(4, 3), num_clients=5)
        >>> payloads = method.configure("train", [0, 3], Info(1, -1))  # one batched call
        >>> sorted(payloads), tuple(payloads[3]["weight"].shape)
        ([0, 3], (3, 4))
    """

    name: ClassVar[str] = "pfedhn"
    personal_classifier: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        names = [n for n, _ in self.target.named_parameters()]
        if self.personal_classifier:
            patterns = self.settings.classifier or last_module_patterns(self.target)
            private = set(hn.select_parameters(self.target, list(patterns)))
            if len(private) == len(names):
                raise ValueError(
                    f"the personal classifier {list(patterns)} must leave some parameters to "
                    "generate; it selects all of them"
                )
        else:
            private = set()
        self.shared_names = [n for n in names if n not in private]
        self.private_names = [n for n in names if n in private]
        self._hnet: hn.HyperModel | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._pending: tuple[list[int], dict[str, torch.Tensor]] | None = None

    # -- server ------------------------------------------------------------------------
    def _build(self) -> hn.HyperModel:
        return hn.hypernetize(
            self.target,
            hn.TaskEmbedding(self.num_clients, self.settings.embedding_dim),
            params=self.shared_names,
            hidden=self.settings.hidden,
            mip=self.settings.mip,
        )

    @property
    def hnet(self) -> hn.HyperModel:
        """The server's hypernetwork (built on first use, seeded by ``seed``)."""
        if self._hnet is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                self._hnet = self._build()
            self._optimizer = torch.optim.Adam(self._hnet.parameters(), lr=self.settings.server_lr)
        return self._hnet

    def _generate(self, condition: object, train: bool) -> dict[str, torch.Tensor]:
        with torch.set_grad_enabled(train):
            return self.hnet.generate(condition)  # all sampled clients in one call

    def configure(self, phase: str, ids: list[int], info: Info) -> dict[int, Tensors]:
        generated = self._generate(torch.tensor(ids), train=phase == "train")
        if phase == "train":
            self._pending = (ids, generated)
        return {i: {n: w[k].detach() for n, w in generated.items()} for k, i in enumerate(ids)}

    def _backward(self, replies: dict[int, Tensors]) -> None:
        if self._pending is None or self._optimizer is None:
            raise RuntimeError("aggregate('train') needs configure('train') first")
        ids, generated = self._pending
        self._pending = None
        names = list(generated)
        grads = [-torch.stack([replies[i][n] for i in ids]) / len(ids) for n in names]
        torch.autograd.backward([generated[n] for n in names], grad_tensors=grads)

    def aggregate(self, phase: str, replies: dict[int, Tensors], info: Info) -> None:
        if phase != "train":
            return
        self._backward(replies)
        self.optimizer.step()
        self.optimizer.zero_grad()

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The server's Adam over the hypernetwork (built with it)."""
        _ = self.hnet  # built on first use, together with its optimizer
        if self._optimizer is None:
            raise RuntimeError("the hypernetwork's optimizer was not built")
        return self._optimizer

    def server_state(self) -> dict[str, object]:
        return {"hnet": self.hnet.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_server_state(self, state: dict[str, object]) -> None:
        self.hnet.load_state_dict(state["hnet"])  # type: ignore[arg-type]
        self.optimizer.load_state_dict(state["optimizer"])  # type: ignore[arg-type]

    # -- client ------------------------------------------------------------------------
    def client_model(self, payload: Tensors, state: Tensors) -> nn.Module:
        return load_into(load_into(copy.deepcopy(self.target), payload), state)

    def client_step(
        self, phase: str, payload: Tensors, state: Tensors, data: ClientData, info: Info
    ) -> tuple[Tensors, Tensors]:
        model = self.client_model(payload, state)
        self.local_train(model, data, info, phase)
        trained = parameters_of(model, self.shared_names)
        delta = {n: trained[n] - payload[n] for n in self.shared_names}
        return delta, parameters_of(model, self.private_names)


class PFedHNPC(PFedHN):
    """pFedHN-PC: the hypernetwork generates the feature extractor; each client keeps its
    own classifier (``Settings.classifier``, default the target's last module).

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks.federated._pfedhn import PFedHNPC
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> PFedHNPC(net, num_clients=3).private_names
        ['2.weight', '2.bias']
    """

    name: ClassVar[str] = "pfedhn-pc"
    personal_classifier: ClassVar[bool] = True
