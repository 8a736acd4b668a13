"""HyperShot (Sendera et al. 2022): a kernel of the support set → a hypernetwork → the classifier.

The backbone embeds the support set. The kernel matrix between the support examples,
ordered by class, is the condition of a hypernetwork built with :func:`hypernetworks.hypernetize`;
it generates the weights of a linear classifier whose input is the kernel vector between a
query and the support examples. The generated classifier relies on relations between
embeddings, not on their raw values, so it can adapt to tasks unlike the training ones.

Here the generated classifier is a residual on top of the prototype rule: a query's logits
are ``τ · (−‖q − p_c‖²) + f_θ(K)(k(q, S))`` with the class means ``p_c``, a learned
temperature ``τ`` (1 at the start) and a classifier ``f`` whose weights ``θ₀ + Δθ(K)``
start at zero, so an untrained HyperShot is exactly ProtoNet. With ``detach=True``
(default) the backbone learns from the prototype rule's loss alone and the hypernetwork
learns on detached embeddings: the backbone's training is then exactly ProtoNet's, and
any difference between the two methods is what the generated classifier adds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import hypernetworks as hn

from .._checks import check_int, check_positive_int, check_positive_number
from ._adapt import adapt, view_features, view_prototypes
from ._backbone import ConvNet
from ._episodes import Episode, stack_episodes
from ._learner import FewShotLearner

__all__ = ["KERNELS", "HyperShot", "SupportKernel", "kernel_matrix"]

KERNELS = ("cosine", "euclidean")


def kernel_matrix(a: Tensor, b: Tensor, kernel: str) -> Tensor:
    """Kernel values between the rows of ``a [..., n, d]`` and ``b [..., m, d]``: ``[..., n, m]``.

    ``"cosine"`` is the cosine similarity; ``"euclidean"`` is minus the squared distance
    (ProtoNet's score).

    Raises:
        ValueError: an unknown kernel.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import kernel_matrix
        >>> a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> kernel_matrix(a, a, "cosine").tolist(), kernel_matrix(a, a, "euclidean").tolist()
        ([[1.0, 0.0], [0.0, 1.0]], [[-0.0, -5.0], [-5.0, -0.0]])
    """
    if kernel == "cosine":
        a, b = nn.functional.normalize(a, dim=-1), nn.functional.normalize(b, dim=-1)
        return a @ b.transpose(-1, -2)
    if kernel == "euclidean":
        squared = (a * a).sum(-1, keepdim=True) + (b * b).sum(-1).unsqueeze(-2)
        return -(squared - 2 * a @ b.transpose(-1, -2)).clamp_min(0.0)
    raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")


class SupportKernel(hn.Conditioner):
    """Conditioner: support embeddings ``[N·K, d]`` (or ``[B, N·K, d]``) → their kernel matrix.

    The ``(N·K)²`` kernel values between the support examples, in class order, flattened
    and divided by their mean absolute value (so the hypernetwork sees relations, not the
    embeddings' scale, which drifts while the backbone trains).

    Args:
        ways: classes per episode.
        shots: support examples per class.
        kernel: ``"cosine"`` or ``"euclidean"``.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import SupportKernel
        >>> kernel = SupportKernel(ways=5, shots=1)
        >>> kernel(torch.randn(5, 32)).shape, kernel(torch.randn(3, 5, 32)).shape
        (torch.Size([25]), torch.Size([3, 25]))
    """

    def __init__(self, ways: int, shots: int, kernel: str = "cosine") -> None:
        super().__init__()
        check_positive_int(ways, "ways")
        check_positive_int(shots, "shots")
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        self.ways, self.shots, self.kernel = int(ways), int(shots), kernel
        self.size = self.ways * self.shots
        self.dim = self.size**2
        self.register_buffer("_probe", torch.empty(0), persistent=False)

    def forward(self, c: Tensor) -> Tensor:
        expected = f"support embeddings [{self.size}, d] or [batch, {self.size}, d]"
        if not isinstance(c, Tensor) or not c.is_floating_point():
            raise TypeError(f"expected {expected}, got {type(c).__name__}")
        if c.dim() not in (2, 3) or c.shape[-2] != self.size:
            raise ValueError(f"expected {expected}, got shape {tuple(c.shape)}")
        k = kernel_matrix(c, c, self.kernel).flatten(-2)
        return k / k.abs().mean(-1, keepdim=True).clamp_min(1e-6)

    def extra_repr(self) -> str:
        return f"ways={self.ways}, shots={self.shots}, kernel={self.kernel!r}"


class HyperShot(FewShotLearner):
    """HyperShot: the prototype rule plus a classifier generated from the support kernel.

    The classifier (``nn.Linear(ways·shots, ways)``, zero at the start) takes a query's
    kernel values against the support examples; its weights come from ``hn.hypernetize``
    with a :class:`SupportKernel` conditioner. Its logits are added to the prototype
    rule's ``τ · (−‖q − p_c‖²)`` (ProtoNet's logits times a learned temperature). One
    episode runs the core's shared path; a list of episodes runs its per-sample path,
    each query with its own episode's support set as condition.

    Args:
        ways: classes per episode (fixed: the classifier's shape depends on it).
        shots: support examples per class (fixed as well).
        backbone: the feature extractor (default: :class:`ConvNet`).
        kernel: ``"euclidean"`` (default) or ``"cosine"``.
        hidden: the hypernetwork body's widths.
        detach: train the backbone on the prototype rule's loss alone and the
            hypernetwork (and ``τ``) on detached embeddings (the loss is the sum of both
            cross-entropies); False: one cross-entropy of the summed logits trains all.
        views: test-time adaptation (0: off). :meth:`predict` draws ``views``
            random affine views of every support image (:func:`affine_views`); they
            join the class means, and as pseudo-queries with known labels
            ``adapt_steps`` Adam steps (``adapt_lr``) fit the episode's generated
            classifier and ``τ`` to them. The backbone and the hypernetwork are not
            changed; training is not affected.
        adapt_steps: Adam steps of the adaptation (0: the views only join the means).
        adapt_lr: its learning rate.
        view_seed: seeds the views' transforms, drawn afresh for every episode, so
            :meth:`predict` is deterministic.

    Raises:
        ValueError: bad ``ways``/``shots``/``kernel``/``views``/``adapt_steps``/
            ``adapt_lr``; at run time, episodes of another shape.
        TypeError: ``detach`` is not a bool.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, HyperShot, ProtoNet
        >>> x, y = torch.rand(60, 1, 28, 28), torch.arange(6).repeat_interleave(10)
        >>> episode = EpisodeSampler(x, y, ways=3, shots=2, queries=4).sample()
        >>> model = HyperShot(ways=3, shots=2, backbone=ConvNet(channels=8))
        >>> model.predict(episode).shape
        torch.Size([12, 3])
        >>> untrained = ProtoNet(model.backbone).predict(episode)  # exactly ProtoNet at first
        >>> torch.allclose(model.predict(episode), untrained)
        True
    """

    def __init__(
        self,
        ways: int,
        shots: int,
        backbone: nn.Module | None = None,
        *,
        kernel: str = "euclidean",
        hidden: tuple[int, ...] = (256, 256),
        detach: bool = True,
        views: int = 0,
        adapt_steps: int = 0,
        adapt_lr: float = 1e-3,
        view_seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(detach, bool):
            raise TypeError(f"detach must be a bool, got {type(detach).__name__}")
        self.views = check_int(views, "views", 0)
        self.adapt_steps = check_int(adapt_steps, "adapt_steps", 0)
        if self.adapt_steps and not self.views:
            raise ValueError(f"adapt_steps={adapt_steps} needs views >= 1, got views={views}")
        self.adapt_lr = check_positive_number(adapt_lr, "adapt_lr")
        self.view_seed = int(view_seed)
        conditioner = SupportKernel(ways, shots, kernel)
        self.ways, self.shots, self.kernel = conditioner.ways, conditioner.shots, kernel
        self.detach = detach
        self.backbone = backbone if backbone is not None else ConvNet()
        self.log_temperature = nn.Parameter(torch.zeros(()))
        classifier = nn.Linear(self.ways * self.shots, self.ways)
        nn.init.zeros_(classifier.weight)
        nn.init.zeros_(classifier.bias)
        self.classifier = hn.hypernetize(classifier, conditioner, hidden=hidden)

    def _check(self, episode: Episode) -> None:
        if episode.ways != self.ways or episode.shots != self.shots:
            raise ValueError(
                f"this HyperShot was built for {self.ways}-way {self.shots}-shot episodes, "
                f"got a {episode.ways}-way {episode.shots}-shot episode"
            )

    def parts(self, episodes: list[Episode]) -> tuple[Tensor, Tensor]:
        """``(prototype logits, generated classifier's logits)``, each ``[E, N·Q, N]``.

        The prototype logits are ProtoNet's (without the temperature); with ``detach``
        the generated classifier sees detached embeddings.
        """
        for episode in episodes:
            self._check(episode)
        support_x, _, query_x, _ = stack_episodes(episodes)
        count, n_support, n_query = support_x.shape[0], support_x.shape[1], query_x.shape[1]
        features = self.backbone(torch.cat([support_x.flatten(0, 1), query_x.flatten(0, 1)]))
        support = features[: count * n_support].unflatten(0, (count, n_support))
        query = features[count * n_support :].unflatten(0, (count, n_query))
        prototypes = support.unflatten(1, (self.ways, self.shots)).mean(2)
        base = -torch.cdist(query, prototypes).pow(2)
        if self.detach:
            support, query = support.detach(), query.detach()
        scores = kernel_matrix(query, support, self.kernel)  # [E, Q, N·K]
        if count == 1:  # one weight set for the episode: the core's shared path
            return base, self.classifier(scores[0], support[0]).unsqueeze(0)
        conditions = support.repeat_interleave(n_query, dim=0)  # each query: its support set
        generated = self.classifier(scores.flatten(0, 1), conditions)
        return base, generated.unflatten(0, (count, n_query))

    def episode_logits(self, episodes: list[Episode]) -> Tensor:
        base, generated = self.parts(episodes)
        return self.log_temperature.exp() * base + generated

    def loss(self, episodes: list[Episode]) -> tuple[Tensor, Tensor]:
        """The query cross-entropy (with ``detach``: prototype rule's + the sum's) and accuracy."""
        base, generated = self.parts(episodes)
        labels = torch.stack([e.query_y for e in episodes]).flatten()
        if self.detach:
            logits = self.log_temperature.exp() * base.detach() + generated
            loss = F.cross_entropy(base.flatten(0, 1), labels)
            loss = loss + F.cross_entropy(logits.flatten(0, 1), labels)
        else:
            logits = self.log_temperature.exp() * base + generated
            loss = F.cross_entropy(logits.flatten(0, 1), labels)
        accuracy = (logits.flatten(0, 1).argmax(-1) == labels).float().mean().detach()
        return loss, accuracy

    def predict(self, episode: Episode) -> Tensor:
        """Query logits for one test episode; with ``views`` > 0, after test-time adaptation.

        Example:
            >>> import torch
            >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, HyperShot
            >>> x, y = torch.rand(40, 1, 28, 28), torch.arange(4).repeat_interleave(10)
            >>> episode = EpisodeSampler(x, y, ways=2, shots=1, queries=3).sample()
            >>> model = HyperShot(2, 1, ConvNet(channels=8), views=4, adapt_steps=3)
            >>> torch.equal(model.predict(episode), model.predict(episode))  # deterministic
            True
        """
        if not self.views:
            return super().predict(episode)
        return self.predict_with_controls(episode)["hypershot"]

    def predict_with_controls(self, episode: Episode) -> dict[str, Tensor]:
        """Query logits of HyperShot and of its two prototype-rule controls, in one pass.

        Returns:
            ``{"hypershot", "prototypes", "prototypes_with_views"}``: :meth:`predict`'s
            logits; ProtoNet's (the plain class means); and ProtoNet's with the
            augmented support views in the class means (HyperShot's own means, without
            the generated classifier). The three share one backbone pass, so they are
            scored on exactly the same features.

        Example:
            >>> import torch
            >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, HyperShot
            >>> x, y = torch.rand(40, 1, 28, 28), torch.arange(4).repeat_interleave(10)
            >>> episode = EpisodeSampler(x, y, ways=2, shots=1, queries=3).sample()
            >>> model = HyperShot(2, 1, ConvNet(channels=8), views=2, adapt_steps=2)
            >>> sorted(model.predict_with_controls(episode))
            ['hypershot', 'prototypes', 'prototypes_with_views']
        """
        self._check(episode)
        views = max(self.views, 1)
        support, query, copies = view_features(
            self.backbone, episode.support_x, episode.query_x, views, self.view_seed
        )
        if not self.views:
            copies = copies[:, :0]
        prototypes = view_prototypes(support, copies, self.ways, self.shots)
        classifier = self.classifier.materialize(support)
        log_temperature = self.log_temperature.detach().clone()
        if self.adapt_steps:
            pseudo = copies.flatten(0, 1)  # grouped by support example
            adapt(
                classifier,
                log_temperature.requires_grad_(True),
                -torch.cdist(pseudo, prototypes).pow(2),
                kernel_matrix(pseudo, support, self.kernel),
                episode.support_y.repeat_interleave(self.views),
                steps=self.adapt_steps,
                lr=self.adapt_lr,
            )
        with torch.no_grad():
            base = -torch.cdist(query, prototypes).pow(2)
            generated = classifier(kernel_matrix(query, support, self.kernel))
            plain = support.unflatten(0, (self.ways, self.shots)).mean(1)
            return {
                "hypershot": log_temperature.exp() * base + generated,
                "prototypes": -torch.cdist(query, plain).pow(2),
                "prototypes_with_views": base,
            }

    def generate(self, episode: Episode) -> nn.Linear:
        """The classifier generated for ``episode``'s support set, as a standalone ``nn.Linear``.

        Its input is a query's kernel vector against the support set; its logits are
        added to the (tempered) prototype logits.

        Example:
            >>> import torch
            >>> from hypernetworks.fewshot import ConvNet, EpisodeSampler, HyperShot
            >>> x, y = torch.rand(40, 1, 28, 28), torch.arange(4).repeat_interleave(10)
            >>> episode = EpisodeSampler(x, y, ways=2, shots=1, queries=3).sample()
            >>> HyperShot(2, 1, ConvNet(channels=8)).generate(episode).weight.shape
            torch.Size([2, 2])
        """
        self._check(episode)
        with torch.no_grad():
            support = self.backbone(episode.support_x)
        classifier = self.classifier.materialize(support)
        if not isinstance(classifier, nn.Linear):  # pragma: no cover - built as nn.Linear
            raise TypeError("the generated classifier is not an nn.Linear")
        return classifier
