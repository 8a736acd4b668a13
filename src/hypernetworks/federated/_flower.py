"""The Flower engine: the methods as a ``ServerApp`` (with a ``Strategy`` subclass) and a
``ClientApp``, run in Flower's simulation engine or as a real SuperLink/SuperNode deployment.

Every step of the schedule (``_schedule.py``) is one Flower round: ``configure_train``
asks the method for the payloads of that step's clients (for pFedHN all of them come from
one batched ``generate`` call), sends each node its own payload in an ``ArrayRecord``,
and ``aggregate_train`` hands the replies to the method (pFedHN backpropagates the
clients' Δθ through the hypernetwork there). Nodes have random ids, so the server first
asks every node for its ``partition-id`` (a ``query`` message) and addresses client ``i``
at the node whose ``partition-id`` is ``i``. A client's private state (a personal
classifier, a HyperFL embedding, a local model) lives in the node's ``context.state``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from logging import INFO
from typing import Any

import numpy as np
import torch

from ._protocol import ClientData, Info, Method, Settings, Tensors
from ._schedule import Recorder, Step, schedule

__all__ = ["FederatedStrategy", "make_client_app", "make_server_app", "run_flower"]

_STATE_KEY = "hypernetworks-federated"


def to_record(tensors: Tensors) -> Any:
    """A ``dict[str, Tensor]`` as a Flower ``ArrayRecord``."""
    from flwr.app import Array, ArrayRecord

    record = ArrayRecord()
    for name, value in tensors.items():
        record[name] = Array.from_numpy_ndarray(np.ascontiguousarray(value.detach().cpu().numpy()))
    return record


def from_record(record: Any) -> Tensors:
    """A Flower ``ArrayRecord`` as a ``dict[str, Tensor]`` (copies: the arrays are read-only)."""
    return {
        name: torch.from_numpy(np.array(array.numpy(), copy=True)) for name, array in record.items()
    }


def _check(reply: Any) -> Any:
    if reply.has_error():
        raise RuntimeError(f"a federated client failed: {reply.error.reason}")
    return reply


class FederatedStrategy:  # the Strategy base class is mixed in by _strategy_class()
    """Runs a method's schedule: one Flower round per step.

    Args:
        method: the server side of the algorithm.
        steps: the schedule (see ``_schedule.schedule``).
        nodes: client id -> Flower node id.
        recorder: collects the evaluation replies.
    """

    def __init__(
        self, method: Method, steps: list[Step], nodes: dict[int, int], recorder: Recorder
    ) -> None:
        self.method, self.steps, self.nodes, self.recorder = method, steps, nodes, recorder
        self.states: dict[int, Tensors] = {}
        self._payloads: dict[int, Tensors] = {}

    def configure_train(
        self, server_round: int, arrays: Any, config: Any, grid: Any
    ) -> Iterable[Any]:
        from flwr.app import ConfigRecord, Message, RecordDict

        step = self.steps[server_round - 1]
        self._payloads = self.method.configure(
            step.phase, list(step.ids), Info(step.round, -1, step.new)
        )
        final = step.evaluation and step.phase == "evaluate" and step.round == self.steps[-1].round
        messages = []
        for i in step.ids:
            meta = ConfigRecord(
                {
                    "phase": step.phase,
                    "round": step.round,
                    "client": i,
                    "new": step.new,
                    "return-state": final,
                }
            )
            content = RecordDict({"payload": to_record(self._payloads[i]), "meta": meta})
            messages.append(Message(content, dst_node_id=self.nodes[i], message_type="train"))
        return messages

    def aggregate_train(self, server_round: int, replies: Iterable[Any]) -> tuple[None, None]:
        step = self.steps[server_round - 1]
        received: dict[int, Tensors] = {}
        for reply in replies:
            content = _check(reply).content
            client = int(content["meta"]["client"])
            received[client] = from_record(content["reply"])
            if "state" in content:
                self.states[client] = from_record(content["state"])
        missing = sorted(set(step.ids) - set(received))
        if missing:
            raise RuntimeError(
                f"round {step.round}, phase {step.phase!r}: no reply from clients {missing}"
            )
        received = dict(sorted(received.items()))  # the local engine's order: same sums, same bits
        self.method.aggregate(step.phase, received, Info(step.round, -1, step.new))
        self.recorder.record(step, received, self._payloads)
        return None, None

    def configure_evaluate(
        self, server_round: int, arrays: Any, config: Any, grid: Any
    ) -> list[Any]:
        return []  # evaluation is part of the schedule

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Any]) -> None:
        return None

    def summary(self) -> None:
        from flwr.common.logger import log

        log(INFO, "hypernetworks.federated: %s, %d steps", self.method.name, len(self.steps))


def _strategy_class() -> type:
    from flwr.serverapp.strategy import Strategy

    return type("HypernetworkStrategy", (FederatedStrategy, Strategy), {})


def _partition_map(grid: Any, expected: int, timeout: float) -> dict[int, int]:
    """partition-id -> node id, after waiting for ``expected`` nodes to connect."""
    from flwr.app import Message, RecordDict

    deadline = time.monotonic() + timeout
    nodes = list(grid.get_node_ids())
    while len(nodes) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(nodes)} of {expected} SuperNodes connected within {timeout} s"
            )
        time.sleep(0.5)
        nodes = list(grid.get_node_ids())
    asks = [Message(RecordDict(), dst_node_id=n, message_type="query") for n in nodes]
    mapping = {}
    for reply in grid.send_and_receive(asks, timeout=timeout):
        mapping[int(_check(reply).content["meta"]["partition-id"])] = reply.metadata.src_node_id
    return mapping


def make_server_app(
    build: Callable[[Any], tuple[Method, int, int]],
    done: Callable[[Any, Any], None],
    *,
    timeout: float = 3600.0,
) -> Any:
    """A ``ServerApp``. ``build(context)`` gives ``(method, rounds, number of new clients)``;
    ``done(strategy, context)`` receives the finished strategy (its ``recorder``, ``states``)."""
    from flwr.app import ArrayRecord
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Any, context: Any) -> None:
        method, rounds, num_new = build(context)
        nodes = _partition_map(grid, method.num_clients + num_new, timeout)
        steps = schedule(method, rounds, num_new)
        strategy = _strategy_class()(method, steps, nodes, Recorder())
        strategy.start(grid, ArrayRecord(), num_rounds=len(steps), timeout=timeout)
        done(strategy, context)

    return app


def make_client_app(setup: Callable[[Any], tuple[Method, ClientData, int]]) -> Any:
    """A ``ClientApp``. ``setup(context)`` gives ``(method, this client's data, its id)``;
    its result is cached for the life of the process."""
    from flwr.app import ConfigRecord, Context, Message, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()
    cache: dict[object, tuple[Method, ClientData, int]] = {}

    def _setup(context: Context) -> tuple[Method, ClientData, int]:
        key = (context.run_id, context.node_id)
        if key not in cache:
            cache[key] = setup(context)
        return cache[key]

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        partition = int(context.node_config["partition-id"])
        return Message(
            RecordDict({"meta": ConfigRecord({"partition-id": partition})}), reply_to=msg
        )

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        method, data, client = _setup(context)
        meta = msg.content["meta"]
        info = Info(int(meta["round"]), client, bool(meta["new"]))  # type: ignore[arg-type]
        state = from_record(context.state[_STATE_KEY]) if _STATE_KEY in context.state else {}
        reply, state = method.handle(
            str(meta["phase"]), from_record(msg.content["payload"]), state, data, info
        )
        context.state[_STATE_KEY] = to_record(state)
        content = RecordDict({"reply": to_record(reply), "meta": ConfigRecord({"client": client})})
        if bool(meta["return-state"]):
            content["state"] = to_record(state)
        return Message(content, reply_to=msg)

    return app


def run_flower(
    method_name: str,
    target: torch.nn.Module,
    data: list[ClientData],
    num_train: int,
    rounds: int,
    *,
    seed: int,
    num_classes: int,
    input_shape: tuple[int, ...],
    settings: Settings,
    num_cpus: int = 2,
) -> tuple[Method, Recorder, dict[int, Tensors]]:
    """Run a method in Flower's simulation engine (Ray), one virtual SuperNode per client."""
    import os

    from flwr.simulation import run_simulation

    from ._simulate import build_method

    def build(context: Any) -> tuple[Method, int, int]:
        return (
            build_method(
                method_name,
                target,
                num_train,
                seed=seed,
                num_classes=num_classes,
                input_shape=input_shape,
                settings=settings,
            ),
            rounds,
            len(data) - num_train,
        )

    def setup(context: Any) -> tuple[Method, ClientData, int]:
        client = int(context.node_config["partition-id"])
        return build(context)[0], data[client], client

    finished: list[Any] = []
    server = make_server_app(build, lambda strategy, context: finished.append(strategy))
    backend = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": num_cpus, "include_dashboard": False},
    }
    # Ray's workers inherit the environment: one thread each, no telemetry. Restored after.
    env = {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "FLWR_TELEMETRY_ENABLED": "0",
        "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        run_simulation(
            server_app=server,
            client_app=make_client_app(setup),
            num_supernodes=len(data),
            backend_config=backend,  # type: ignore[arg-type]
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if not finished:
        raise RuntimeError(
            "the Flower simulation stopped before the federated run finished; "
            "see Flower's log above"
        )
    strategy = finished[0]
    return strategy.method, strategy.recorder, strategy.states
