"""``simulate``: run a federated method on a list of clients, in-process or on Flower."""

from __future__ import annotations

import dataclasses
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ._baselines import FedAvg, FedAvgFT, LocalOnly
from ._engine_local import run_local
from ._hyperfl import HyperFL
from ._pefll import PeFLL
from ._pfedhn import PFedHN, PFedHNPC
from ._protocol import ClientData, Method, Settings, Tensors
from ._schedule import Recorder

__all__ = ["METHODS", "FederatedResult", "build_method", "check_clients", "simulate"]

METHODS: dict[str, type[Method]] = {
    m.name: m for m in (PFedHN, PFedHNPC, PeFLL, HyperFL, FedAvg, FedAvgFT, LocalOnly)
}
ENGINES = ("local", "flower")


@dataclass
class FederatedResult:
    """What :func:`simulate` returns.

    Attributes:
        method: the method's name.
        client_accuracies: each training client's test accuracy after the last round.
        mean_client_accuracy: their mean.
        new_client_accuracy: mean accuracy of the new clients (None without new clients
            or for methods that have no way to serve them: pFedHN, pFedHN-PC, HyperFL, local).
        new_client_accuracies: each new client's accuracy, or None.
        history: one entry per evaluated round (round, mean and per-client accuracies).
        seconds: wall time of the run.
    """

    method: str
    client_accuracies: list[float]
    mean_client_accuracy: float
    new_client_accuracy: float | None
    new_client_accuracies: list[float] | None
    history: list[dict[str, object]]
    seconds: float
    _method: Method = field(repr=False)
    _payloads: dict[int, Tensors] = field(repr=False)
    _states: dict[int, Tensors] = field(repr=False)

    def materialize(self, client: int) -> nn.Module:
        """Client ``client``'s standalone model (new clients follow the training clients).

        Raises:
            ValueError: ``client`` was not evaluated in the last round.

        Example:
            >>> import torch, torch.nn as nn
            >>> from hypernetworks.federated import simulate
            >>> x, y = torch.randn(12, 4), torch.arange(12) % 2
            >>> client = (x[:8], y[:8], x[8:], y[8:])
            >>> data = [client] * 2
            >>> result = simulate(data, nn.Linear(4, 2), method="pfedhn", rounds=1)
            >>> type(result.materialize(1)).__name__
            'Linear'
        """
        if client not in self._payloads:
            raise ValueError(
                f"client {client} has no model: the evaluated clients are {sorted(self._payloads)}"
            )
        return self._method.client_model(self._payloads[client], self._states.get(client, {}))


def _describe(value: object) -> str:
    return (
        f"Tensor of shape {tuple(value.shape)}"
        if isinstance(value, Tensor)
        else type(value).__name__
    )


