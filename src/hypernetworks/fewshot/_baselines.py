"""Baselines in the same harness: ProtoNet, first-order MAML and a linear head on frozen features.

* :class:`ProtoNet` (Snell et al. 2017): class prototypes are the mean support
  embeddings; a query's logits are minus its squared distances to them.
* :class:`MAML` (Finn et al. 2017), first order: a meta-learned initialization of the
  backbone and a zero-initialised linear head, adapted by a few SGD steps on the support
  set. The adapted weights are ``θ - α·Σg`` with the inner gradients ``g`` detached, so
  the query loss's gradient with respect to ``θ`` is the first-order MAML gradient.
* :class:`Finetune` (the "Baseline" of Chen et al. 2019): the backbone and a classifier
  over all training classes are trained on ordinary batches; for a test episode a new
  linear head is fitted on the frozen, L2-normalized support features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .._checks import check_int, check_positive_int, check_positive_number
from ._adapt import view_features, view_prototypes
from ._backbone import ConvNet
from ._episodes import Episode, stack_episodes
from ._learner import FewShotLearner

__all__ = ["MAML", "Finetune", "ProtoNet"]


def _feature_size(backbone: nn.Module) -> int:
    size = getattr(backbone, "out_features", None)
    if not isinstance(size, int):
        raise ValueError(
            f"the backbone must expose its feature size as an int `out_features`, got {size!r}"
        )
    return size


class ProtoNet(FewShotLearner):
    """Prototypical networks: logits are minus squared distances to the class means.

    Args:
        backbone: the feature extractor (default: :class:`ConvNet`).
        views: at test time (:meth:`predict`), also average ``views`` random affine
            views of every support image into its class mean (:func:`affine_views`;
            0: off). The control for HyperShot's test-time adaptation: with the same
            ``views`` and ``view_seed`` it has exactly HyperShot's class means.
        view_seed: seeds the views' transforms (drawn afresh for every episode).

    Raises:
        ValueError: ``views`` is not an int >= 0.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, ProtoNet
        >>> x, y = torch.rand(60, 1, 28, 28), torch.arange(6).repeat_interleave(10)
        >>> episode = EpisodeSampler(x, y, ways=3, shots=2, queries=4).sample()
        >>> ProtoNet(ConvNet(channels=8)).predict(episode).shape
        torch.Size([12, 3])
        >>> ProtoNet(ConvNet(channels=8), views=4).predict(episode).shape
        torch.Size([12, 3])
    """

    def __init__(
        self, backbone: nn.Module | None = None, *, views: int = 0, view_seed: int = 0
    ) -> None:
        super().__init__()
        self.views, self.view_seed = check_int(views, "views", 0), int(view_seed)
        self.backbone = backbone if backbone is not None else ConvNet()

    def predict(self, episode: Episode) -> Tensor:
        """Query logits for one test episode (with ``views`` > 0: augmented class means)."""
        if not self.views:
            return super().predict(episode)
        support, query, copies = view_features(
            self.backbone, episode.support_x, episode.query_x, self.views, self.view_seed
        )
        prototypes = view_prototypes(support, copies, episode.ways, episode.shots)
        return -torch.cdist(query, prototypes).pow(2)

    def episode_logits(self, episodes: list[Episode]) -> Tensor:
        support_x, _, query_x, _ = stack_episodes(episodes)
        count, n_support = support_x.shape[:2]
        ways = episodes[0].ways
        features = self.backbone(torch.cat([support_x.flatten(0, 1), query_x.flatten(0, 1)]))
        support = features[: count * n_support].unflatten(0, (count, ways, n_support // ways))
        query = features[count * n_support :].unflatten(0, (count, -1))
        prototypes = support.mean(2)  # [E, N, d]
        return -torch.cdist(query, prototypes).pow(2)


class MAML(FewShotLearner):
    """First-order MAML over the backbone and a zero-initialised linear head.

    Args:
        ways: classes per episode (the head's size).
        backbone: the feature extractor (default: :class:`ConvNet`); it must expose
            ``out_features``.
        inner_steps: SGD steps on the support set while training.
        test_steps: SGD steps on the support set when testing.
        inner_lr: the inner SGD step size.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import MAML, ConvNet, EpisodeSampler
        >>> x, y = torch.rand(60, 1, 28, 28), torch.arange(6).repeat_interleave(10)
        >>> episode = EpisodeSampler(x, y, ways=3, shots=2, queries=4).sample()
        >>> MAML(3, ConvNet(channels=8), inner_steps=1, test_steps=2).predict(episode).shape
        torch.Size([12, 3])
    """

    def __init__(
        self,
        ways: int,
        backbone: nn.Module | None = None,
        *,
        inner_steps: int = 5,
        test_steps: int = 10,
        inner_lr: float = 0.1,
    ) -> None:
        super().__init__()
        check_positive_int(ways, "ways")
        check_positive_int(inner_steps, "inner_steps")
        check_positive_int(test_steps, "test_steps")
        check_positive_number(inner_lr, "inner_lr")
        backbone = backbone if backbone is not None else ConvNet()
        head = nn.Linear(_feature_size(backbone), int(ways))
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        self.net = nn.Sequential(backbone, head)
        self.ways, self.inner_steps, self.test_steps = int(ways), inner_steps, test_steps
        self.inner_lr = float(inner_lr)

    def _adapted_logits(self, episode: Episode, steps: int) -> Tensor:
        if episode.ways != self.ways:
            raise ValueError(
                f"this MAML was built for {self.ways}-way episodes, got {episode.ways}-way"
            )
        params: dict[str, Tensor] = dict(self.net.named_parameters())
        for _ in range(steps):
            with torch.enable_grad():
                loss = F.cross_entropy(
                    functional_call(self.net, params, (episode.support_x,)), episode.support_y
                )
                grads = torch.autograd.grad(loss, list(params.values()))
            # first order: the step is a constant, so d(query loss)/dθ = d(query loss)/dθ'
            params = {
                name: value - self.inner_lr * grad.detach()
                for (name, value), grad in zip(params.items(), grads, strict=True)
            }
        return functional_call(self.net, params, (episode.query_x,))

    def episode_logits(self, episodes: list[Episode]) -> Tensor:
        steps = self.inner_steps if self.training else self.test_steps
        return torch.stack([self._adapted_logits(e, steps) for e in episodes])

    def predict(self, episode: Episode) -> Tensor:
        """Adapt ``test_steps`` steps on the support set, then score the queries."""
        logits = self._adapted_logits(episode, self.test_steps)
        return logits.detach()


class Finetune(FewShotLearner):
    """A linear head fine-tuned on frozen features of a backbone pre-trained on all classes.

    Args:
        num_classes: training classes (the pre-training classifier's size).
        backbone: the feature extractor (default: :class:`ConvNet`); it must expose
            ``out_features``.
        steps: full-batch Adam steps of the new head on each test episode's support set.
        lr: that Adam's learning rate.
        scale: the normalized features are multiplied by ``scale`` (a temperature).

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, Finetune
        >>> x, y = torch.rand(60, 1, 28, 28), torch.arange(6).repeat_interleave(10)
        >>> model = Finetune(6, ConvNet(channels=8), steps=5)
        >>> float(model.batch_loss(x[:8], y[:8]).detach()) > 0
        True
        >>> episode = EpisodeSampler(x, y, ways=3, shots=2, queries=4).sample()
        >>> model.predict(episode).shape
        torch.Size([12, 3])
    """

    episodic = False

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module | None = None,
        *,
        steps: int = 100,
        lr: float = 0.1,
        scale: float = 10.0,
    ) -> None:
        super().__init__()
        check_positive_int(num_classes, "num_classes")
        check_positive_int(steps, "steps")
        check_positive_number(lr, "lr")
        self.backbone = backbone if backbone is not None else ConvNet()
        self.pretrain_head = nn.Linear(_feature_size(self.backbone), int(num_classes))
        self.steps, self.lr, self.scale = steps, float(lr), float(scale)

    def batch_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Cross-entropy of the pre-training classifier on a labelled batch."""
        return F.cross_entropy(self.pretrain_head(self.backbone(x)), y)

    def _features(self, x: Tensor) -> Tensor:
        return F.normalize(self.backbone(x), dim=-1) * self.scale

    def episode_logits(self, episodes: list[Episode]) -> Tensor:
        return torch.stack([self.predict(e) for e in episodes])

    def predict(self, episode: Episode) -> Tensor:
        """Fit a zero-initialised linear head on the support features, score the queries."""
        with torch.no_grad():
            support = self._features(episode.support_x)
            query = self._features(episode.query_x)
        weight = torch.zeros(episode.ways, support.shape[1], requires_grad=True)
        bias = torch.zeros(episode.ways, requires_grad=True)
        optimizer = torch.optim.Adam([weight, bias], lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                optimizer.zero_grad()
                F.cross_entropy(F.linear(support, weight, bias), episode.support_y).backward()
                optimizer.step()
        return F.linear(query, weight, bias).detach()
