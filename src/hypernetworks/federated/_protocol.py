"""What every federated method shares: settings, the phase protocol, client-side training.

A method is one object that holds both sides of the algorithm. A round is a sequence of
*phases* (``"train"`` for most methods; PeFLL adds ``"describe"`` and ``"embed"``); in
each phase the server's ``configure`` gives every sampled client a payload, the client's
``client_step`` returns a reply and a new private state, and the server's ``aggregate``
consumes the replies. Payloads, replies and private states are ``dict[str, Tensor]``, so
the in-process engine passes them as they are and the Flower engine carries them in
``ArrayRecord`` messages: both engines run the very same functions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["ClientData", "Info", "Method", "Settings", "Tensors", "accuracy", "train_steps"]

Tensors = dict[str, Tensor]
ClientData = tuple[Tensor, Tensor, Tensor, Tensor]


@dataclass(frozen=True)
class Settings:
    """Hyperparameters shared by the methods (the defaults were chosen on digits, seed 0).

    Attributes:
        clients_per_round: clients sampled per round (``None``: all training clients).
        local_steps: SGD steps a client takes per round.
        batch_size: client mini-batch size.
        client_lr: client SGD learning rate (momentum 0.9).
        server_lr: Adam learning rate of a server-side hypernetwork (pFedHN, PeFLL).
        embedding_dim: size of client embeddings.
        hidden: widths of the hypernetwork's body.
        finetune_steps: FedAvg + fine-tuning's local steps before evaluation.
        classifier: glob patterns of the personal classifier (pFedHN-PC, HyperFL);
            ``None``: the last module that has parameters.
        mip: MIP's residual for pFedHN/PeFLL (round 1 gives every client θ₀).
        eval_every: evaluate all clients every this many rounds (and after the last).
    """

    clients_per_round: int | None = None
    local_steps: int = 20
    batch_size: int = 32
    client_lr: float = 0.05
    server_lr: float = 1e-3
    embedding_dim: int = 16
    hidden: tuple[int, ...] = (100, 100)
    finetune_steps: int = 20
    classifier: tuple[str, ...] | None = None
    mip: bool = True
    eval_every: int = 1


@dataclass(frozen=True)
class Info:
    """What a client is told besides its payload: the round, its id, whether it is new."""

    round: int
    client: int
    new: bool = False


def client_generator(seed: int, info: Info, phase: str) -> torch.Generator:
    """The generator of a client's batches: the same in every engine and process."""
    code = sum(ord(ch) * 31**i for i, ch in enumerate(phase)) % 1_000_003
    mixed = np.random.SeedSequence([seed, info.round, info.client, int(info.new), code])
    return torch.Generator().manual_seed(int(mixed.generate_state(1)[0]))


