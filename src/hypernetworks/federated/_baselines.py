"""The baselines: FedAvg (McMahan et al. 2017), FedAvg + fine-tuning, and local-only training."""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from torch import nn

from ._protocol import ClientData, Info, Method, Tensors, accuracy, load_into, parameters_of

__all__ = ["FedAvg", "FedAvgFT", "LocalOnly"]


class FedAvg(Method):
    """One global model; clients train it locally and the server averages the results,
    weighted by the clients' numbers of training samples.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hypernetworks.federated._baselines import FedAvg
        >>> from hypernetworks.federated._protocol import Info
        >>> method = FedAvg(nn.Linear(4, 3), num_clients=2)
        >>> payloads = method.configure("train", [0, 1], Info(1, -1))
        >>> sorted(payloads[0])
        ['bias', 'weight']
    """

    name: ClassVar[str] = "fedavg"
    serves_new_clients: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.names = [n for n, _ in self.target.named_parameters()]
        self.weights = parameters_of(self.target, self.names)

    def configure(self, phase: str, ids: list[int], info: Info) -> dict[int, Tensors]:
        return {i: self.weights for i in ids}

    def aggregate(self, phase: str, replies: dict[int, Tensors], info: Info) -> None:
        if phase != "train":
            return
        sizes = {i: float(r["num_examples"]) for i, r in replies.items()}
        total = sum(sizes.values())
        self.weights = {
            n: sum(r[n] * (sizes[i] / total) for i, r in replies.items())  # type: ignore[misc]
            for n in self.names
        }

    def server_state(self) -> dict[str, object]:
        return {"weights": self.weights}

    def load_server_state(self, state: dict[str, object]) -> None:
        self.weights = dict(state["weights"])  # type: ignore[call-overload]

    def client_model(self, payload: Tensors, state: Tensors) -> nn.Module:
        return load_into(copy.deepcopy(self.target), payload)

    def client_step(
        self, phase: str, payload: Tensors, state: Tensors, data: ClientData, info: Info
    ) -> tuple[Tensors, Tensors]:
        model = self.client_model(payload, state)
        self.local_train(model, data, info, phase)
        reply = parameters_of(model, self.names)
        reply["num_examples"] = torch.tensor(float(len(data[0])), dtype=torch.float64)
        return reply, state


class FedAvgFT(FedAvg):
    """FedAvg whose global model each client fine-tunes on its own data before testing.

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks.federated._baselines import FedAvgFT
        >>> FedAvgFT(nn.Linear(4, 3), num_clients=2).name
        'fedavg-ft'
    """

    name: ClassVar[str] = "fedavg-ft"

    def evaluate(self, payload: Tensors, state: Tensors, data: ClientData, info: Info) -> Tensors:
        model = self.client_model(payload, state)
        self.local_train(model, data, info, "finetune", steps=self.settings.finetune_steps)
        return accuracy(model, data[2], data[3])


class LocalOnly(Method):
    """Every client trains its own model on its own data; nothing is shared.

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks.federated._baselines import LocalOnly
        >>> LocalOnly(nn.Linear(4, 3), num_clients=2).name
        'local'
    """

    name: ClassVar[str] = "local"

    def configure(self, phase: str, ids: list[int], info: Info) -> dict[int, Tensors]:
        return {i: {} for i in ids}

    def client_model(self, payload: Tensors, state: Tensors) -> nn.Module:
        return load_into(copy.deepcopy(self.target), state)

    def client_step(
        self, phase: str, payload: Tensors, state: Tensors, data: ClientData, info: Info
    ) -> tuple[Tensors, Tensors]:
        model = self.client_model(payload, state)
        self.local_train(model, data, info, phase)
        return {}, parameters_of(model, [n for n, _ in model.named_parameters()])
