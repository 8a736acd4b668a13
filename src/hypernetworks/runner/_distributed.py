"""Data parallelism under ``torchrun``: the process group, batch shards and DDP.

A recipe's CLI started with ``torchrun --nproc-per-node N -m hypernetworks.cli ...``
gets ``WORLD_SIZE``/``RANK`` in its environment; :class:`~hypernetworks.runner.Run`
then opens the process group (gloo on the CPU, NCCL on CUDA) and closes it on exit.
Training loops stay the same code with or without it:

* :func:`data_parallel` wraps a module in ``DistributedDataParallel`` (and returns it
  unchanged in one process), so gradients are averaged across ranks by torch itself;
* :func:`shard` gives each rank its slice of a global batch of indices, so every
  optimisation step sees the same global batch as one process would: the figures
  agree with a one-process run within floating-point noise.

Only rank 0 writes files, prints tables and shows progress bars (see ``Run``).

Example (one process: nothing changes):
    >>> import torch
    >>> part, weight = shard(torch.arange(6))
    >>> part.tolist(), weight
    ([0, 1, 2, 3, 4, 5], 1.0)
    >>> world()
    (0, 1)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

__all__ = [
    "WeightedLoss",
    "all_ranks_sum",
    "average_gradients",
    "close_process_group",
    "data_parallel",
    "init_from_environment",
    "shard",
    "world",
    "zero_loss",
]


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def world() -> tuple[int, int]:
    """``(rank, world size)``: ``(0, 1)`` outside ``torch.distributed``."""
    if not _initialized():
        return 0, 1
    import torch.distributed as dist

    return dist.get_rank(), dist.get_world_size()


def shard(index: Tensor, dim: int = 0) -> tuple[Tensor, float]:
    """This rank's part of a global batch ``index`` (every ``world size``-th entry along
    ``dim``), and the weight of its mean loss.

    With 2 ranks and a batch of 64, each rank trains on 32 of the 64 examples. DDP
    averages the ranks' gradients, so each rank multiplies its mean loss by
    ``weight = len(part) · world size / len(batch)``: the average is then exactly the
    gradient of the mean loss over all 64, as in one process, also for a last batch that
    does not split evenly (a rank whose part is empty has weight 0).
    """
    rank, size = world()
    if size == 1:
        return index, 1.0
    part = index.movedim(dim, 0)[rank::size].movedim(0, dim)
    return part, part.shape[dim] * size / max(index.shape[dim], 1)


def data_parallel(module: nn.Module, **options: object) -> nn.Module:
    """``module`` in ``DistributedDataParallel`` under ``torch.distributed``, else as is.

    DDP broadcasts rank 0's parameters and buffers on construction and averages the
    gradients of every backward pass across ranks. ``options`` go to DDP (e.g.
    ``find_unused_parameters=True``).
    """
    if world()[1] == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, **options)  # type: ignore[arg-type]


def all_ranks_sum(value: float) -> float:
    """``value`` summed over the ranks (itself in one process): e.g. an epoch's loss, so
    that decisions taken on it (early stopping) are the same on every rank."""
    if world()[1] == 1:
        return value
    import torch.distributed as dist

    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item())


def zero_loss(parameters: Iterable[Tensor]) -> Tensor:
    """A loss of 0 whose gradient reaches every trainable tensor of ``parameters``: what a
    rank with an empty part of a batch (:func:`shard`'s weight 0) backpropagates, so that
    it still takes part in the gradient average."""
    params = [p for p in parameters if p.requires_grad]
    zero = params[0].new_zeros(()) if params else torch.zeros(())
    return sum((p.sum() * 0.0 for p in params), zero)


def average_gradients(parameters: Iterable[Tensor]) -> None:
    """Average ``.grad`` of ``parameters`` across ranks (``all_reduce``), in place.

    For training loops DDP cannot wrap, e.g. a look-ahead built with
    ``torch.autograd.grad``: call it after the gradients of the rank's weighted loss (see
    :func:`shard`) are set and before the optimizer step. A missing gradient counts as
    zero. In one process it does nothing.
    """
    size = world()[1]
    if size == 1:
        return
    import torch.distributed as dist

    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= size


class WeightedLoss(nn.Module):
    """``weight · loss(*args)`` as the forward of a module that holds ``owner``.

    DDP averages the gradients of its wrapped module's forward, so a training loop whose
    loss is a method (``method.loss(x, y)``) wraps ``data_parallel(WeightedLoss(method,
    method.loss))`` and calls it with :func:`shard`'s weight. With weight 0 (a rank with an
    empty part of the batch) it returns a zero that still reaches every trainable
    parameter, so every rank takes part in the gradient average.

    Example:
        >>> import torch, torch.nn as nn
        >>> net = nn.Linear(2, 1)
        >>> step = WeightedLoss(net, lambda x: net(x).pow(2).mean())
        >>> step(0.0, torch.ones(3, 2)).item()
        0.0
    """

    def __init__(self, owner: nn.Module, loss: Callable[..., Tensor]) -> None:
        super().__init__()
        self.owner = owner
        self._loss = loss

    def forward(self, weight: float, *args: object, **kwargs: object) -> Tensor:
        if weight == 0.0:
            return zero_loss(self.owner.parameters())
        value = self._loss(*args, **kwargs)
        return value if weight == 1.0 else value * weight


def init_from_environment(device: torch.device) -> bool:
    """Open the default process group when started by ``torchrun`` (``WORLD_SIZE`` > 1).

    Returns:
        True when this call opened it (the caller closes it with
        ``torch.distributed.destroy_process_group``).

    Raises:
        RuntimeError: torch was built without ``torch.distributed``.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or _initialized():
        return False
    import torch.distributed as dist

    if not dist.is_available():
        raise RuntimeError(
            "started by torchrun (WORLD_SIZE > 1), but this torch has no torch.distributed"
        )
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


# torch 2.13's gloo worker threads free each finished collective a moment after it
# completes. A collective launched inside backward() (DDP's gradient all-reduce) holds a
# Python object, the autograd engine's stashed context, and freeing it takes the GIL: if
# the interpreter is finalizing by then, the thread aborts the process ("terminate called
# without an active exception", SIGABRT, after all work is done; 1 run in ~30 on 2 busy
# cores). Destroying the group does not join those threads, so we wait, without holding
# the GIL, for them to finish first.
GLOO_SETTLE_SECONDS = 0.5


def close_process_group() -> None:
    """Destroy the default process group, then give gloo's worker threads time to free
    their last collectives while the interpreter is still alive (see
    ``GLOO_SETTLE_SECONDS``). Call it last in a script that opened the group itself;
    :class:`~hypernetworks.runner.Run` calls it for the group it opened."""
    import torch.distributed as dist

    gloo = dist.get_backend() == "gloo"
    dist.destroy_process_group()
    if gloo:
        time.sleep(GLOO_SETTLE_SECONDS)
