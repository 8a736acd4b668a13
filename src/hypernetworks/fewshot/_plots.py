"""A picture of test episodes: the support set, and queries marked right or wrong."""

from __future__ import annotations

from typing import Any

from ._episodes import Episode
from ._learner import FewShotLearner

__all__ = ["plot_episodes"]


def plot_episodes(
    learner: FewShotLearner, episodes: list[Episode], *, title: str = "", queries: int = 10
) -> Any:
    """One block per episode: the first support image of each class, then ``queries`` queries
    titled with the predicted class (green when right, red when wrong).

    Args:
        learner: a trained method.
        episodes: the episodes to draw (images ``[n, 1, H, W]``).
        title: the figure's title.
        queries: how many queries to draw per episode (spread over the classes).

    Returns:
        A matplotlib ``Figure`` (pass it to ``run.save_figure``).

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: no episodes.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, ProtoNet, plot_episodes
        >>> x, y = torch.rand(40, 1, 28, 28), torch.arange(4).repeat_interleave(10)
        >>> episode = EpisodeSampler(x, y, ways=2, shots=1, queries=3).sample()
        >>> figure = plot_episodes(ProtoNet(ConvNet(channels=8)), [episode], queries=4)
        >>> len(figure.axes)
        6
    """
    if not episodes:
        raise ValueError("plot_episodes needs at least one episode, got none")
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency of the extra
        raise ImportError("plot_episodes needs matplotlib: pip install matplotlib") from error
    ways = episodes[0].ways
    columns = ways + queries
    figure = Figure(figsize=(0.9 * columns, 1.2 * len(episodes) + 0.4), layout="constrained")
    if title:
        figure.suptitle(title)
    axes = figure.subplots(len(episodes), columns, squeeze=False)
    for row, episode in zip(axes, episodes, strict=True):
        predicted = learner.predict(episode).argmax(-1)
        shots = episode.shots
        for c in range(ways):
            row[c].imshow(episode.support_x[c * shots, 0].cpu().numpy(), cmap="gray")
            row[c].set_title(f"class {c}", fontsize=8)
        step = max(1, len(episode.query_y) // queries)
        picks = list(range(0, len(episode.query_y), step))[:queries]
        for axis, q in zip(row[ways:], picks, strict=False):
            right = bool(predicted[q] == episode.query_y[q])
            axis.imshow(episode.query_x[q, 0].cpu().numpy(), cmap="gray")
            axis.set_title(f"→ {int(predicted[q])}", fontsize=8, color="green" if right else "red")
        for axis in row:
            axis.set_xticks([])
            axis.set_yticks([])
    return figure
