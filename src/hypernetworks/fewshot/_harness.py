"""One harness for every method: episodic (or batch) training, and scoring on test episodes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .._checks import check_int
from ..runner import WeightedLoss, data_parallel, shard
from ._episodes import EpisodeSampler, mean_ci95
from ._learner import FewShotLearner

__all__ = ["evaluate", "train"]

Progress = Callable[..., Iterable[Any]]


def train(
    learner: FewShotLearner,
    sampler: EpisodeSampler,
    *,
    steps: int,
    lr: float = 1e-3,
    episodes_per_step: int = 1,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
    check: Callable[[Tensor, int], object] | None = None,
) -> dict[str, float]:
    """Train ``learner`` for ``steps`` Adam steps with a cosine-decayed learning rate.

    Episodic learners see ``episodes_per_step`` episodes from ``sampler`` per step. A
    learner with ``episodic = False`` sees, per step, a batch of as many labelled
    examples of the sampler's classes as those episodes hold (the same image budget).

    Args:
        learner: the method.
        sampler: draws training episodes (its classes are the training classes).
        steps: optimizer steps.
        lr: Adam's initial learning rate.
        episodes_per_step: episodes per step (the meta-batch).
        generator: makes the episodes and batches reproducible.
        progress: wraps the step range (e.g. ``run.progress``); None: no bar.
        check: called as ``check(loss, step)`` (e.g. ``run.check_finite``).

    Returns:
        ``{"final_loss", "final_accuracy", "train_seconds"}``: loss and training accuracy
        averaged over the last tenth of the steps (accuracy NaN for batch training).

    Raises:
        ValueError: ``steps`` or ``episodes_per_step`` is not a positive int.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, ProtoNet, train
        >>> x, y = torch.rand(60, 1, 28, 28), torch.arange(6).repeat_interleave(10)
        >>> sampler = EpisodeSampler(x, y, ways=3, shots=1, queries=2)
        >>> out = train(ProtoNet(ConvNet(channels=8)), sampler, steps=3)
        >>> sorted(out)
        ['final_accuracy', 'final_loss', 'train_seconds']
    """
    check_int(steps, "steps", 1)
    check_int(episodes_per_step, "episodes_per_step", 1)
    learner.train()
    optimizer = torch.optim.Adam(learner.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / steps))
    )
    batch = episodes_per_step * sampler.ways * (sampler.shots + sampler.queries)
    tail = max(1, steps // 10)
    losses: list[float] = []
    accuracies: list[float] = []
    start = time.perf_counter()
    # Under torchrun each rank takes its part of the step's episodes (or examples) and
    # DDP averages the gradients: the same steps as one process.
    last_accuracy = [float("nan")]  # this rank's, on its part of the step's episodes

    def episode_loss(episodes: list[Any]) -> Tensor:
        loss, accuracy = learner.loss(episodes)
        last_accuracy[0] = float(accuracy)
        return loss

    objective = data_parallel(
        WeightedLoss(learner, episode_loss if learner.episodic else learner.batch_loss)
    )
    iterator: Iterable[Any] = range(steps) if progress is None else progress(range(steps))
    for step in iterator:
        optimizer.zero_grad()
        if learner.episodic:
            episodes = [sampler.sample(generator) for _ in range(episodes_per_step)]
            part, weight = shard(torch.arange(episodes_per_step))
            mine = [episodes[i] for i in part.tolist()]
            loss = objective(weight, mine)
            accuracies.append(last_accuracy[0])
        else:
            index = torch.randint(len(sampler.y), (batch,), generator=generator)
            index, weight = shard(index)
            loss = objective(weight, sampler.x[index], _relabel(sampler, sampler.y[index]))
        if check is not None:
            check(loss, step)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    learner.eval()
    return {
        "final_loss": sum(losses[-tail:]) / tail,
        "final_accuracy": sum(accuracies[-tail:]) / tail if accuracies else float("nan"),
        "train_seconds": time.perf_counter() - start,
    }


def _relabel(sampler: EpisodeSampler, labels: Tensor) -> Tensor:
    """Data-set labels → ``0 … classes-1`` in the sampler's class order."""
    return torch.searchsorted(sampler.labels, labels)


def evaluate(
    learner: FewShotLearner,
    sampler: EpisodeSampler,
    *,
    episodes: int = 600,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Accuracy on ``episodes`` test episodes: the mean and its 95 % confidence interval.

    Args:
        learner: a trained method.
        sampler: draws the test episodes.
        episodes: how many (600 in the few-shot literature).
        generator: makes the episodes reproducible (the same for every method).
        progress: wraps the episode range; None: no bar.

    Returns:
        ``{"accuracy", "ci95", "episode_accuracies", "test_seconds"}``.

    Raises:
        ValueError: ``episodes`` is not a positive int.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, ProtoNet, evaluate
        >>> x, y = torch.rand(60, 1, 28, 28), torch.arange(6).repeat_interleave(10)
        >>> sampler = EpisodeSampler(x, y, ways=3, shots=1, queries=2)
        >>> result = evaluate(ProtoNet(ConvNet(channels=8)), sampler, episodes=5)
        >>> 0.0 <= result["accuracy"] <= 1.0, len(result["episode_accuracies"])
        (True, 5)
    """
    check_int(episodes, "episodes", 1)
    learner.eval()
    start = time.perf_counter()
    scores: list[float] = []
    iterator: Iterable[Any] = range(episodes) if progress is None else progress(range(episodes))
    for _ in iterator:
        scores.append(learner.accuracy(sampler.sample(generator)))
    mean, half = mean_ci95(scores)
    return {
        "accuracy": mean,
        "ci95": half,
        "episode_accuracies": scores,
        "test_seconds": time.perf_counter() - start,
    }
