"""What every trained field model shares: the training loop, ``complete`` and ``render``.

A subclass builds its network in ``_build()`` and predicts values at query coordinates
from context sets in ``_predict(context, coords)``. Training draws a batch of images,
one context size ``k`` per step (log-uniform between ``min_context`` pixels and all of
them), ``k`` random context pixels per image, and minimises the MSE on every pixel.
"""

from __future__ import annotations

import math
import time
from typing import TypeVar

import torch
from torch import Tensor, nn

from .._checks import check_positive_int, describe
from ..runner import WeightedLoss, check_finite, data_parallel, shard, world
from ..runner import progress as progress_bar
from ._context import check_images, check_mask, context_set, random_masks
from ._siren import pixel_grid

__all__ = ["FieldModel", "check_architecture"]

ENCODERS = ("deepsets", "attention")


def check_architecture(
    hidden: object, layers: object, code: object, encoder: object
) -> tuple[int, int, int, str]:
    """Check the settings both field models share; return ``(hidden, layers, code, encoder)``.

    Raises:
        TypeError / ValueError: a size is not a positive int, or ``encoder`` is neither
            ``"deepsets"`` nor ``"attention"``.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be 'deepsets' or 'attention', got {encoder!r}")
    return (
        check_positive_int(hidden, "hidden"),
        check_positive_int(layers, "layers"),
        check_positive_int(code, "code"),
        str(encoder),
    )


_Model = TypeVar("_Model", bound="FieldModel")


class FieldModel:
    """Base class of the trained field models (:class:`FieldHyperNetwork`, :class:`CNP`).

    Args:
        channels: image channels ``C``.
        steps: Adam steps of :meth:`fit`.
        batch_size: images per step (and per chunk at inference).
        lr: Adam's learning rate.
        min_context: the smallest context (pixels) drawn during training.
        queries: pixels per image scored in a training step (a random subset; all
            pixels when an image has fewer).
        seed: seeds the initialisation, batches and context draws (global state untouched).
        progress: show a progress bar during :meth:`fit`.
    """

    model_: nn.Module

    def __init__(
        self,
        channels: int,
        *,
        steps: int = 2000,
        batch_size: int = 32,
        lr: float = 1e-3,
        min_context: int = 5,
        queries: int = 128,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.channels = check_positive_int(channels, "channels")
        self.steps = check_positive_int(steps, "steps")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"lr must be a positive number, got {describe(lr)}")
        self.lr = float(lr)
        self.min_context = check_positive_int(min_context, "min_context")
        self.queries = check_positive_int(queries, "queries")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {describe(seed)}")
        self.seed = seed
        self.progress = bool(progress)

    # -- to implement -------------------------------------------------------------
    def _build(self) -> nn.Module:
        raise NotImplementedError

    def _predict(self, context: Tensor, coords: Tensor) -> Tensor:
        """Values ``[B, P, C]`` at ``coords [B, P, 2]`` given context sets ``[B, n, 2+C+1]``."""
        raise NotImplementedError

    # -- training -----------------------------------------------------------------
    def fit(self: _Model, images: Tensor) -> _Model:
        """Learn a prior over ``images`` (``[N, C, H, W]`` in [0, 1]); returns ``self``.

        Raises:
            TypeError / ValueError: ``images`` has the wrong type, shape, channels or range.
            hypernetworks.runner.NonFiniteError: the loss became nan or inf.
        """
        images = check_images(images, self.channels)
        n, c, h, w = images.shape
        if self.min_context > h * w:
            raise ValueError(
                f"min_context (={self.min_context}) must not exceed the pixels "
                f"of an image (={h * w})"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model_ = self._build().to(images.dtype)
        generator = torch.Generator().manual_seed(self.seed + 1)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.steps)
        coords = pixel_grid(h, w, dtype=images.dtype).expand(min(n, self.batch_size), h * w, 2)
        targets = images.reshape(n, c, h * w).transpose(1, 2)
        low, high = math.log(self.min_context), math.log(h * w)
        self.losses_: list[float] = []
        start, cpu_start = time.perf_counter(), time.process_time()

        def batch_loss(index: Tensor, mask: Tensor, query: Tensor) -> Tensor:
            prediction = self._predict(
                context_set(images[index], mask), coords[: len(index), query]
            )
            return ((prediction - targets[index][:, query]) ** 2).mean()

        # Under torchrun each rank takes its images of every batch and DDP averages the
        # gradients (see hypernetworks.runner.shard); in one process: the plain loss.
        objective = data_parallel(WeightedLoss(self.model_, batch_loss))
        self.model_.train()
        shown = self.progress and world()[0] == 0
        for step in progress_bar(
            range(self.steps), total=self.steps, desc=type(self).__name__, enabled=shown
        ):
            index = torch.randint(n, (coords.shape[0],), generator=generator)
            u = float(torch.rand((), generator=generator))
            k = min(h * w, max(1, round(math.exp(low + u * (high - low)))))
            mask = random_masks(coords.shape[0], h, w, k, generator=generator)
            query = torch.randperm(h * w, generator=generator)[: self.queries]
            part, weight = shard(torch.arange(len(index)))
            loss = objective(weight, index[part], mask[part], query)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            self.losses_.append(check_finite(float(loss.detach()), step=step))
        self.model_.eval()
        self.fit_seconds_ = time.perf_counter() - start
        self.fit_cpu_seconds_ = time.process_time() - cpu_start
        return self

    # -- inference ----------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet; call fit(images) first"
            )

    def _inputs(self, images: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        self._check_fitted()
        images = check_images(images, self.channels)
        return images, check_mask(mask, images)

    def complete(self, images: Tensor, mask: Tensor) -> Tensor:
        """Predict every pixel of ``images`` from its context pixels (``mask``).

        Args:
            images: ``[N, C, H, W]`` in [0, 1]; only the context pixels are read.
            mask: the context pixels: ``[N, H, W]`` / ``[N, 1, H, W]`` / ``[H, W]``, bool or 0/1.

        Returns:
            ``[N, C, H, W]`` in [0, 1].

        Raises:
            RuntimeError: not fitted yet.
            TypeError / ValueError: bad images (type, shape, channels, range) or mask
                (shape, values, an image without context pixels).
        """
        return self.render(images, mask, size=(images.shape[-2], images.shape[-1]))

    def render(self, images: Tensor, mask: Tensor, *, size: tuple[int, int]) -> Tensor:
        """Like :meth:`complete`, but sampled on an ``size = (H2, W2)`` pixel grid.

        The field is continuous over the image square, so any resolution works (e.g.
        render 28×28 from 14×14 inputs for super-resolution).

        Returns:
            ``[N, C, H2, W2]`` in [0, 1].
        """
        images, mask = self._inputs(images, mask)
        height, width = _check_size(size)
        coords = pixel_grid(height, width, dtype=images.dtype)
        outputs = []
        with torch.no_grad():
            for start in range(0, images.shape[0], self.batch_size):
                part = slice(start, start + self.batch_size)
                context = context_set(images[part], mask[part])
                query = coords.expand(context.shape[0], *coords.shape)
                outputs.append(self._predict(context, query))
        out = torch.cat(outputs).transpose(1, 2).reshape(-1, self.channels, height, width)
        return out.clamp(0.0, 1.0)


def _check_size(size: object) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise ValueError(f"size must be a pair of positive ints (height, width), got {size!r}")
    return int(size[0]), int(size[1])
