"""The continual baselines, each one copy of the target trained directly: ``Finetune``
(each task in turn), ``Joint`` (all data seen so far, the upper bound) and ``EWC``
(elastic weight consolidation, Kirkpatrick et al. 2017; our own implementation: a
diagonal empirical Fisher from per-sample gradients, accumulated over tasks so the
penalty costs O(P) whatever the number of tasks)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from .._checks import check_positive_int
from ..datasets import Task
from ..runner import average_gradients, check_finite
from ._learner import Learner, check_labels

__all__ = ["EWC", "Finetune", "Joint"]


class _PlainLearner(Learner):
    """Shared by the baselines: one copy of the target, trained directly."""

    def __init__(
        self,
        target: nn.Module,
        num_tasks: int,
        *,
        lr: float = 1e-3,
        batch_size: int = 32,
        iterations: int = 200,
        seed: int = 0,
        replay: int = 0,
    ) -> None:
        super().__init__(
            lr=lr,
            batch_size=batch_size,
            iterations=iterations,
            seed=seed,
            num_tasks=num_tasks,
            replay=replay,
        )
        self.net = copy.deepcopy(target)

    def module(self) -> nn.Module:
        return self.net

    def penalty(self) -> Tensor | None:
        return None

    def _fit(self, task: int, x: Tensor, y: Tensor, steps) -> None:
        self.net.train()
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        for step, (xb, yb, weight) in enumerate(self._batches(task, x, y, steps)):
            logits = self.net(xb)
            if step == 0:
                check_labels(logits, y, task)
            loss = F.cross_entropy(logits, yb) * weight
            check_finite(loss, step=f"{step} of task {task + 1}")
            penalty = self.penalty()  # the same on every rank
            optimizer.zero_grad()
            (loss if penalty is None else loss + penalty).backward()
            average_gradients(self.net.parameters())
            optimizer.step()

    def learn(self, task: int, tasks: Sequence[Task], steps) -> None:
        self._fit(task, tasks[task].x_train, tasks[task].y_train, steps)
        self.learn_task_inference(task, tasks)

    def logits(self, x: Tensor, task: int) -> Tensor:
        return self.net(x)


class Finetune(_PlainLearner):
    """The target trained on each task in turn, with nothing against forgetting."""

    name = "finetune"


class Joint(_PlainLearner):
    """Multitask training: each task's steps draw from the data of every task seen so far."""

    name = "joint"

    def learn(self, task: int, tasks: Sequence[Task], steps) -> None:
        x = torch.cat([t.x_train for t in tasks[: task + 1]])
        y = torch.cat([t.y_train for t in tasks[: task + 1]])
        self._fit(task, x, y, steps)
        self.learn_task_inference(task, tasks)


class EWC(_PlainLearner):
    """Elastic weight consolidation with a diagonal empirical Fisher.

    Args:
        strength: λ of the penalty ``λ/2 · Σ_t Σ_i F_t,i (θ_i − θ*_t,i)²``.
        fisher_samples: training samples used to estimate each task's Fisher.
    """

    name = "ewc"

    def __init__(
        self,
        target: nn.Module,
        num_tasks: int,
        *,
        strength: float = 10.0,
        fisher_samples: int = 500,
        **kwargs,
    ) -> None:
        super().__init__(target, num_tasks, **kwargs)
        self.strength = float(strength)
        self.fisher_samples = check_positive_int(fisher_samples, "fisher_samples")
        # Running sums over finished tasks: Σ F, Σ F·θ*, Σ F·θ*² (per parameter).
        self.sums: dict[str, Tensor] = {}

    def extra_state(self) -> dict[str, Tensor]:
        return dict(self.sums)

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        self.sums = dict(state)

    def penalty(self) -> Tensor | None:
        if not self.sums:
            return None
        total: Tensor | None = None
        for name, p in self.net.named_parameters():
            f, ft, ftt = (self.sums[f"{k}.{name}"] for k in ("f", "ft", "ftt"))
            term = (f * p * p - 2 * ft * p + ftt).sum()
            total = term if total is None else total + term
        return None if total is None else 0.5 * self.strength * total

    def learn(self, task: int, tasks: Sequence[Task], steps) -> None:
        super().learn(task, tasks, steps)
        data = tasks[task]
        gen = torch.Generator().manual_seed(self.seed * 100_003 + task + 7)
        idx = torch.randperm(len(data.x_train), generator=gen)[: self.fisher_samples]
        fisher = self._fisher(data.x_train[idx], data.y_train[idx])
        with torch.no_grad():
            for name, p in self.net.named_parameters():
                for key, value in (
                    ("f", fisher[name]),
                    ("ft", fisher[name] * p),
                    ("ftt", fisher[name] * p * p),
                ):
                    full = f"{key}.{name}"
                    self.sums[full] = self.sums.get(full, 0) + value.detach().clone()

    def _fisher(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """Mean squared per-sample gradient of the log-likelihood (one vmapped call)."""
        params = {n: p.detach() for n, p in self.net.named_parameters()}
        self.net.eval()

        def nll(p, xi, yi):
            return F.cross_entropy(
                functional_call(self.net, p, (xi.unsqueeze(0),)), yi.unsqueeze(0)
            )

        per_sample = vmap(grad(nll), in_dims=(None, 0, 0))(params, x, y)
        return {n: g.pow(2).mean(0) for n, g in per_sample.items()}
