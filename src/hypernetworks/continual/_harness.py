"""The continual-learning loop: learn tasks in order, evaluate, checkpoint, resume."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from .. import runner
from ._data import Task, as_tasks
from ._learners import METHODS, HNet, Learner

__all__ = ["infer_tasks", "run", "summarize"]


@torch.no_grad()
def _accuracy(learner: Learner, task: Task, task_id: int) -> float:
    learner.module().eval()
    predictions = learner.logits(task.x_test, task_id).argmax(-1)
    return float((predictions == task.y_test).float().mean())


@torch.no_grad()
def infer_tasks(learner: HNet, x: Tensor, num_tasks: int) -> tuple[Tensor, Tensor]:
    """Class-incremental inference (HNET+ENT): for each input, the task whose generated
    network is most certain (lowest predictive entropy), and that network's logits."""
    learner.module().eval()
    logits = torch.stack([learner.logits(x, t) for t in range(num_tasks)])  # [T, N, C]
    log_p = logits.log_softmax(-1)
    entropy = -(log_p.exp() * log_p).sum(-1)  # [T, N]
    chosen = entropy.argmin(0)
    return chosen, logits[chosen, torch.arange(x.shape[0])]


@torch.no_grad()
def _class_incremental(learner: HNet, tasks: Sequence[Task], upto: int) -> dict:
    """Accuracy without the task id, over the test sets of tasks ``0 .. upto``."""
    correct = task_correct = total = 0
    for t in range(upto + 1):
        chosen, logits = infer_tasks(learner, tasks[t].x_test, upto + 1)
        label = logits.argmax(-1)
        predicted, truth = label, tasks[t].y_test
        if tasks[t].classes is not None:  # map within-task labels to global classes
            table = torch.stack([tasks[c].classes for c in range(upto + 1)])
            predicted = table[chosen, label]
            truth = tasks[t].classes[tasks[t].y_test]
        correct += int((predicted == truth).sum())
        task_correct += int((chosen == t).sum())
        total += len(truth)
    return {"accuracy": correct / total, "task_inference_accuracy": task_correct / total}


def summarize(matrix: list[list[float]]) -> dict[str, float]:
    """Mean final accuracy and mean forgetting (accuracy right after learning a task minus
    final accuracy, over all tasks but the last)."""
    final = matrix[-1]
    forgetting = [matrix[j][j] - final[j] for j in range(len(final) - 1)]
    return {"mean_accuracy": sum(final) / len(final),
            "mean_forgetting": sum(forgetting) / len(forgetting) if forgetting else 0.0}


def build_learner(method: str, target: nn.Module, num_tasks: int, **options) -> Learner:
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    return METHODS[method](target, num_tasks, **options)


def run(tasks: Sequence, target: nn.Module, method: str = "hnet", *, out: str | Path | None = None,
        resume: bool = False, progress: bool = True, seed: int = 0,
        class_incremental: bool = True, **options) -> dict:
    """Learn ``tasks`` in order with ``method`` and return the metrics.

    Args:
        tasks: a sequence of :class:`Task` or ``(x_train, y_train, x_test, y_test)``.
        target: the network to train (``hnet`` generates its weights); left untouched.
        method: ``"hnet"``, ``"finetune"``, ``"ewc"`` or ``"joint"``.
        out: folder for ``metrics.json``, ``accuracy_matrix.png`` and ``checkpoint.pt``
            (written after every task); None writes nothing.
        resume: continue from ``out/checkpoint.pt``.
        class_incremental: for ``hnet``, also evaluate without task ids (HNET+ENT).
        **options: passed to the learner (``beta``, ``head``, ``iterations``, ``lr`` ...).

    Returns:
        ``accuracy_matrix`` (row i: accuracy on every task learned so far, after task i),
        ``mean_accuracy``, ``mean_forgetting``, ``param_ratio`` (trainable parameters over
        the target's), ``seconds`` and, for ``hnet``, ``class_incremental``.
    """
    tasks = as_tasks(tasks)
    if not isinstance(target, nn.Module):
        raise TypeError(f"target must be an nn.Module, got {type(target).__name__}")
    torch.manual_seed(seed)
    learner = build_learner(method, target, len(tasks), seed=seed, **options)
    target_size = sum(p.numel() for p in target.parameters())
    matrix: list[list[float]] = []
    seconds, start_task = 0.0, 0
    checkpoint = None if out is None else Path(out) / "checkpoint.pt"
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs `out`, the folder holding checkpoint.pt")
        state = runner.load_checkpoint(checkpoint)
        if state["method"] != method or int(state["num_tasks"]) != len(tasks):
            raise ValueError(
                f"the checkpoint is from method {state['method']!r} with {int(state['num_tasks'])} "
                f"tasks; this run is {method!r} with {len(tasks)}"
            )
        learner.load_state_dict(state["learner"])
        matrix = [list(map(float, row)) for row in state["matrix"]]
        seconds, start_task = float(state["seconds"]), len(matrix)
    for t in range(start_task, len(tasks)):
        began = time.perf_counter()
        steps = lambda it, t=t: runner.progress(
            it, total=learner.iterations, desc=f"{method} task {t + 1}/{len(tasks)}",
            enabled=progress)
        learner.learn(t, tasks, steps)
        seconds += time.perf_counter() - began
        matrix.append([_accuracy(learner, tasks[j], j) for j in range(t + 1)])
        if checkpoint is not None:
            runner.save_checkpoint(checkpoint, {
                "method": method, "num_tasks": len(tasks), "seconds": seconds,
                "matrix": [torch.tensor(row) for row in matrix],
                "learner": learner.state_dict()})
    metrics = {"method": method, "num_tasks": len(tasks), "accuracy_matrix": matrix,
               **summarize(matrix), "param_ratio": learner.trainable() / target_size,
               "trainable_parameters": learner.trainable(), "target_parameters": target_size,
               "seconds": seconds}
    if method == "hnet" and class_incremental:
        metrics["class_incremental"] = _class_incremental(learner, tasks, len(tasks) - 1)
    if out is not None:
        runner.write_metrics(out, metrics)
        full = [row + [None] * (len(tasks) - len(row)) for row in matrix]
        runner.plot_matrix(full, Path(out) / "accuracy_matrix.png",
                           title=f"{method}: test accuracy (%)", xlabel="evaluated on task",
                           ylabel="after learning task")
    metrics["learner"] = learner
    return metrics
