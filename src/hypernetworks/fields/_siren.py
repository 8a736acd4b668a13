"""SIREN: a sine-activated MLP mapping coordinates to values (Sitzmann et al. 2020).

Also the coordinate grid every field in this recipe is queried on, and test-time
optimisation of a batch of SIRENs (one weight set per image, vectorized with
``torch.func``).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, vmap

from .._checks import check_positive_int, describe

__all__ = ["SineLayer", "Siren", "fit_sirens", "pixel_grid", "subpixel_offsets"]


def _check_omega(omega0: object) -> float:
    if not isinstance(omega0, numbers.Real) or isinstance(omega0, bool):
        raise TypeError(f"omega0 must be a positive number, got {describe(omega0)}")
    if not math.isfinite(omega0) or omega0 <= 0:
        raise ValueError(f"omega0 must be a positive finite number, got {omega0}")
    return float(omega0)


class SineLayer(nn.Module):
    """``sin(ω₀ · (W x + b))`` with the SIREN initialisation.

    The first layer draws ``W ~ U(-1/n, 1/n)``; later layers ``U(-√(6/n)/ω₀, √(6/n)/ω₀)``
    (``n`` = fan-in), so pre-activations stay arcsine-distributed through depth.

    Args:
        in_features: input size ``n``.
        out_features: output size.
        omega0: the frequency factor ω₀.
        first: use the first-layer initialisation.
        generator: random source of the initialisation (default: torch's global one).

    Example:
        >>> layer = SineLayer(2, 8, omega0=30.0, first=True)
        >>> layer(torch.zeros(5, 2)).shape
        torch.Size([5, 8])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        omega0: float = 30.0,
        first: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.omega0 = _check_omega(omega0)
        self.linear = nn.Linear(
            check_positive_int(in_features, "in_features"),
            check_positive_int(out_features, "out_features"),
        )
        _siren_init(self.linear, self.omega0, first, generator)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.omega0 * self.linear(x))

    def extra_repr(self) -> str:
        return f"omega0={self.omega0}"


def _siren_init(
    linear: nn.Linear, omega0: float, first: bool, generator: torch.Generator | None
) -> None:
    fan_in = linear.in_features
    bound = 1.0 / fan_in if first else math.sqrt(6.0 / fan_in) / omega0
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound, generator=generator)
        linear.bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=generator)


class Siren(nn.Module):
    """A SIREN: ``layers`` sine layers of width ``hidden`` and a linear output layer.

    Maps coordinates ``[..., in_features]`` (in [-1, 1]) to values ``[..., out_features]``.

    Args:
        in_features: coordinate size (2 for images).
        out_features: value size (image channels).
        hidden: width of the sine layers.
        layers: number of sine layers (≥ 1).
        omega0: ω₀, the frequency factor of every sine layer (the paper uses 30).
        generator: random source of the initialisation (default: torch's global one).

    Raises:
        TypeError / ValueError: a size is not a positive int, ``omega0`` not positive.

    Example:
        >>> net = Siren(2, 3, hidden=16, layers=2, omega0=30.0)
        >>> net(pixel_grid(4, 4)).shape
        torch.Size([16, 3])
    """

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 1,
        *,
        hidden: int = 64,
        layers: int = 3,
        omega0: float = 30.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.hidden = check_positive_int(hidden, "hidden")
        self.layers = check_positive_int(layers, "layers")
        self.omega0 = _check_omega(omega0)
        sizes = [self.in_features] + [self.hidden] * self.layers
        self.net = nn.Sequential(
            *[
                SineLayer(a, b, omega0=self.omega0, first=i == 0, generator=generator)
                for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False))
            ]
        )
        self.out = nn.Linear(self.hidden, self.out_features)
        _siren_init(self.out, self.omega0, False, generator)

    def forward(self, coords: Tensor) -> Tensor:
        return self.out(self.net(coords))

    def extra_repr(self) -> str:
        return f"omega0={self.omega0}"