def check_clients(clients: object, name: str = "clients") -> list[ClientData]:
    """Validate a list of ``(x_train, y_train, x_test, y_test)`` tuples.

    Raises:
        TypeError: not a list of 4-tuples of tensors, or float labels.
        ValueError: no clients, an empty client, mismatched lengths, or feature sizes that
            differ between clients.
    """
    if not isinstance(clients, Sequence) or isinstance(clients, (str, Tensor)):
        raise TypeError(
            f"{name} must be a list of (x_train, y_train, x_test, y_test) tuples, "
            f"got {_describe(clients)}"
        )
    if len(clients) == 0:
        raise ValueError(f"{name} must hold at least one client, got an empty list")
    checked: list[ClientData] = []
    for i, client in enumerate(clients):
        if (
            not isinstance(client, (tuple, list))
            or len(client) != 4
            or not all(isinstance(t, Tensor) for t in client)
        ):
            raise TypeError(
                f"{name}[{i}] must be a tuple of 4 tensors (x_train, y_train, x_test, "
                f"y_test), got {_describe(client)}"
            )
        x, y, xt, yt = client
        for part, xs, ys in (("training", x, y), ("test", xt, yt)):
            if len(xs) == 0:
                raise ValueError(
                    f"{name}[{i}] has an empty {part} set; every client needs at "
                    f"least one {part} sample"
                )
            if len(xs) != len(ys):
                raise ValueError(
                    f"{name}[{i}]'s {part} inputs and labels must have the same length, "
                    f"got {len(xs)} and {len(ys)}"
                )
            if ys.is_floating_point() or ys.dim() != 1:
                raise TypeError(
                    f"{name}[{i}]'s {part} labels must be a 1-D integer tensor, "
                    f"got {_describe(ys)} of dtype {ys.dtype}"
                )
        if tuple(xt.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(
                f"{name}[{i}]'s test inputs have feature shape {tuple(xt.shape[1:])}, "
                f"its training inputs {tuple(x.shape[1:])}; they must match"
            )
        checked.append((x, y, xt, yt))
    shape = tuple(checked[0][0].shape[1:])
    for i, client in enumerate(checked):
        if tuple(client[0].shape[1:]) != shape:
            raise ValueError(
                f"every client must have the same feature shape: {name}[0] has "
                f"{shape}, {name}[{i}] has {tuple(client[0].shape[1:])}"
            )
    return checked


def _check_settings(settings: Settings) -> None:
    for name in ("local_steps", "finetune_steps", "batch_size", "eval_every", "embedding_dim"):
        value = getattr(settings, name)
        least = 0 if name.endswith("steps") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    k = settings.clients_per_round
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise ValueError(f"clients_per_round must be None (all) or an int >= 1, got {k!r}")
    for name in ("client_lr", "server_lr"):
        if not getattr(settings, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(settings, name)!r}")


def build_method(
    method: str,
    target: nn.Module,
    num_clients: int,
    *,
    seed: int,
    num_classes: int,
    input_shape: tuple[int, ...],
    settings: Settings,
) -> Method:
    """The method object called ``method`` (one of :data:`METHODS`)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    return METHODS[method](target, num_clients, settings, seed, num_classes, input_shape)


def simulate(
    clients: Sequence[ClientData],
    target: nn.Module,
    *,
    method: str,
    rounds: int,
    seed: int = 0,
    engine: str = "local",
    new_clients: Sequence[ClientData] | None = None,
    settings: Settings | None = None,
    progress: Callable[[range], object] | None = None,
    **overrides: object,
) -> FederatedResult:
    """Train ``method`` on ``clients`` for ``rounds`` rounds and test every client.

    Args:
        clients: one ``(x_train, y_train, x_test, y_test)`` per training client.
        target: the clients' model (any ``nn.Module``; left untouched).
        method: ``"pfedhn"``, ``"pfedhn-pc"``, ``"pefll"``, ``"hyperfl"``, ``"fedavg"``,
            ``"fedavg-ft"`` or ``"local"``.
        rounds: communication rounds (≥ 1).
        seed: seeds the method's initialisation, client sampling and every client's batches.
        engine: ``"local"`` (in-process) or ``"flower"`` (Flower's simulation engine, Ray).
        new_clients: clients never trained on, tested after the last round.
        settings: a :class:`Settings`; ``**overrides`` replace single fields of it.
        progress: wraps the range of rounds (e.g. ``tqdm``); local engine only.

    Returns:
        A :class:`FederatedResult`.

    Raises:
        ValueError: unknown method or engine, rounds < 1, empty clients, differing
            feature shapes.
        TypeError: malformed clients, rounds not an int, unknown setting.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hypernetworks.federated import simulate
        >>> x, y = torch.randn(12, 4), torch.arange(12) % 2
        >>> client = (x[:8], y[:8], x[8:], y[8:])
        >>> data = [client] * 3
        >>> result = simulate(data, nn.Linear(4, 2), method="fedavg", rounds=2, seed=0)
        >>> len(result.client_accuracies)
        3
    """
    if not isinstance(rounds, numbers.Integral) or isinstance(rounds, bool):
        raise TypeError(f"rounds must be an int, got {type(rounds).__name__}")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {list(ENGINES)}")
    if not isinstance(target, nn.Module):
        raise TypeError(f"target must be an nn.Module, got {_describe(target)}")
    data = check_clients(clients)
    extra = check_clients(new_clients, "new_clients") if new_clients is not None else []
    if extra and tuple(extra[0][0].shape[1:]) != tuple(data[0][0].shape[1:]):
        raise ValueError(
            f"new clients must have the clients' feature shape {tuple(data[0][0].shape[1:])}, "
            f"got {tuple(extra[0][0].shape[1:])}"
        )
    fields = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"unknown settings {unknown}; the settings are {sorted(fields)}")
    settings = dataclasses.replace(settings or Settings(), **overrides)
    _check_settings(settings)
    num_classes = (
        int(
            max(
                int(torch.cat([c[1] for c in data + extra]).max()),
                int(torch.cat([c[3] for c in data + extra]).max()),
            )
        )
        + 1
    )
    shape = tuple(data[0][0].shape[1:])
    start = time.perf_counter()
    if engine == "flower":
        from ._flower import run_flower

        built, recorder, states = run_flower(
            method,
            target,
            data + extra,
            len(data),
            rounds,
            seed=seed,
            num_classes=num_classes,
            input_shape=shape,
            settings=settings,
        )
    else:
        built = build_method(
            method,
            target,
            len(data),
            seed=seed,
            num_classes=num_classes,
            input_shape=shape,
            settings=settings,
        )
        recorder, states = Recorder(), {}
        run_local(
            built,
            data + extra,
            rounds,
            len(extra),
            recorder=recorder,
            states=states,
            progress=progress,
        )
    return finish(built, recorder, states, time.perf_counter() - start)


def finish(
    method: Method, recorder: Recorder, states: dict[int, Tensors], seconds: float
) -> FederatedResult:
    """Pack a finished run into a :class:`FederatedResult`."""
    accuracies = recorder.client_accuracies
    new = recorder.new_client_accuracies
    return FederatedResult(
        method=method.name,
        client_accuracies=accuracies,
        mean_client_accuracy=sum(accuracies) / len(accuracies),
        new_client_accuracy=None if not new else sum(new) / len(new),
        new_client_accuracies=new,
        history=recorder.history,
        seconds=seconds,
        _method=method,
        _payloads=recorder.payloads,
        _states=states,
    )
