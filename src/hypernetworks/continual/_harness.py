"""The continual-learning loop: learn tasks in order, evaluate, checkpoint, resume."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..datasets import Task
from ..runner import Run
from ._learners import METHODS, HNet, Learner
from ._plots import accuracy_heatmap
from ._tasks import as_tasks

__all__ = ["infer_tasks", "learn_tasks", "run", "summarize"]


@torch.no_grad()
def _accuracy(learner: Learner, task: Task, task_id: int) -> float:
    learner.module().eval()
    predictions = learner.logits(task.x_test, task_id).argmax(-1)
    return float((predictions == task.y_test).float().mean())


@torch.no_grad()
def infer_tasks(learner: Learner, x: Tensor, num_tasks: int) -> tuple[Tensor, Tensor]:
    """Class-incremental inference: for each input, the inferred task and that task's
    network's logits. HNET+ENT (default): the task whose generated network is most
    certain (lowest predictive entropy). With ``HNet(replay=m)``: the task that its
    replay-trained task classifier finds most probable (HNET+R-style); this also serves
    the baselines (``replay`` > 0), whose one network then labels the input."""
    if learner.inference is None and not isinstance(learner, HNet):
        raise TypeError(
            f"class-incremental inference needs an HNet or a learner with replay > 0, "
            f"got {type(learner).__name__} with replay=0"
        )
    learner.module().eval()
    logits = torch.stack([learner.logits(x, t) for t in range(num_tasks)])  # [T, N, C]
    if learner.inference is not None:
        chosen = learner.inference.predict(x, num_tasks)
    else:
        log_p = logits.log_softmax(-1)
        entropy = -(log_p.exp() * log_p).sum(-1)  # [T, N]
        chosen = entropy.argmin(0)
    return chosen, logits[chosen, torch.arange(x.shape[0])]


@torch.no_grad()
def _class_incremental(learner: Learner, tasks: Sequence[Task], upto: int) -> dict:
    """Accuracy without the task id, over the test sets of tasks ``0 .. upto``."""
    correct = task_correct = total = 0
    for t in range(upto + 1):
        chosen, logits = infer_tasks(learner, tasks[t].x_test, upto + 1)
        label = logits.argmax(-1)
        predicted, truth = label, tasks[t].y_test
        classes = tasks[t].classes
        if classes is not None:  # map within-task labels to global classes
            table = torch.stack([_classes(tasks[c], c) for c in range(upto + 1)])
            predicted = table[chosen, label]
            truth = classes[tasks[t].y_test]
        correct += int((predicted == truth).sum())
        task_correct += int((chosen == t).sum())
        total += len(truth)
    return {"accuracy": correct / total, "task_inference_accuracy": task_correct / total}


def _classes(task: Task, index: int) -> Tensor:
    if task.classes is None:
        raise TypeError(
            f"task #{index} has no classes, but other tasks have: give classes "
            "to every task or to none"
        )
    return task.classes


def summarize(matrix: list[list[float]]) -> dict[str, float]:
    """Mean final accuracy and mean forgetting (accuracy right after learning a task minus
    final accuracy, over all tasks but the last)."""
    final = matrix[-1]
    forgetting = [matrix[j][j] - final[j] for j in range(len(final) - 1)]
    return {
        "mean_accuracy": sum(final) / len(final),
        "mean_forgetting": sum(forgetting) / len(forgetting) if forgetting else 0.0,
    }


def build_learner(method: str, target: nn.Module, num_tasks: int, **options) -> Learner:
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    return METHODS[method](target, num_tasks, **options)


def _plain(value: object) -> object:
    """A JSON-like form of an option (head objects by their repr) for the run's config."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def run(
    tasks: Sequence,
    target: nn.Module,
    method: str = "hnet",
    *,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    seed: int = 0,
    class_incremental: bool = True,
    **options: Any,
) -> dict:
    """Learn ``tasks`` in order with ``method`` and return the metrics.

    The run is seeded with ``seed`` (the caller's random state is restored afterwards).

    Args:
        tasks: a sequence of :class:`~hypernetworks.datasets.Task` or
            ``(x_train, y_train, x_test, y_test)``.
        target: the network to train (``hnet`` generates its weights); left untouched.
        method: ``"hnet"``, ``"finetune"``, ``"ewc"`` or ``"joint"``.
        out: folder for ``metrics.json``, ``accuracy_matrix.png`` and ``checkpoint.pt``
            (written after every task); None writes nothing.
        resume: continue from ``out/checkpoint.pt`` (refused if the configuration differs).
        class_incremental: also evaluate without task ids: for ``hnet`` from predictive
            entropy (HNET+ENT), for any method with ``replay`` > 0 from the replay-trained
            task classifier.
        **options: passed to the learner (``beta``, ``head``, ``iterations``, ``lr`` ...).

    Returns:
        ``accuracy_matrix`` (row i: accuracy on every task learned so far, after task i),
        ``mean_accuracy``, ``mean_forgetting``, ``param_ratio`` (trainable parameters over
        the target's), ``seconds``, ``learner`` and, for ``hnet`` or with ``replay``,
        ``class_incremental`` (``accuracy``, ``task_inference_accuracy``).

    Raises:
        hypernetworks.runner.NonFiniteError: a loss became NaN or infinite (the checkpoint
            of the last finished task is kept).
    """
    tasks = as_tasks(tasks)
    config = {
        "method": method,
        "num_tasks": len(tasks),
        "class_incremental": class_incremental,
        "options": {k: _plain(v) for k, v in sorted(options.items())},
    }
    with Run("continual", config, out=out, seed=seed, resume=resume, progress=progress) as active:
        return learn_tasks(
            tasks, target, method, active, class_incremental=class_incremental, **options
        )


