"""The in-process engine: the schedule's steps as direct function calls, no Flower."""

from __future__ import annotations

from collections.abc import Callable

from ._protocol import ClientData, Info, Method, Tensors
from ._schedule import Recorder, Step, round_steps

__all__ = ["run_local"]


def exchange(
    method: Method, step: Step, data: list[ClientData], states: dict[int, Tensors]
) -> tuple[dict[int, Tensors], dict[int, Tensors]]:
    """One step: configure on the server, ``handle`` on each client, aggregate. Returns the
    payloads sent and the replies received."""
    payloads = method.configure(step.phase, list(step.ids), Info(step.round, -1, step.new))
    replies = {}
    for i in step.ids:
        reply, states[i] = method.handle(
            step.phase, payloads[i], states.get(i, {}), data[i], Info(step.round, i, step.new)
        )
        replies[i] = reply
    method.aggregate(step.phase, replies, Info(step.round, -1, step.new))
    return payloads, replies


def run_local(
    method: Method,
    data: list[ClientData],
    rounds: int,
    num_new: int,
    *,
    recorder: Recorder,
    states: dict[int, Tensors],
    start: int = 1,
    progress: Callable[[range], object] | None = None,
    on_round: Callable[[int], None] | None = None,
) -> None:
    """Run rounds ``start`` .. ``rounds``; ``data`` lists the training clients, then the new ones.

    ``states`` (client id -> private state) and ``recorder`` are updated in place;
    ``on_round(r)`` is called after each finished round (e.g. to save a checkpoint).
    """
    span = range(start, rounds + 1)
    for r in progress(span) if progress is not None else span:  # type: ignore[attr-defined]
        for step in round_steps(method, r, rounds, num_new):
            payloads, replies = exchange(method, step, data, states)
            recorder.record(step, replies, payloads)
        if on_round is not None:
            on_round(r)
