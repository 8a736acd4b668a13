"""Task inference from a small stored-sample replay memory (an HNET+R-style variant).

Class-incremental evaluation must say which task an input belongs to. HNET+ENT picks the
task whose generated network is most certain; networks trained on two digits each are
often confident on every digit, so that choice is weak. von Oswald et al. (2020) also
train a separate task-inference network with replay (their HNET+R/TIR uses a generative
replay model). This module is the simplest honest version of that idea: it **stores a
few real training samples per task** (``per_task``) and trains a small classifier of the
task id on that memory plus the current task's data, task-balanced. The hypernetwork
itself is unchanged and still sees each task's data only while learning that task.

Stored samples are replay: report results that use it as such, beside methods without.

Example:
    >>> import torch
    >>> inference = TaskInference(4, num_tasks=2, per_task=5, iterations=50, seed=0)
    >>> inference.learn(0, torch.zeros(20, 4))
    >>> inference.learn(1, torch.ones(20, 4))
    >>> inference.predict(torch.cat([torch.zeros(3, 4), torch.ones(3, 4)]), 2).tolist()
    [0, 0, 0, 1, 1, 1]
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_positive_int
from ..runner import check_finite

__all__ = ["TaskInference"]


class TaskInference:
    """A classifier of the task id, trained continually on a replay memory.

    Args:
        in_features: input size (inputs are flattened).
        num_tasks: how many tasks the run will have.
        per_task: training samples stored per task (drawn at random, seeded).
        task_of_class: for tasks whose labels map to global classes (e.g. split digits):
            ``[num_classes]``, the task of each class. The classifier then learns the
            global classes (a finer target than the task id) and a task's probability is
            the sum over its classes. ``None``: it learns the task id.
        hidden: hidden layer sizes of the classifier (ReLU MLP).
        iterations, lr, batch_size: Adam steps after each task, on batches that draw
            every task seen so far equally often.
        seed: seeds the classifier's initial weights, the stored samples and the batches.
    """

    def __init__(
        self,
        in_features: int,
        num_tasks: int,
        *,
        per_task: int,
        task_of_class: Tensor | None = None,
        hidden: tuple[int, ...] = (100, 100),
        iterations: int = 200,
        lr: float = 1e-3,
        batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        self.per_task = check_positive_int(per_task, "per_task")
        self.num_tasks = check_positive_int(num_tasks, "num_tasks")
        self.iterations = check_positive_int(iterations, "iterations")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.lr, self.seed = float(lr), int(seed)
        if task_of_class is not None:
            task_of_class = torch.as_tensor(task_of_class, dtype=torch.long)
            if (
                task_of_class.dim() != 1
                or not ((0 <= task_of_class) & (task_of_class < num_tasks)).all()
            ):
                raise ValueError(
                    f"task_of_class must be a 1-D tensor of task ids in [0, {num_tasks - 1}], "
                    f"got {task_of_class.tolist()}"
                )
        self.task_of_class = task_of_class
        outputs = num_tasks if task_of_class is None else len(task_of_class)
        sizes = [check_positive_int(in_features, "in_features"), *hidden, outputs]
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):  # seeded init, caller's state untouched
            torch.manual_seed(self._stream(0))
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
                layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
        self.net = nn.Sequential(*layers)
        self.memory: list[Tensor] = []  # per finished task: [per_task, in_features]
        self.labels: list[Tensor] = []  # their global classes (with task_of_class)

    def _stream(self, purpose: int) -> int:
        return int(np.random.SeedSequence([self.seed, purpose]).generate_state(1)[0])

    def stored(self) -> int:
        """How many training samples the memory holds."""
        return sum(len(m) for m in self.memory)

    def learn(self, task: int, x_train: Tensor, labels: Tensor | None = None) -> None:
        """Train on task ``task``'s inputs plus the memory of tasks ``0 .. task-1``,
        then store ``per_task`` of this task's inputs. ``labels``: the inputs' global
        classes, needed (only) with ``task_of_class``."""
        if task != len(self.memory):
            raise ValueError(
                f"tasks must be learned in order: expected task {len(self.memory)}, got {task}"
            )
        if (labels is None) != (self.task_of_class is None):
            raise ValueError(
                "labels (global classes) are needed exactly when task_of_class is given"
            )
        x = x_train.reshape(len(x_train), -1).float()
        y = torch.full((len(x),), task) if labels is None else labels.long()
        gen = torch.Generator().manual_seed(self._stream(1 + task))
        if task > 0 or self.task_of_class is not None:
            pool, targets = torch.cat([*self.memory, x]), torch.cat([*self.labels, y])
            sizes = torch.tensor([len(m) for m in self.memory] + [len(x)])
            starts = sizes.cumsum(0) - sizes
            seen = self._seen(task + 1)  # outputs of the tasks so far
            self.net.train()
            optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
            for _ in range(self.iterations):
                owner = torch.randint(0, task + 1, (self.batch_size,), generator=gen)
                offset = (torch.rand(self.batch_size, generator=gen) * sizes[owner]).long()
                index = starts[owner] + offset
                logits = self.net(pool[index])
                if self.task_of_class is None:
                    logits = logits[:, : task + 1]
                else:
                    logits = logits.masked_fill(~seen, -1e9)
                loss = F.cross_entropy(logits, targets[index])
                check_finite(loss, step=f"task inference, task {task + 1}")
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        keep = torch.randperm(len(x), generator=gen)[: self.per_task]
        self.memory.append(x[keep].clone())
        self.labels.append(y[keep].clone())

    def _seen(self, num_tasks: int) -> Tensor:
        """Which outputs belong to tasks ``0 .. num_tasks-1``."""
        if self.task_of_class is None:
            return torch.arange(self.num_tasks) < num_tasks
        return self.task_of_class < num_tasks

    @torch.no_grad()
    def log_probs(self, x: Tensor, num_tasks: int) -> Tensor:
        """``[N, num_tasks]`` log-probabilities of the first ``num_tasks`` task ids."""
        self.net.eval()
        logits = self.net(x.reshape(len(x), -1).float())
        if self.task_of_class is None:
            return logits[:, :num_tasks].log_softmax(-1)
        log_p = logits.masked_fill(~self._seen(num_tasks), -1e9).log_softmax(-1)
        return torch.stack(
            [log_p[:, self.task_of_class == t].logsumexp(-1) for t in range(num_tasks)], dim=-1
        )

    def predict(self, x: Tensor, num_tasks: int) -> Tensor:
        """The most probable task id among the first ``num_tasks``, per input."""
        return self.log_probs(x, num_tasks).argmax(-1)

    def state_dict(self) -> dict[str, Tensor]:
        state = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        state.update({f"memory.{i}": m for i, m in enumerate(self.memory)})
        state.update({f"labels.{i}": m for i, m in enumerate(self.labels)})
        if self.task_of_class is not None:
            state["task_of_class"] = self.task_of_class
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        count = sum(1 for k in state if k.startswith("memory."))
        self.memory = [state[f"memory.{i}"] for i in range(count)]
        self.labels = [state[f"labels.{i}"] for i in range(count)]
