"""Test-time adaptation for HyperShot: augmented views of the support set as training data.

HyperShot's paper fine-tunes on the support set at test time. With the support set as
its own queries, 1-shot adaptation is degenerate (each support example is its own
prototype), so here the pseudo-queries are random affine views of the support images
(rotation, shear, scale, shift: the nuisance the glyph set is rendered with). The views
also join the class means; a few Adam steps then fit the generated classifier (and the
temperature) to classify them. The backbone is not touched. ProtoNet with the same views
in its class means is the control that separates the augmentation from the adaptation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_positive_int

__all__ = ["adapt", "affine_views", "view_features", "view_prototypes"]


def affine_views(
    images: Tensor,
    views: int,
    generator: torch.Generator,
    *,
    rotation: float = 0.2,
    shear: float = 0.2,
    scale: float = 0.1,
    shift: float = 0.1,
) -> Tensor:
    """``views`` random affine copies of each image: ``[n, C, H, W]`` → ``[n, views, C, H, W]``.

    Each copy is rotated by up to ``±rotation`` radians, sheared by up to ``±shear``,
    scaled per axis by ``1 ± scale`` and shifted by up to ``±shift`` of the half-width
    (bilinear resampling, zero padding). The defaults (±11°, ±0.2, 0.9-1.1, ±1.4 px at
    28 × 28) stay inside the distortions the glyph set is rendered with.

    Args:
        images: ``[n, C, H, W]`` floating-point images.
        views: copies per image, at least 1.
        generator: draws the transforms (the caller owns the random state).

    Raises:
        TypeError: ``images`` is not a floating-point tensor.
        ValueError: ``images`` is not 4-d, or ``views`` is not a positive int.

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import affine_views
        >>> images = torch.rand(5, 1, 28, 28)
        >>> affine_views(images, 3, torch.Generator().manual_seed(0)).shape
        torch.Size([5, 3, 1, 28, 28])
    """
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise TypeError(f"images must be a floating-point tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must be [n, C, H, W], got shape {tuple(images.shape)}")
    copies = images.repeat_interleave(check_positive_int(views, "views"), 0)
    count = copies.shape[0]

    def uniform(half: float, centre: float = 0.0) -> Tensor:
        draw = torch.rand(count, generator=generator, dtype=images.dtype)
        return centre + half * (2 * draw - 1)

    angle, skew = uniform(rotation), uniform(shear)
    sx, sy = uniform(scale, 1.0), uniform(scale, 1.0)
    tx, ty = uniform(shift), uniform(shift)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos * sx, -sin * sy + skew, tx], -1),
            torch.stack([sin * sx, cos * sy, ty], -1),
        ],
        1,
    ).to(images.device)
    grid = F.affine_grid(theta, list(copies.shape), align_corners=False)
    out = F.grid_sample(copies, grid, align_corners=False, padding_mode="zeros")
    return out.unflatten(0, (images.shape[0], int(views)))


def view_features(
    backbone: torch.nn.Module, support_x: Tensor, query_x: Tensor, views: int, seed: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Features of the support set, the queries and ``views`` affine views of each support image.

    The views' transforms come from a fresh generator seeded with ``seed``, so scoring
    the same episode twice gives the same result and two learners with the same
    ``(views, seed)`` see the same views.

    Returns:
        ``(support [n, d], query [m, d], views [n, views, d])``, without gradients.
    """
    copies = affine_views(support_x, views, torch.Generator().manual_seed(seed))
    n, m = support_x.shape[0], query_x.shape[0]
    with torch.no_grad():
        features = backbone(torch.cat([support_x, query_x, copies.flatten(0, 1)]))
    return features[:n], features[n : n + m], features[n + m :].unflatten(0, (n, views))


def view_prototypes(support: Tensor, copies: Tensor, ways: int, shots: int) -> Tensor:
    """Class means ``[ways, d]`` over every support example and its views.

    ``support`` is ``[ways·shots, d]`` in class order and ``copies`` its views
    ``[ways·shots, views, d]`` (``views`` may be 0: the plain class means).
    """
    grouped = torch.cat([support.unsqueeze(1), copies], 1)  # [N·K, 1 + views, d]
    return grouped.unflatten(0, (ways, shots)).mean((1, 2))


def adapt(
    classifier: torch.nn.Module,
    log_temperature: Tensor,
    base: Tensor,
    scores: Tensor,
    labels: Tensor,
    *,
    steps: int,
    lr: float,
) -> None:
    """Fit ``classifier`` and ``log_temperature`` in place to pseudo-queries with known labels.

    The pseudo-queries' logits are ``exp(log_temperature) · base + classifier(scores)``
    (``base``: their prototype logits, ``scores``: their kernel vectors); ``steps`` Adam
    steps at ``lr`` lower their cross-entropy. Gradients are enabled inside, so this
    works under ``torch.no_grad()``; only the given parameters change.
    """
    parameters = [*classifier.parameters(), log_temperature]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            logits = log_temperature.exp() * base + classifier(scores)
            F.cross_entropy(logits, labels).backward()
            optimizer.step()
