"""What every method of the recipe shares: the member losses and the training loop.

A method is an ``nn.Module`` that returns its predictions as a stack of members
``[K, N, out]`` (:meth:`Method.members`) and a training loss on a batch
(:meth:`Method.loss`). :meth:`Method.fit` trains it with Adam on minibatches drawn from
private generators, so a fit never touches the global random state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_positive_int, describe
from ..runner import WeightedLoss, data_parallel, shard

__all__ = ["TASKS", "Method", "member_nll", "mlp"]

TASKS = ("classification", "regression")

Progress = Callable[[Iterable[int]], Iterable[int]]


def check_task(task: object) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
    return str(task)


def mlp(
    in_features: int,
    hidden: tuple[int, ...],
    out_features: int,
    *,
    dropout: float = 0.0,
    flatten: bool = False,
) -> nn.Sequential:
    """A ReLU multilayer perceptron, optionally with dropout after every hidden layer.

    Args:
        in_features: input size (after flattening, with ``flatten=True``).
        hidden: widths of the hidden layers.
        out_features: output size.
        dropout: dropout probability after each hidden ReLU (0: none).
        flatten: start with ``nn.Flatten()`` (for image inputs).

    Returns:
        The ``nn.Sequential``.

    Raises:
        ValueError: ``dropout`` is outside [0, 1).

    Example:
        >>> mlp(784, (100,), 5, flatten=True)[1]
        Linear(in_features=784, out_features=100, bias=True)
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    width = check_positive_int(in_features, "in_features")
    for h in hidden:
        layers += [nn.Linear(width, check_positive_int(h, "each hidden width")), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, check_positive_int(out_features, "out_features")))
    return nn.Sequential(*layers)


def member_nll(outputs: Tensor, y: Tensor, task: str) -> Tensor:
    """Each member's mean negative log-likelihood on a batch.

    Args:
        outputs: ``[K, B, C]`` logits (classification) or ``[K, B, 2]`` Gaussian
            ``(mean, raw scale)`` outputs (regression, std = softplus(raw) + 1e-3).
        y: ``[B]`` class ids or ``[K, B]`` / ``[B]`` targets.
        task: ``"classification"`` or ``"regression"``.

    Returns:
        ``[K]`` mean negative log-likelihoods.

    Example:
        >>> import torch
        >>> member_nll(torch.zeros(3, 4, 2), torch.zeros(4, dtype=torch.long), "classification")
        tensor([0.6931, 0.6931, 0.6931])
    """
    k = outputs.shape[0]
    if task == "classification":
        target = y.expand(k, *y.shape[-1:]) if y.dim() == 1 else y
        return (
            F.cross_entropy(outputs.flatten(0, 1), target.flatten(), reduction="none")
            .view(k, -1)
            .mean(1)
        )
    target = y.expand(k, *y.shape[-1:]) if y.dim() == 1 else y
    mean, std = outputs[..., 0], F.softplus(outputs[..., 1]) + 1e-3
    nll = 0.5 * ((target - mean) / std) ** 2 + std.log() + 0.9189385332046727
    return nll.mean(1)


class Method(nn.Module):
    """Base class: a model whose predictions are a stack of members.

    Subclasses implement :meth:`members` and :meth:`loss`; ``orders`` (how many independent
    data orders :meth:`fit` draws per epoch, 1 except for the deep ensemble) may be
    overridden.
    """

    task: str = "classification"

    def members(self, x: Tensor, k: int | None = None) -> Tensor:
        """Predictions ``[K, N, out]`` of the members on ``x`` (``k``: how many to draw)."""
        raise NotImplementedError

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """The training loss on a batch (``x``/``y`` carry a leading order dimension when
        :meth:`orders` > 1)."""
        raise NotImplementedError

    def orders(self) -> int:
        return 1

    def generators(self, seed: int) -> list[torch.Generator]:
        """One batch-order generator per data order, seeded from ``seed``."""
        return [torch.Generator().manual_seed(seed * 1009 + i) for i in range(self.orders())]

    @property
    def num_params(self) -> int:
        """The number of trainable numbers."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def fit(
        self,
        x: Tensor,
        y: Tensor,
        *,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> Method:
        """Train with Adam for ``epochs`` passes over ``(x, y)`` in shuffled minibatches.

        Args:
            x: ``[N, ...]`` inputs.
            y: ``[N]`` class ids or targets.
            epochs: passes over the data.
            batch_size: examples per step.
            lr: Adam's learning rate.
            weight_decay: Adam's (L2) weight decay.
            seed: seeds the batch order (the initialisation is the constructor's).
            progress: wraps the epoch range (e.g. a progress bar); None for none.

        Returns:
            ``self``.

        Raises:
            TypeError, ValueError: bad ``x``/``y`` or a non-positive ``epochs``/``batch_size``.
        """
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        check_data(x, y)
        optimizer = torch.optim.Adam(
            [p for p in self.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay
        )
        gens = self.generators(seed)
        n = x.shape[0]
        # Under torchrun each rank trains on its part of every batch and DDP averages the
        # gradients: the same steps as one process (see hypernetworks.runner.shard).
        step = data_parallel(WeightedLoss(self, self.loss))
        self.train()
        for _ in (progress or (lambda r: r))(range(epochs)):
            order = torch.stack([torch.randperm(n, generator=g) for g in gens])
            for start in range(0, n, batch_size):
                index, weight = shard(order[:, start : start + batch_size], dim=1)
                if index.shape[0] == 1:
                    index = index[0]
                loss = step(weight, x[index], y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        self.eval()
        return self


def check_data(x: object, y: object) -> None:
    """Refuse inputs and targets that are not matching tensors."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a float tensor [N, ...], got {describe(x)}")
    if not isinstance(y, Tensor) or y.dim() != 1:
        raise TypeError(f"y must be a 1-D tensor [N], got {describe(y)}")
    if x.dim() == 0 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"x and y must hold the same number (>= 1) of examples, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
