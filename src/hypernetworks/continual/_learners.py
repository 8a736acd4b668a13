"""Continual learners: the task-conditioned hypernetwork and its baselines.

* :class:`HNet` — "Continual learning with hypernetworks" (von Oswald, Henning, Grewe &
  Sacramento, ICLR 2020): a :class:`~hypernetworks.TaskEmbedding` hypernetwork learns
  one task after another; an output regulariser keeps the weights it generates for
  earlier tasks where they were, computed in one batched call over all earlier task ids;
  optionally with the paper's one-step look-ahead.
* :class:`Finetune` — the target trained on each task in turn.
* :class:`EWC` — elastic weight consolidation (Kirkpatrick et al. 2017), our own
  implementation: a diagonal empirical Fisher from per-sample gradients (``torch.func``),
  accumulated over tasks so the penalty costs O(P) whatever the number of tasks.
* :class:`Joint` — multitask training on all data seen so far (the upper bound).

All train with Adam, a fresh optimizer per task, and draw their batches from a generator
seeded by ``(seed, task)``, so that a run resumed from a checkpoint repeats an
uninterrupted one exactly.
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from .._checks import check_positive_int
from .._conditioners import TaskEmbedding
from .._model import HyperModel, hypernetize
from ..datasets import Task
from ..runner import average_gradients, check_finite, shard
from ._replay import TaskInference

__all__ = ["EWC", "Finetune", "HNet", "Joint", "Learner"]


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


def _check_labels(logits: Tensor, y: Tensor, task: int) -> None:
    if int(y.max()) >= logits.shape[-1] or int(y.min()) < 0:
        raise ValueError(
            f"task #{task} has labels up to {int(y.max())}, but the network has "
            f"{logits.shape[-1]} outputs; labels must lie in [0, {logits.shape[-1] - 1}]"
        )


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
                    _check_labels(logits, data.y_train, task)
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
                _check_labels(logits, y, task)
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


METHODS = {"hnet": HNet, "finetune": Finetune, "ewc": EWC, "joint": Joint}
