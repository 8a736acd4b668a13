"""The named federated benchmarks the CLI runs: MNIST-5k and digits, split among clients.

``federated_data`` partitions a data set among ``clients`` clients (pathological: 2 classes
each; or Dirichlet(α)), gives each client its own train/test split, and holds out 20 % of
the clients as *new* clients that never take part in training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..datasets import (
    client_datasets,
    load_digits,
    load_mnist,
    partition_dirichlet,
    partition_pathological,
)
from ._engine_local import run_local
from ._protocol import ClientData, Settings, Tensors
from ._schedule import Recorder
from ._simulate import FederatedResult, build_method, check_clients, finish

__all__ = ["BENCHMARKS", "digits_mlp", "federated_data", "mnist_cnn", "run_benchmark"]


def mnist_cnn() -> nn.Module:
    """The clients' model for MNIST: a small LeNet-style CNN (12k parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


def digits_mlp() -> nn.Module:
    """The clients' model for digits: an MLP 64-64-10."""
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


BENCHMARKS: dict[
    str, tuple[Callable[[], tuple[torch.Tensor, torch.Tensor]], Callable[[], nn.Module]]
] = {
    "mnist": (lambda: load_mnist(images=True), mnist_cnn),
    "digits": (lambda: load_digits(images=False), digits_mlp),
}


def federated_data(
    benchmark: str,
    clients: int,
    *,
    partition: str = "pathological",
    alpha: float = 0.5,
    new_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[list[ClientData], list[ClientData]]:
    """``(training clients, new clients)`` of a benchmark.

    Args:
        benchmark: ``"mnist"`` (MNIST-5k) or ``"digits"``.
        clients: all clients, new ones included.
        partition: ``"pathological"`` (2 classes per client) or ``"dirichlet"``.
        alpha: Dirichlet concentration.
        new_fraction: share of clients held out as new clients.
        seed: seeds the partition, the splits and which clients are held out.

    Returns:
        Two lists of ``(x_train, y_train, x_test, y_test)``.

    Raises:
        ValueError: unknown benchmark or partition, or fewer than 2 clients.

    Example:
        >>> from hypernetworks.federated._benchmarks import federated_data
        >>> train, new = federated_data("digits", 10, seed=0)
        >>> len(train), len(new)
        (8, 2)
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {sorted(BENCHMARKS)}")
    if clients < 2:
        raise ValueError(f"clients must be at least 2 (some train, some are new), got {clients}")
    x, y = BENCHMARKS[benchmark][0]()
    if partition == "pathological":
        parts = partition_pathological(y, clients, seed=seed)
    elif partition == "dirichlet":
        parts = partition_dirichlet(y, clients, alpha=alpha, seed=seed)
    else:
        raise ValueError(f"unknown partition {partition!r}; expected 'pathological' or 'dirichlet'")
    data = client_datasets(x, y, parts, seed=seed)
    order = torch.randperm(clients, generator=torch.Generator().manual_seed(seed)).tolist()
    held = max(1, round(new_fraction * clients)) if new_fraction > 0 else 0
    return [data[i] for i in order[held:]], [data[i] for i in order[:held]]


def run_benchmark(
    run: Any,
    *,
    benchmark: str,
    method: str,
    clients: int,
    rounds: int,
    partition: str,
    alpha: float,
    engine: str,
    settings: dict[str, object],
) -> tuple[FederatedResult, Any]:
    """Run one method on one benchmark inside a ``runner.Run`` (checkpoints after every
    round and ``--resume`` with the local engine). Returns the result and the target."""
    train, new = federated_data(benchmark, clients, partition=partition, alpha=alpha, seed=run.seed)
    target = BENCHMARKS[benchmark][1]()
    config = dataclasses.replace(Settings(), **settings)  # type: ignore[arg-type]
    num_classes = 10
    shape = tuple(train[0][0].shape[1:])
    if engine == "flower":
        from ._simulate import simulate

        return simulate(
            train,
            target,
            method=method,
            rounds=rounds,
            seed=run.seed,
            engine="flower",
            new_clients=new,
            settings=config,
        ), target
    check_clients(train)
    built = build_method(
        method,
        target,
        len(train),
        seed=run.seed,
        num_classes=num_classes,
        input_shape=shape,
        settings=config,
    )
    recorder, states, start = Recorder(), {}, 1
    if run.resumed is not None:
        built.load_server_state(run.resumed["server"])
        states = {int(k): v for k, v in run.resumed["clients"].items()}
        recorder.history = list(run.resumed["history"])
        recorder.client_accuracies = list(run.resumed["client_accuracies"])
        start = int(run.resumed["round"]) + 1
    elapsed = float(run.resumed["seconds"]) if run.resumed is not None else 0.0
    began = run.seconds

    def save(r: int) -> None:
        clients_state: dict[str, Tensors] = {str(k): v for k, v in states.items()}
        run.save_checkpoint(
            {
                "round": r,
                "server": built.server_state(),
                "clients": clients_state,
                "history": recorder.history,
                "client_accuracies": recorder.client_accuracies,
                "seconds": elapsed + run.seconds - began,
            }
        )

    run_local(
        built,
        train + new,
        rounds,
        len(new),
        recorder=recorder,
        states=states,
        start=start,
        progress=lambda span: run.progress(span, desc=f"{method} rounds"),
        on_round=save,
    )
    return finish(built, recorder, states, elapsed + run.seconds - began), target
