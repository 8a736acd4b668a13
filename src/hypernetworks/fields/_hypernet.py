"""``FieldHyperNetwork``: a set encoder and a hypernetwork that generates one SIREN per image."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .. import HyperModel, hypernetize
from .._checks import check_hidden, check_positive_int
from ._base import FieldModel, _check_size, check_architecture
from ._context import context_set
from ._encoders import AttentionEncoder, ContextEncoder
from ._siren import Siren, _check_omega, fit_sirens, pixel_grid, subpixel_offsets

__all__ = ["FieldHyperNetwork"]


class FieldHyperNetwork(FieldModel):
    """Neural fields from a hypernetwork (Sitzmann et al. 2020, SIREN §4.3).

    A set encoder turns an image's context pixels into a code; the hypernetwork
    (:func:`hypernetworks.hypernetize` over a :class:`Siren`) maps the code to that
    image's SIREN weights, ``θ = θ₀ + Δθ(code)``. A batch of images runs through the
    core's per-sample path: one generated SIREN per image, vectorized, no Python loop.

    Args:
        channels: image channels ``C``.
        hidden: width of the SIREN's sine layers.
        layers: number of sine layers.
        omega0: the SIREN's ω₀.
        code: size of the set encoder's code.
        encoder: ``"deepsets"`` (:class:`ContextEncoder`) or ``"attention"``
            (:class:`AttentionEncoder`).
        hyper_hidden: widths of the hypernetwork body; the default ``()`` feeds the code
            straight into the (zero-initialised) head. A hidden body there kept the model
            near the mean image: at initialisation its features vary between images by
            about 1/67 of their shared part (the encoder's code by 1/37), and the head's
            first Adam updates move every image's weights together (docs/benchmarks.md §10).
        steps, batch_size, lr, min_context, queries, seed, progress: training (see :meth:`fit`).

    Example:
        >>> import torch
        >>> images = torch.rand(16, 1, 8, 8)
        >>> model = FieldHyperNetwork(1, hidden=16, layers=2, steps=3).fit(images)
        >>> mask = torch.rand(16, 8, 8) < 0.3
        >>> model.complete(images, mask).shape
        torch.Size([16, 1, 8, 8])
        >>> model.render(images, mask, size=(16, 16)).shape
        torch.Size([16, 1, 16, 16])
    """

    model_: HyperModel

    def __init__(
        self,
        channels: int,
        *,
        hidden: int = 64,
        layers: int = 3,
        omega0: float = 30.0,
        code: int = 128,
        encoder: str = "deepsets",
        hyper_hidden: tuple[int, ...] = (),
        steps: int = 2000,
        batch_size: int = 32,
        lr: float = 1e-3,
        min_context: int = 5,
        queries: int = 128,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        super().__init__(
            channels,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            min_context=min_context,
            queries=queries,
            seed=seed,
            progress=progress,
        )
        self.hidden, self.layers, self.code, self.encoder = check_architecture(
            hidden, layers, code, encoder
        )
        self.omega0 = _check_omega(omega0)
        self.hyper_hidden = check_hidden(hyper_hidden)

    def _build(self) -> nn.Module:
        siren = Siren(2, self.channels, hidden=self.hidden, layers=self.layers, omega0=self.omega0)
        kind = ContextEncoder if self.encoder == "deepsets" else AttentionEncoder
        return hypernetize(siren, kind(self.channels, self.code), hidden=self.hyper_hidden)

    def _predict(self, context: Tensor, coords: Tensor) -> Tensor:
        return cast(Tensor, self.model_(coords, context))

    def weights(self, images: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Each image's generated SIREN weights, name -> ``[N, *shape]``."""
        images, mask = self._inputs(images, mask)
        with torch.no_grad():
            return self.model_.generate(context_set(images, mask))

    def materialize(self, image: Tensor, mask: Tensor) -> Siren:
        """One image's field as a plain :class:`Siren` (no reference to the hypernetwork).

        Args:
            image: ``[C, H, W]`` in [0, 1].
            mask: its context pixels, ``[H, W]``.

        Returns:
            A :class:`Siren`; ``siren(pixel_grid(H, W))`` is the image's completion
            (before clamping to [0, 1]) as ``[H·W, C]``.
        """
        images, masks = self._inputs(
            image.unsqueeze(0) if image.dim() == 3 else image,
            mask.unsqueeze(0) if mask.dim() == 2 else mask,
        )
        if images.shape[0] != 1:
            raise ValueError(f"materialize takes one image [C, H, W], got {images.shape[0]}")
        net = self.model_.materialize(context_set(images, masks)[0])
        if not isinstance(net, Siren):  # pragma: no cover - hypernetize keeps the class
            raise TypeError("materialize did not return a Siren")
        return net

    def finetune(
        self,
        images: Tensor,
        mask: Tensor,
        *,
        steps: int,
        lr: float = 1e-4,
        size: tuple[int, int] | None = None,
        area: int = 1,
    ) -> Tensor:
        """Test-time optimisation: each image's generated SIREN, fine-tuned on its context.

        Every image's weights start from the hypernetwork's output and take ``steps``
        Adam steps on the MSE of its context pixels (all images vectorized together).

        Args:
            images, mask: as in :meth:`complete`.
            steps: Adam steps per image (0 gives :meth:`complete`'s result).
            lr: Adam's learning rate.
            size: output grid (default: the input's).
            area: match each context pixel by the field's mean over an ``area × area``
                grid inside the pixel (area consistency: for super-resolution by 2 from
                2×2-mean downsampled images, ``area=2``); 1 matches the pixel centre.

        Returns:
            ``[N, C, H2, W2]`` in [0, 1].

        Example:
            >>> import torch
            >>> small = torch.rand(4, 1, 6, 6)
            >>> model = FieldHyperNetwork(1, hidden=16, layers=2, steps=2).fit(small)
            >>> full = torch.ones(6, 6, dtype=torch.bool)
            >>> model.finetune(small, full, steps=3, size=(12, 12), area=2).shape
            torch.Size([4, 1, 12, 12])
        """
        images, mask = self._inputs(images, mask)
        height, width = _check_size(size or tuple(images.shape[-2:]))
        context = context_set(images, mask)
        with torch.no_grad():
            params = self.model_.generate(context)
        target = _copy_target(self.model_)
        fitted = fit_sirens(
            target,
            params,
            area_coords(context[..., :2], images.shape[-2:], area),
            context[..., 2:-1],
            context[..., -1],
            steps=steps,
            lr=lr,
        )
        return render_sirens(target, fitted, (height, width))


def area_coords(coords: Tensor, grid: tuple[int, ...] | torch.Size, area: int) -> Tensor:
    """``coords [B, n, 2]`` of pixels of a ``grid = (H, W)`` image, with their sub-samples.

    ``area = 1`` returns ``coords``; otherwise ``[B, n, area², 2]`` (:func:`subpixel_offsets`).
    """
    area = check_positive_int(area, "area")
    if area == 1:
        return coords
    offsets = subpixel_offsets(int(grid[0]), int(grid[1]), area, dtype=coords.dtype)
    return coords.unsqueeze(-2) + offsets.to(coords.device)


def _copy_target(model: HyperModel) -> Siren:
    import copy

    target = copy.deepcopy(model.target)
    if not isinstance(target, Siren):  # pragma: no cover
        raise TypeError("the hypernetwork's target is not a Siren")
    return target


def render_sirens(siren: Siren, params: dict[str, Tensor], size: tuple[int, int]) -> Tensor:
    """Evaluate a batch of SIREN weight sets on a pixel grid: ``[N, C, H, W]`` in [0, 1]."""
    height, width = size
    coords = pixel_grid(height, width, dtype=next(iter(params.values())).dtype)
    with torch.no_grad():
        out = vmap(lambda p: functional_call(siren, p, (coords,)))(params)
    return out.transpose(1, 2).reshape(out.shape[0], -1, height, width).clamp(0.0, 1.0)
