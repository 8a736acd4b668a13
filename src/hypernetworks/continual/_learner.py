"""The protocol of a continual learner: what the harness calls (``learn``, ``logits``),
the batches every method draws (seeded by ``(seed, task)``, so a resumed run repeats an
uninterrupted one), and the optional task-inference classifier for class-incremental
evaluation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from .._checks import check_positive_int
from ..datasets import Task
from ..runner import shard
from ._replay import TaskInference

__all__ = ["Learner", "check_labels"]


class Learner:
    """What the continual harness needs from a method.

    Every learner may also keep a :class:`TaskInference` (``replay`` > 0 samples stored
    per task): a task classifier that class-incremental evaluation uses to pick the task.
    """

    name = "learner"

    def __init__(
        self,
        *,
        lr: float,
        batch_size: int,
        iterations: int,
        seed: int,
        num_tasks: int = 1,
        replay: int = 0,
    ) -> None:
        self.lr = float(lr)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.iterations = check_positive_int(iterations, "iterations")
        self.seed = int(seed)
        self.num_tasks = check_positive_int(num_tasks, "num_tasks")
        if isinstance(replay, bool) or not isinstance(replay, int):
            raise TypeError(
                f"replay must be an int (training samples stored per task), "
                f"got {type(replay).__name__} {replay!r}"
            )
        if replay < 0:
            raise ValueError(
                f"replay must be an int >= 0 (training samples stored per task), got {replay}"
            )
        self.replay = replay
        self.inference: TaskInference | None = None

    # -- to implement ----------------------------------------------------------
    def module(self) -> nn.Module:
        raise NotImplementedError

    def learn(
        self, task: int, tasks: Sequence[Task], steps: Callable[[Iterable], Iterable]
    ) -> None:
        raise NotImplementedError

    def logits(self, x: Tensor, task: int) -> Tensor:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------
    def extra_state(self) -> dict[str, Tensor]:
        return {}

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        pass

    def learn_task_inference(self, task: int, tasks: Sequence[Task]) -> None:
        """With ``replay`` > 0: train the task classifier after task ``task`` and store
        ``replay`` of its inputs (call once per task, in order)."""
        if not self.replay:
            return
        x_train = tasks[task].x_train
        if self.inference is None:
            self.inference = self._task_inference(x_train[0].numel())
        self.inference.learn(task, x_train)

    def _task_inference(
        self, in_features: int, task_of_class: Tensor | None = None
    ) -> TaskInference:
        return TaskInference(
            in_features,
            self.num_tasks,
            per_task=self.replay,
            task_of_class=task_of_class,
            iterations=self.iterations,
            lr=self.lr,
            batch_size=self.batch_size,
            seed=self.seed,
        )

    def state_dict(self) -> dict[str, Tensor]:
        state = {f"module.{k}": v for k, v in self.module().state_dict().items()}
        state.update({f"extra.{k}": v for k, v in self.extra_state().items()})
        if self.inference is not None:
            state.update({f"replay.{k}": v for k, v in self.inference.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.module().load_state_dict(
            {k[len("module.") :]: v for k, v in state.items() if k.startswith("module.")}
        )
        self.load_extra_state(
            {k[len("extra.") :]: v for k, v in state.items() if k.startswith("extra.")}
        )
        replay = {k[len("replay.") :]: v for k, v in state.items() if k.startswith("replay.")}
        if replay:
            self.inference = self._task_inference(
                replay["net.0.weight"].shape[1], replay.get("task_of_class")
            )
            self.inference.load_state_dict(replay)

    def trainable(self) -> int:
        return sum(p.numel() for p in self.module().parameters() if p.requires_grad)

    def _batches(
        self, task: int, x: Tensor, y: Tensor, steps
    ) -> Iterable[tuple[Tensor, Tensor, float]]:
        """Seeded minibatches, and the weight of their mean loss. Under torchrun each rank
        gets its rows of every batch (see ``hypernetworks.runner.shard``); the learners
        then average the gradients across ranks."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + task)
        for _ in steps(range(self.iterations)):
            idx = torch.randint(0, len(x), (min(self.batch_size, len(x)),), generator=gen)
            part, weight = shard(idx)
            yield x[part], y[part], weight


def check_labels(logits: Tensor, y: Tensor, task: int) -> None:
    if int(y.max()) >= logits.shape[-1] or int(y.min()) < 0:
        raise ValueError(
            f"task #{task} has labels up to {int(y.max())}, but the network has "
            f"{logits.shape[-1]} outputs; labels must lie in [0, {logits.shape[-1] - 1}]"
        )