def learn_tasks(
    tasks: Sequence,
    target: nn.Module,
    method: str,
    run: Run,
    *,
    class_incremental: bool = True,
    **options: Any,
) -> dict:
    """:func:`run` inside an open :class:`~hypernetworks.runner.Run` (the CLI's entry)."""
    tasks = as_tasks(tasks)
    if not isinstance(target, nn.Module):
        raise TypeError(f"target must be an nn.Module, got {type(target).__name__}")
    learner = build_learner(method, target, len(tasks), seed=run.seed, **options)
    target_size = sum(p.numel() for p in target.parameters())
    matrix: list[list[float]] = []
    seconds, start_task = 0.0, 0
    if run.resumed is not None:
        learner.load_state_dict(run.resumed["learner"])
        matrix = [list(map(float, row)) for row in run.resumed["matrix"]]
        seconds, start_task = float(run.resumed["seconds"]), len(matrix)
    for t in range(start_task, len(tasks)):
        began = time.perf_counter()

        def steps(iterable, t=t):
            return run.progress(
                iterable, total=learner.iterations, desc=f"{method} task {t + 1}/{len(tasks)}"
            )

        learner.learn(t, tasks, steps)
        seconds += time.perf_counter() - began
        matrix.append([_accuracy(learner, tasks[j], j) for j in range(t + 1)])
        run.save_checkpoint(
            {
                "seconds": seconds,
                "matrix": [torch.tensor(row) for row in matrix],
                "learner": learner.state_dict(),
            }
        )
    metrics: dict[str, Any] = {
        "method": method,
        "num_tasks": len(tasks),
        "accuracy_matrix": matrix,
        **summarize(matrix),
        "param_ratio": learner.trainable() / target_size,
        "trainable_parameters": learner.trainable(),
        "target_parameters": target_size,
        "seconds": seconds,
    }
    if class_incremental and (isinstance(learner, HNet) or learner.inference is not None):
        metrics["class_incremental"] = _class_incremental(learner, tasks, len(tasks) - 1)
    run.write_metrics(metrics)
    full = [row + [None] * (len(tasks) - len(row)) for row in matrix]
    if run.out is not None:
        run.save_figure(
            accuracy_heatmap(full, title=f"{method}: test accuracy (%)"), "accuracy_matrix.png"
        )
    metrics["learner"] = learner
    return metrics
