"""The interface every few-shot method implements, so that one harness trains and tests all."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._episodes import Episode

__all__ = ["FewShotLearner"]


class FewShotLearner(nn.Module):
    """Base class of the few-shot methods (HyperShot, ProtoNet, MAML, fine-tuning).

    Subclasses implement :meth:`episode_logits`. Episodic methods train on
    :meth:`loss` over a list of episodes; a method with ``episodic = False`` (the
    fine-tuned linear head) trains on :meth:`batch_loss` over ordinary labelled batches
    instead. :meth:`predict` scores one test episode.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import EpisodeSampler, FewShotLearner
        >>> class Nearest(FewShotLearner):  # 1-nearest neighbour on raw pixels
        ...     def episode_logits(self, episodes):
        ...         return torch.stack([-torch.cdist(e.query_x, e.support_x) for e in episodes])
        >>> x, y = torch.randn(40, 8), torch.arange(4).repeat_interleave(10)
        >>> episode = EpisodeSampler(x, y, ways=2, shots=1, queries=3).sample()
        >>> Nearest().predict(episode).shape
        torch.Size([6, 2])
    """

    episodic: bool = True

    def episode_logits(self, episodes: list[Episode]) -> Tensor:
        """Query logits ``[E, ways × queries, ways]`` for ``E`` episodes of one shape."""
        raise NotImplementedError

    def loss(self, episodes: list[Episode]) -> tuple[Tensor, Tensor]:
        """Mean query cross-entropy over ``episodes`` and the query accuracy (detached).

        Args:
            episodes: episodes of one shape.

        Returns:
            ``(loss, accuracy)``, both 0-d.
        """
        logits = self.episode_logits(episodes)
        labels = torch.stack([e.query_y for e in episodes])
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten())
        accuracy = (logits.argmax(-1) == labels).float().mean().detach()
        return loss, accuracy

    def batch_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Supervised loss on a labelled batch (only for methods with ``episodic = False``)."""
        raise TypeError(f"{type(self).__name__} trains on episodes, not on labelled batches")

    def predict(self, episode: Episode) -> Tensor:
        """Query logits ``[ways × queries, ways]`` for one test episode, without gradients."""
        with torch.no_grad():
            return self.episode_logits([episode])[0]

    def accuracy(self, episode: Episode) -> float:
        """Fraction of the episode's queries classified correctly."""
        return float((self.predict(episode).argmax(-1) == episode.query_y).float().mean())
