"""Few-shot episodes: N-way K-shot tasks drawn from a labelled image set, and their scoring."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_int

__all__ = ["Episode", "EpisodeSampler", "mean_ci95", "stack_episodes"]


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot task.

    Attributes:
        support_x: ``[ways × shots, *item]``, grouped by class: rows ``c·shots`` to
            ``(c+1)·shots - 1`` hold class ``c``.
        support_y: ``[ways × shots]`` episode labels ``0 … ways-1`` (that same order).
        query_x: ``[ways × queries, *item]``, grouped by class as well.
        query_y: ``[ways × queries]`` episode labels.
        classes: ``[ways]`` the data set's labels behind episode labels ``0 … ways-1``.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import EpisodeSampler
        >>> x, y = torch.randn(60, 3), torch.arange(6).repeat_interleave(10)
        >>> episode = EpisodeSampler(x, y, ways=3, shots=2, queries=4).sample()
        >>> episode.ways, episode.shots, tuple(episode.query_x.shape)
        (3, 2, (12, 3))
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    classes: Tensor

    @property
    def ways(self) -> int:
        """Number of classes."""
        return int(self.classes.numel())

    @property
    def shots(self) -> int:
        """Support examples per class."""
        return int(self.support_y.numel()) // self.ways


class EpisodeSampler:
    """Draws N-way K-shot episodes from ``(x, y)``: random classes, random disjoint examples.

    Only classes with at least ``shots + queries`` examples take part. Each episode picks
    ``ways`` of them in random order (so episode label ``c`` is a different class every
    time), then ``shots`` support and ``queries`` query examples of each, without overlap.

    Args:
        x: ``[n, *item]`` examples.
        y: ``[n]`` integer labels.
        ways: classes per episode, at least 2.
        shots: support examples per class, at least 1.
        queries: query examples per class, at least 1.

    Raises:
        TypeError: ``x``/``y`` are not tensors, ``y`` is not integer, or a count is not an int.
        ValueError: a count is too small, ``x`` and ``y`` differ in length, or ``ways``
            exceeds the classes that have ``shots + queries`` examples.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import EpisodeSampler
        >>> sampler = EpisodeSampler(torch.randn(40, 2), torch.arange(4).repeat(10), 2, 1, 3)
        >>> episode = sampler.sample(torch.Generator().manual_seed(0))
        >>> episode.support_y.tolist(), episode.query_y.tolist()
        ([0, 1], [0, 0, 0, 1, 1, 1])
    """

    def __init__(self, x: Tensor, y: Tensor, ways: int, shots: int, queries: int) -> None:
        if not isinstance(x, Tensor) or not isinstance(y, Tensor):
            raise TypeError(
                f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}"
            )
        if y.dim() != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
            raise TypeError(
                f"y must be a 1-D integer tensor, got {y.dtype} of shape {tuple(y.shape)}"
            )
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}"
            )
        self.ways = check_int(ways, "ways", 2)
        self.shots = check_int(shots, "shots", 1)
        self.queries = check_int(queries, "queries", 1)
        need = self.shots + self.queries
        labels, counts = torch.unique(y, return_counts=True)
        usable = labels[counts >= need]
        if self.ways > usable.numel():
            raise ValueError(
                f"ways (={self.ways}) must not exceed the classes available (={usable.numel()}) "
                f"with at least shots + queries = {need} examples each "
                f"({labels.numel()} classes in all)"
            )
        self.x, self.y = x, y
        self.labels = usable
        self._members = [torch.nonzero(y == label).flatten() for label in usable.tolist()]

    @property
    def num_classes(self) -> int:
        """How many classes episodes are drawn from."""
        return int(self.labels.numel())

    def sample(self, generator: torch.Generator | None = None) -> Episode:
        """One episode; ``generator`` makes it reproducible.

        Args:
            generator: a CPU ``torch.Generator`` (None: the global stream).

        Returns:
            An :class:`Episode`.
        """
        picks = torch.randperm(self.num_classes, generator=generator)[: self.ways]
        support, query = [], []
        for index in picks.tolist():
            members = self._members[index]
            order = members[torch.randperm(members.numel(), generator=generator)]
            support.append(order[: self.shots])
            query.append(order[self.shots : self.shots + self.queries])
        support_idx, query_idx = torch.cat(support), torch.cat(query)
        episode_labels = torch.arange(self.ways)
        return Episode(
            support_x=self.x[support_idx],
            support_y=episode_labels.repeat_interleave(self.shots),
            query_x=self.x[query_idx],
            query_y=episode_labels.repeat_interleave(self.queries),
            classes=self.labels[picks],
        )


def stack_episodes(episodes: list[Episode]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Episodes of one shape, stacked along a new first dimension.

    Returns:
        ``support_x [E, N·K, *item]``, ``support_y [E, N·K]``, ``query_x [E, N·Q, *item]``,
        ``query_y [E, N·Q]``.

    Raises:
        ValueError: no episodes, or episodes of different shapes.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import EpisodeSampler, stack_episodes
        >>> sampler = EpisodeSampler(torch.randn(40, 2), torch.arange(4).repeat(10), 2, 1, 3)
        >>> [tuple(t.shape) for t in stack_episodes([sampler.sample(), sampler.sample()])]
        [(2, 2, 2), (2, 2), (2, 6, 2), (2, 6)]
    """
    if not episodes:
        raise ValueError("expected at least one episode, got none")
    shapes = {(e.support_x.shape, e.query_x.shape) for e in episodes}
    if len(shapes) > 1:
        raise ValueError(f"episodes must all have one shape, got {len(shapes)} different shapes")
    return (
        torch.stack([e.support_x for e in episodes]),
        torch.stack([e.support_y for e in episodes]),
        torch.stack([e.query_x for e in episodes]),
        torch.stack([e.query_y for e in episodes]),
    )


def mean_ci95(values: list[float] | Tensor) -> tuple[float, float]:
    """Mean and the half-width of its normal 95 % confidence interval (1.96 · s / √n).

    Raises:
        ValueError: no values.

    Example:
        >>> from hypernetworks.fewshot import mean_ci95
        >>> mean, half = mean_ci95([0.5, 0.7, 0.6, 0.6])
        >>> round(mean, 3), round(half, 3)
        (0.6, 0.08)
    """
    data = torch.as_tensor(values, dtype=torch.float64).flatten()
    if data.numel() == 0:
        raise ValueError("mean_ci95 needs at least one value, got none")
    if data.numel() == 1:
        return float(data[0]), 0.0
    return float(data.mean()), 1.96 * float(data.std()) / math.sqrt(data.numel())