def train_steps(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    params: list[Tensor] | None = None,
    forward: object = None,
    max_norm: float | None = None,
) -> None:
    """``steps`` SGD steps (momentum 0.9) on mini-batches drawn with ``generator``; the
    gradient's norm is clipped to ``max_norm`` when given."""
    trainable = list(model.parameters()) if params is None else params
    optimizer = torch.optim.SGD(trainable, lr=lr, momentum=0.9)
    run = forward if callable(forward) else model
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=generator)
        loss = nn.functional.cross_entropy(run(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(trainable, max_norm)
        optimizer.step()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> Tensors:
    """``{"correct", "total"}`` of ``model`` on ``(x, y)``, as 0-d tensors."""
    model.eval()
    correct = (model(x).argmax(-1) == y).sum()
    return {"correct": correct.double(), "total": torch.tensor(float(len(y)), dtype=torch.float64)}


def last_module_patterns(target: nn.Module) -> tuple[str, ...]:
    """Glob patterns for the parameters of ``target``'s last module that has its own."""
    owners = [
        name for name, m in target.named_modules() if any(True for _ in m.parameters(recurse=False))
    ]
    if not owners:
        raise ValueError(
            "the target has no parameters; a federated method needs something to train"
        )
    return (f"{owners[-1]}.*" if owners[-1] else "*",)


def load_into(model: nn.Module, tensors: Tensors, prefix: str = "") -> nn.Module:
    """Copy ``tensors`` (name -> value, names under ``prefix``) into ``model``'s parameters."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            if name.startswith(prefix) and name[len(prefix) :] in params:
                params[name[len(prefix) :]].copy_(value)
    return model


def parameters_of(
    model: nn.Module, names: list[str] | tuple[str, ...], prefix: str = ""
) -> Tensors:
    """Detached copies of ``model``'s named parameters, keys prefixed."""
    params = dict(model.named_parameters())
    return {prefix + n: params[n].detach().clone() for n in names}


@dataclass
class Method:
    """Base class of the federated methods (see the module docstring for the protocol).

    Subclasses implement ``configure``, ``aggregate``, ``client_step``, ``client_model``
    and the server state hooks. The constructor must be deterministic under ``seed``: the
    Flower engine builds the method again in every client process.
    """

    target: nn.Module
    num_clients: int
    settings: Settings = field(default_factory=Settings)
    seed: int = 0
    num_classes: int = 10
    input_shape: tuple[int, ...] = ()

    name: ClassVar[str] = ""
    train_phases: ClassVar[tuple[str, ...]] = ("train",)
    eval_phases: ClassVar[tuple[str, ...]] = ("evaluate",)
    serves_new_clients: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.target = copy.deepcopy(self.target)

    # -- server side -------------------------------------------------------------------
    def sample(self, round: int) -> list[int]:
        """The clients trained in ``round``: a seeded draw without replacement."""
        k = self.settings.clients_per_round or self.num_clients
        rng = np.random.default_rng([self.seed, round])
        return sorted(
            int(i) for i in rng.choice(self.num_clients, min(k, self.num_clients), replace=False)
        )

    def configure(self, phase: str, ids: list[int], info: Info) -> dict[int, Tensors]:
        raise NotImplementedError

    def aggregate(self, phase: str, replies: dict[int, Tensors], info: Info) -> None:
        """Consume the clients' replies to ``phase`` (default: nothing to do)."""

    def server_state(self) -> dict[str, object]:
        return {}

    def load_server_state(self, state: dict[str, object]) -> None:
        """Restore what :meth:`server_state` returned."""

    # -- client side -------------------------------------------------------------------
    def handle(
        self, phase: str, payload: Tensors, state: Tensors, data: ClientData, info: Info
    ) -> tuple[Tensors, Tensors]:
        """A client's answer to ``phase``: ``(reply, new private state)``; engines call this."""
        if not state:
            state = self.initial_state(info)
        if phase == "evaluate":
            return self.evaluate(payload, state, data, info), state
        return self.client_step(phase, payload, state, data, info)

    def initial_state(self, info: Info) -> Tensors:
        """A client's private state before its first step (default: none)."""
        return {}

    def client_step(
        self, phase: str, payload: Tensors, state: Tensors, data: ClientData, info: Info
    ) -> tuple[Tensors, Tensors]:
        raise NotImplementedError

    def client_model(self, payload: Tensors, state: Tensors) -> nn.Module:
        raise NotImplementedError

    def evaluate(self, payload: Tensors, state: Tensors, data: ClientData, info: Info) -> Tensors:
        """The client's ``{"correct", "total"}`` on its test set (overridden by fine-tuning)."""
        return accuracy(self.client_model(payload, state), data[2], data[3])

    def generator(self, info: Info, phase: str) -> torch.Generator:
        return client_generator(self.seed, info, phase)

    def local_train(
        self,
        model: nn.Module,
        data: ClientData,
        info: Info,
        phase: str,
        steps: int | None = None,
        params: list[Tensor] | None = None,
        forward: object = None,
        max_norm: float | None = None,
    ) -> None:
        s = self.settings
        train_steps(
            model,
            data[0],
            data[1],
            steps=s.local_steps if steps is None else steps,
            batch_size=s.batch_size,
            lr=s.client_lr,
            generator=self.generator(info, phase),
            params=params,
            forward=forward,
            max_norm=max_norm,
        )