def pixel_grid(height: int, width: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """The pixel-centre coordinates of an ``height × width`` image in [-1, 1], ``[H·W, 2]``.

    Pixel ``(i, j)`` sits at ``(-1 + (2i+1)/H, -1 + (2j+1)/W)`` (row, column), so grids of
    different resolutions cover the same square: 2×2 pixels of a 28×28 grid share the
    area of one pixel of the 14×14 grid.

    Example:
        >>> pixel_grid(2, 2)
        tensor([[-0.5000, -0.5000],
                [-0.5000,  0.5000],
                [ 0.5000, -0.5000],
                [ 0.5000,  0.5000]])
    """
    height = check_positive_int(height, "height")
    width = check_positive_int(width, "width")
    rows = (torch.arange(height, dtype=dtype) * 2 + 1) / height - 1
    cols = (torch.arange(width, dtype=dtype) * 2 + 1) / width - 1
    return torch.cartesian_prod(rows, cols)


def subpixel_offsets(
    height: int, width: int, area: int, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Offsets ``[area², 2]`` from a pixel's centre to an ``area × area`` grid inside it.

    For an ``height × width`` image (see :func:`pixel_grid`), ``centre + offsets`` are the
    centres of the sub-pixels of the same image at ``area`` times the resolution, so the
    mean of a field over them is its average over the pixel (1 gives the centre alone).

    Example:
        >>> subpixel_offsets(2, 2, 2)
        tensor([[-0.2500, -0.2500],
                [-0.2500,  0.2500],
                [ 0.2500, -0.2500],
                [ 0.2500,  0.2500]])
    """
    area = check_positive_int(area, "area")
    steps = (torch.arange(area, dtype=dtype) * 2 + 1) / area - 1  # in (-1, 1)
    rows = steps / check_positive_int(height, "height")
    cols = steps / check_positive_int(width, "width")
    return torch.cartesian_prod(rows, cols)


def fit_sirens(
    siren: Siren,
    params: dict[str, Tensor],
    coords: Tensor,
    values: Tensor,
    weights: Tensor,
    *,
    steps: int,
    lr: float = 1e-3,
) -> dict[str, Tensor]:
    """Fit one SIREN per sample to its points with Adam, all samples in one vectorized call.

    Sample ``b`` minimises ``Σ_p w[b,p]·‖f_b(coords[b,p]) − values[b,p]‖² / Σ_p w[b,p]``
    over its own weights; Adam is elementwise, so fitting the batch together is the same
    as fitting each sample alone. With coordinates ``[B, P, S, in_features]`` a point's
    prediction is the mean of the field over its ``S`` sub-samples (e.g. the area of a
    pixel, see :func:`subpixel_offsets`): the area-consistency loss of super-resolution.

    Args:
        siren: the architecture (its own parameters are not used).
        params: the starting weights, name -> ``[B, *shape]`` (detached).
        coords: ``[B, P, in_features]``, or ``[B, P, S, in_features]`` (sub-samples).
        values: ``[B, P, out_features]``.
        weights: ``[B, P]``, 1 for points to fit and 0 for padding.
        steps: Adam steps (0 returns ``params`` unchanged).
        lr: Adam's learning rate.

    Returns:
        The fitted weights, name -> ``[B, *shape]``, detached.

    Example:
        >>> net = Siren(2, 1, hidden=8, layers=1)
        >>> params = {k: v.detach().expand(3, *v.shape).clone() for k, v in net.named_parameters()}
        >>> xy = pixel_grid(4, 4).expand(3, 16, 2)
        >>> out = fit_sirens(net, params, xy, torch.rand(3, 16, 1), torch.ones(3, 16), steps=5)
        >>> tuple(out["out.weight"].shape)
        (3, 1, 8)
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    names = list(params)

    def loss(p: dict[str, Tensor], x: Tensor, y: Tensor, w: Tensor) -> Tensor:
        out = functional_call(siren, p, (x,))
        err = (((out.mean(-2) if x.dim() == 3 else out) - y) ** 2).sum(-1)
        return (err * w).sum() / w.sum().clamp_min(1.0)

    step = vmap(grad_and_value(loss))
    state = {k: params[k].detach().clone() for k in names}
    m = {k: torch.zeros_like(v) for k, v in state.items()}
    v2 = {k: torch.zeros_like(v) for k, v in state.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    with torch.no_grad():
        for t in range(1, steps + 1):
            grads, _ = step(state, coords, values, weights)
            for k in names:  # Adam, written out so each sample's weights are its own
                m[k].mul_(beta1).add_(grads[k], alpha=1 - beta1)
                v2[k].mul_(beta2).addcmul_(grads[k], grads[k], value=1 - beta2)
                denom = (v2[k] / (1 - beta2**t)).sqrt_().add_(eps)
                state[k].addcdiv_(m[k], denom, value=-lr / (1 - beta1**t))
    return state
