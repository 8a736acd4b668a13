"""Baselines with the same API: a conditional neural process and SIRENs fitted per image."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from .._checks import check_positive_int
from ._base import FieldModel, _check_size, check_architecture
from ._context import check_images, check_mask, context_set
from ._encoders import AttentionEncoder, ContextEncoder, fourier_features
from ._hypernet import area_coords, render_sirens
from ._siren import Siren, _check_omega, fit_sirens

__all__ = ["CNP", "SirenFit"]


class _Decoder(nn.Module):
    def __init__(
        self, channels: int, code: int, hidden: int, layers: int, frequencies: int
    ) -> None:
        super().__init__()
        self.frequencies = frequencies
        sizes = [2 + 4 * frequencies + code] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=False):
            blocks += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, channels))

    def forward(self, coords: Tensor, code: Tensor) -> Tensor:
        features = fourier_features(coords, self.frequencies)
        return self.net(
            torch.cat([features, code.unsqueeze(-2).expand(*coords.shape[:-1], -1)], -1)
        )


class CNP(FieldModel):
    """A conditional neural process (Garnelo et al. 2018), trained like the hypernetwork.

    The same set encoder gives a code per image; a shared ReLU MLP decodes
    ``(Fourier(coordinate), code)`` to a value. Trained on the MSE (the deterministic
    CNP: the predicted mean), with the same steps, batches and context draws as
    :class:`FieldHyperNetwork`.

    Args:
        channels: image channels ``C``.
        hidden: width of the decoder.
        layers: hidden layers of the decoder.
        code: size of the code.
        encoder: ``"deepsets"`` or ``"attention"``.
        frequencies: octaves of the decoder's coordinate encoding.
        steps, batch_size, lr, min_context, queries, seed, progress: training (see :meth:`fit`).

    Example:
        >>> import torch
        >>> images = torch.rand(8, 3, 6, 6)
        >>> cnp = CNP(3, hidden=16, steps=2).fit(images)
        >>> cnp.complete(images, torch.rand(6, 6) < 0.5).shape
        torch.Size([8, 3, 6, 6])
    """

    model_: nn.ModuleDict

    def __init__(
        self,
        channels: int,
        *,
        hidden: int = 128,
        layers: int = 3,
        code: int = 128,
        encoder: str = "deepsets",
        frequencies: int = 4,
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
        self.frequencies = check_positive_int(frequencies, "frequencies")

    def _build(self) -> nn.Module:
        kind = ContextEncoder if self.encoder == "deepsets" else AttentionEncoder
        return nn.ModuleDict(
            {
                "encoder": kind(self.channels, self.code),
                "decoder": _Decoder(
                    self.channels, self.code, self.hidden, self.layers, self.frequencies
                ),
            }
        )

    def _predict(self, context: Tensor, coords: Tensor) -> Tensor:
        code = self.model_["encoder"](context)
        return cast(Tensor, self.model_["decoder"](coords, code))


class SirenFit:
    """Test-time optimisation from scratch: a fresh SIREN fitted to each image's context.

    Every image gets a SIREN with the same initialisation (seeded), fitted for ``steps``
    Adam steps to the MSE of its context pixels; all images run vectorized together.
    It has no prior, so :meth:`fit` only checks its input.

    Args:
        channels: image channels ``C``.
        steps: Adam steps per image.
        lr: Adam's learning rate.
        hidden, layers, omega0: the SIREN.
        seed: seeds the initialisation.
        area: match each context pixel by the field's mean over an ``area × area`` grid
            inside it (area consistency, as in :meth:`FieldHyperNetwork.finetune`).

    Example:
        >>> import torch
        >>> images = torch.rand(4, 1, 8, 8)
        >>> SirenFit(1, steps=5, hidden=16).complete(images, torch.rand(8, 8) < 0.5).shape
        torch.Size([4, 1, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        *,
        steps: int = 100,
        lr: float = 1e-3,
        hidden: int = 64,
        layers: int = 3,
        omega0: float = 30.0,
        seed: int = 0,
        area: int = 1,
    ) -> None:
        self.channels = check_positive_int(channels, "channels")
        self.area = check_positive_int(area, "area")
        self.steps = check_positive_int(steps, "steps")
        self.lr = float(lr)
        self.hidden = check_positive_int(hidden, "hidden")
        self.layers = check_positive_int(layers, "layers")
        self.omega0 = _check_omega(omega0)
        self.seed = seed

    def fit(self, images: Tensor) -> SirenFit:
        """Nothing to learn across images; checks ``images`` and returns ``self``."""
        check_images(images, self.channels)
        return self

    def complete(self, images: Tensor, mask: Tensor) -> Tensor:
        """Fit each image's context and predict all its pixels: ``[N, C, H, W]`` in [0, 1]."""
        return self.render(images, mask, size=(images.shape[-2], images.shape[-1]))

    def render(self, images: Tensor, mask: Tensor, *, size: tuple[int, int]) -> Tensor:
        """Like :meth:`complete`, sampled on a ``size = (H2, W2)`` grid."""
        images = check_images(images, self.channels)
        mask = check_mask(mask, images)
        height, width = _check_size(size)
        siren = Siren(
            2,
            self.channels,
            hidden=self.hidden,
            layers=self.layers,
            omega0=self.omega0,
            generator=torch.Generator().manual_seed(self.seed),
        ).to(images.dtype)
        n = images.shape[0]
        params = {k: v.detach().expand(n, *v.shape).clone() for k, v in siren.named_parameters()}
        context = context_set(images, mask)
        fitted = fit_sirens(
            siren,
            params,
            area_coords(context[..., :2], images.shape[-2:], self.area),
            context[..., 2:-1],
            context[..., -1],
            steps=self.steps,
            lr=self.lr,
        )
        return render_sirens(siren, fitted, (height, width))
