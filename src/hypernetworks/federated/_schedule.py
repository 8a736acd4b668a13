"""The exchange schedule both engines follow, and how evaluation replies become results.

A run is a list of :class:`Step` s: every round's training phases for the sampled clients,
then (every ``eval_every`` rounds and after the last) the evaluation phases for all
clients, and after the last round the evaluation phases for the new clients. The local
engine executes the steps with direct calls; the Flower strategy sends one round of
messages per step. Both therefore call ``configure``/``handle``/``aggregate`` in the same
order with the same arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._protocol import Method, Tensors

__all__ = ["Recorder", "Step", "schedule"]


@dataclass(frozen=True)
class Step:
    """One exchange: ``phase`` of ``round`` for the clients ``ids``."""

    round: int
    phase: str
    ids: tuple[int, ...]
    evaluation: bool = False
    new: bool = False
    last: bool = False  # the last step of its round


def round_steps(method: Method, round: int, rounds: int, num_new: int) -> list[Step]:
    """The steps of one round (training, then evaluation when due)."""
    ids = tuple(method.sample(round))
    steps = [Step(round, phase, ids) for phase in method.train_phases]
    every = method.settings.eval_every
    if round % every == 0 or round == rounds:
        everyone = tuple(range(method.num_clients))
        steps += [Step(round, phase, everyone, evaluation=True) for phase in method.eval_phases]
    if round == rounds and num_new and method.serves_new_clients:
        new = tuple(range(method.num_clients, method.num_clients + num_new))
        steps += [
            Step(round, phase, new, evaluation=True, new=True) for phase in method.eval_phases
        ]
    last = steps[-1]
    steps[-1] = Step(last.round, last.phase, last.ids, last.evaluation, last.new, last=True)
    return steps


def schedule(method: Method, rounds: int, num_new: int, start: int = 1) -> list[Step]:
    """Every step of rounds ``start`` .. ``rounds``."""
    return [s for r in range(start, rounds + 1) for s in round_steps(method, r, rounds, num_new)]


@dataclass
class Recorder:
    """Collects the accuracies that evaluation steps return."""

    history: list[dict[str, object]] = field(default_factory=list)
    client_accuracies: list[float] = field(default_factory=list)
    new_client_accuracies: list[float] | None = None
    payloads: dict[int, Tensors] = field(default_factory=dict)

    def record(self, step: Step, replies: dict[int, Tensors], payloads: dict[int, Tensors]) -> None:
        """Keep the accuracies of an ``evaluate`` step (other steps are ignored)."""
        if step.phase != "evaluate":
            return
        accuracies = [float(replies[i]["correct"] / replies[i]["total"]) for i in step.ids]
        self.payloads.update(payloads)
        if step.new:
            self.new_client_accuracies = accuracies
            if self.history:
                self.history[-1]["new_client_accuracy"] = sum(accuracies) / len(accuracies)
            return
        self.client_accuracies = accuracies
        self.history.append(
            {
                "round": step.round,
                "mean_client_accuracy": sum(accuracies) / len(accuracies),
                "client_accuracies": accuracies,
            }
        )
