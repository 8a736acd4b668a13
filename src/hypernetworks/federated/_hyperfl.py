"""HyperFL (Guo et al., AAAI 2025): only the hypernetwork is shared.

Each client holds a private embedding e_i and a private classifier. A hypernetwork turns
e_i into the client's feature extractor; the client trains all three locally and uploads
*only the hypernetwork*, which the server averages as FedAvg would. The embedding and the
classifier never leave the client, so an attacker who sees an upload does not know the
function that produced the gradients (see ``_attack.py``).

MIP's residual is off here: with it, the shared θ₀ of ``θ = θ₀ + Δθ(e)`` would be
uploaded, and its update is exactly the feature extractor's own gradient, which is what
gradient inversion needs.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from torch import Tensor, nn

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

__all__ = ["HyperFL"]


class HyperFL(Method):
    """HyperFL: a shared hypernetwork, private client embeddings and classifiers.

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks.federated._hyperfl import HyperFL
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> method = HyperFL(net, num_clients=3)
        >>> method.private_names
        ['embedding', 'target.2.weight', 'target.2.bias']
    """

    name: ClassVar[str] = "hyperfl"

    def __post_init__(self) -> None:
        super().__post_init__()
        patterns = self.settings.classifier or last_module_patterns(self.target)
        classifier = set(hn.select_parameters(self.target, list(patterns)))
        features = [n for n, _ in self.target.named_parameters() if n not in classifier]
        if not features:
            raise ValueError(
                f"the classifier {list(patterns)} must leave a feature extractor to "
                "generate; it selects every parameter"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.template = hn.hypernetize(
                self.target,
                self.settings.embedding_dim,
                params=features,
                hidden=self.settings.hidden,
                mip=False,
            )
        params = dict(self.template.named_parameters())
        self.shared_names = [n for n in params if not n.startswith("target.")]
        self.private_names = ["embedding"] + [
            f"target.{n}" for n in self.target.state_dict() if n in classifier
        ]
        self.weights = parameters_of(self.template, self.shared_names)

    # -- server: FedAvg over the hypernetwork ------------------------------------------
    def configure(self, phase: str, ids: list[int], info: Info) -> dict[int, Tensors]:
        return {i: self.weights for i in ids}

    def aggregate(self, phase: str, replies: dict[int, Tensors], info: Info) -> None:
        if phase != "train":
            return
        sizes = {i: float(r["num_examples"]) for i, r in replies.items()}
        total = sum(sizes.values())
        self.weights = {
            n: torch.stack([r[n] * (sizes[i] / total) for i, r in replies.items()]).sum(0)
            for n in self.shared_names
        }

    def server_state(self) -> dict[str, object]:
        return {"weights": self.weights}

    def load_server_state(self, state: dict[str, object]) -> None:
        self.weights = dict(state["weights"])  # type: ignore[call-overload]

    # -- client ------------------------------------------------------------------------
    def initial_embedding(self, client: int) -> Tensor:
        """Client ``client``'s starting embedding: N(0, 1), seeded by ``(seed, client)``."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + client)
        return torch.randn(self.settings.embedding_dim, generator=generator)

    def initial_state(self, info: Info) -> Tensors:
        """The client's starting embedding and the public initialisation of its classifier."""
        embedding = self.initial_embedding(info.client)
        return {"embedding": embedding, **parameters_of(self.template, self.private_names[1:])}

    def _hypermodel(self, payload: Tensors, state: Tensors) -> hn.HyperModel:
        model = copy.deepcopy(self.template)
        load_into(model, payload)
        load_into(model, state)  # the private classifier, when the client has one
        return model

    def client_model(self, payload: Tensors, state: Tensors) -> nn.Module:
        return self._hypermodel(payload, state).materialize(state["embedding"])

    def client_step(
        self, phase: str, payload: Tensors, state: Tensors, data: ClientData, info: Info
    ) -> tuple[Tensors, Tensors]:
        model = self._hypermodel(payload, state)
        embedding = nn.Parameter(state["embedding"].clone())
        self.local_train(
            model,
            data,
            info,
            phase,
            params=[*model.parameters(), embedding],
            forward=lambda x: model(x, embedding),
            max_norm=10.0,  # without it, MNIST's 100-round run diverged (a NaN embedding)
        )
        reply = parameters_of(model, self.shared_names)
        reply["num_examples"] = torch.tensor(float(len(data[0])), dtype=torch.float64)
        private = parameters_of(model, self.private_names[1:])
        return reply, {"embedding": embedding.detach().clone(), **private}
