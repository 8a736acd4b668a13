"""``HNet``: the task-conditioned hypernetwork of "Continual learning with hypernetworks"
(von Oswald, Henning, Grewe & Sacramento, ICLR 2020), with its output regulariser over all
earlier task ids in one batched call, and optionally the paper's one-step look-ahead."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .._conditioners import TaskEmbedding
from .._model import HyperModel, hypernetize
from ..datasets import Task
from ..runner import average_gradients, check_finite
from ._learner import Learner, check_labels

__all__ = ["HNet"]


class HNet(Learner):
    """A task-conditioned hypernetwork with the output regulariser of von Oswald et al.

    Args:
        target: the network whose weights are generated (any ``nn.Module``).
        num_tasks: how many tasks the run will have (task embeddings to allocate).
        beta: weight of the output regulariser.
        embedding_dim: task-embedding size.
        head, hidden, mip: as for :func:`~hypernetworks.hypernetize`.
        train_base: whether MIP's θ₀ (a full-size copy of the target's weights) trains.
            With ``train_base=False`` θ₀ stays at the target's initial weights and only
            the hypernetwork trains: with a compact head (Chunked, LowRank) that gives a
            hypernetwork with fewer trainable parameters than the target.
        lookahead: evaluate the regulariser after a candidate step on the task loss.
        replay: training samples stored per task for class-incremental task inference
            (:class:`TaskInference`, an HNET+R-style replay variant; 0: none, tasks are
            inferred from predictive entropy, HNET+ENT). The hypernetwork never sees the
            stored samples.
    """

    name = "hnet"

    def __init__(
        self,
        target: nn.Module,
        num_tasks: int,
        *,
        beta: float = 0.01,
        embedding_dim: int = 32,
        head="full",
        hidden=(100, 100),
        mip=True,
        train_base: bool = True,
        lookahead: bool = False,
        replay: int = 0,
        lr: float = 1e-3,
        batch_size: int = 32,
        iterations: int = 200,
        seed: int = 0,
    ) -> None:
        super().__init__(
            lr=lr,
            batch_size=batch_size,
            iterations=iterations,
            seed=seed,
            num_tasks=num_tasks,
            replay=replay,
        )
        self.model = hypernetize(
            target, TaskEmbedding(num_tasks, embedding_dim), head=head, hidden=hidden, mip=mip
        )
        if not train_base:
            for name in self.model.generated:
                self.model.target.get_parameter(name).requires_grad_(False)
        self.beta = float(beta)
        self.lookahead = bool(lookahead)
        self.targets: dict[str, Tensor] = {}  # name -> [tasks done, *shape]

    def module(self) -> nn.Module:
        return self.model

    def extra_state(self) -> dict[str, Tensor]:
        return dict(self.targets)

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        self.targets = dict(state)

    def regulariser(self, task: int, params: dict[str, Tensor] | None = None) -> Tensor:
        """Mean squared change of the weights generated for tasks ``0 .. task-1``.

        All earlier tasks' weights come from one batched ``generate`` call; ``params``
        evaluates it at other hypernetwork parameters (the look-ahead)."""
        ids = torch.arange(task, device=next(self.model.parameters()).device)
        if params is None:
            generated = self.model.generate(ids)
        else:
            generated = _generate_with(self.model, params, ids)
        terms = [(generated[n] - self.targets[n][:task]).pow(2).sum() for n in generated]
        return functools.reduce(operator.add, terms) / task

    def learn(self, task: int, tasks: Sequence[Task], steps) -> None:
        data = tasks[task]
        model = self.model
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.lr)
        conditioner = model.conditioner
        if not isinstance(conditioner, TaskEmbedding):  # HNet builds one in __init__
            raise TypeError(
                f"HNet needs a TaskEmbedding conditioner, got {type(conditioner).__name__}"
            )
        table = conditioner.embedding.weight
        keep = torch.zeros(table.shape[0], 1, dtype=table.dtype, device=table.device)
        keep[task] = 1.0  # earlier (and later) task embeddings stay as they are
        hook = table.register_hook(lambda g: g * keep)
        try:
            batches = self._batches(task, data.x_train, data.y_train, steps)
            for step, (xb, yb, weight) in enumerate(batches):
                logits = model(xb, task)
                if step == 0:
                    check_labels(logits, data.y_train, task)
                loss = F.cross_entropy(logits, yb) * weight
                check_finite(loss, step=f"{step} of task {task + 1}")
                optimizer.zero_grad()
                regularised = task > 0 and self.beta != 0
                if regularised and not self.lookahead:
                    # (the regulariser is the same on every rank: averaging keeps it)
                    (loss + self.beta * self.regulariser(task)).backward()
                else:
                    loss.backward()
                average_gradients(params)  # a look-ahead needs the global step
                if regularised and self.lookahead:
                    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
                    ahead = {
                        n: p - self.lr * g.detach()
                        for n, p, g in zip(names, params, grads, strict=True)
                    }
                    reg = self.regulariser(task, ahead)
                    reg_grads = torch.autograd.grad(reg, params, allow_unused=True)
                    for p, g, r in zip(
                        params, grads, reg_grads, strict=True
                    ):  # the hook masked both
                        p.grad = g if r is None else g + self.beta * r
                optimizer.step()
        finally:
            hook.remove()
        with torch.no_grad():
            done = torch.arange(task + 1, device=table.device)
            self.targets = {n: w.detach().clone() for n, w in model.generate(done).items()}
        self.learn_task_inference(task, tasks)

    def logits(self, x: Tensor, task: int) -> Tensor:
        return self.model(x, task)


class _Generate(nn.Module):
    """Exposes ``inner.generate`` as ``forward``, so ``functional_call`` can reach it."""

    def __init__(self, inner: HyperModel) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, c: Tensor) -> dict[str, Tensor]:
        return self.inner.generate(c)


def _generate_with(model: HyperModel, params: dict[str, Tensor], ids: Tensor) -> dict:
    """``model.generate(ids)`` with ``params`` in place of the model's own (look-ahead)."""
    return functional_call(_Generate(model), {f"inner.{k}": v for k, v in params.items()}, (ids,))
