"""The architecture space: MLPs and CNNs a graph hypernetwork trains on and is tested on.

An architecture is a small frozen spec that builds its ``nn.Module`` when called, so a
list of specs is a list of factories. :class:`ArchitectureSpace` samples specs from the
space; :func:`held_out` draws more from it, excluding those given; :func:`out_of_distribution`
lists wider, deeper, and never-sampled combinations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import Tensor, nn

__all__ = ["CNNSpec", "MLPSpec", "ArchitectureSpace", "held_out", "out_of_distribution"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
_NORMS = ("none", "layernorm", "batchnorm")


def _check_choice(value: str, choices: tuple[str, ...] | list[str], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")


@dataclass(frozen=True)
class MLPSpec:
    """An MLP ``Flatten → [Linear → norm → activation → dropout] × depth → Linear``.

    Args:
        input_shape: one sample's shape (flattened before the first layer).
        classes: number of outputs.
        widths: hidden widths, one per hidden layer.
        activation: ``"relu"``, ``"gelu"`` or ``"tanh"``.
        norm: ``"none"``, ``"layernorm"`` or ``"batchnorm"``.
        dropout: dropout probability after each activation (0 for none).

    Example:
        >>> spec = MLPSpec((64,), 10, (32, 32), "gelu", "layernorm", 0.1)
        >>> spec.name, sum(p.numel() for p in spec().parameters())
        ('mlp-32x32-gelu-layernorm-d0.1', 3594)
    """

    input_shape: tuple[int, ...]
    classes: int
    widths: tuple[int, ...]
    activation: str = "relu"
    norm: str = "none"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check_choice(self.activation, list(_ACTIVATIONS), "activation")
        _check_choice(self.norm, _NORMS, "norm")

    @property
    def name(self) -> str:
        widths = "x".join(map(str, self.widths))
        return f"mlp-{widths}-{self.activation}-{self.norm}-d{self.dropout:g}"

    def __call__(self) -> nn.Module:
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(self.input_shape)
        for w in self.widths:
            layers.append(nn.Linear(width, w))
            if self.norm != "none":
                layers.append(nn.LayerNorm(w) if self.norm == "layernorm" else nn.BatchNorm1d(w))
            layers.append(_ACTIVATIONS[self.activation]())
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = w
        layers.append(nn.Linear(width, self.classes))
        return nn.Sequential(*layers)


class _Residual(nn.Module):
    """``activation(x + body(x))``: a residual block around one convolution."""

    def __init__(self, body: nn.Module, activation: nn.Module) -> None:
        super().__init__()
        self.body, self.activation = body, activation

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(x + self.body(x))


@dataclass(frozen=True)
class CNNSpec:
    """A CNN: convolutions (each optionally residual, batch-normalised, pooled), global
    average pooling, then a linear classifier.

    Args:
        input_shape: ``(channels, height, width)``.
        classes: number of outputs.
        channels: output channels of each convolution.
        kernels: kernel size of each convolution (odd; padding keeps the size).
        pools: ``"max"``, ``"avg"`` or ``"none"`` after each convolution.
        residual: per convolution, add its input (only where channels do not change).
        batchnorm: BatchNorm after every convolution.
        activation: ``"relu"``, ``"gelu"`` or ``"tanh"``.

    Example:
        >>> spec = CNNSpec((1, 8, 8), 10, (8, 8), (3, 5), ("max", "none"), (False, True))
        >>> spec.name
        'cnn-8k3max-8k5res-relu-bn0'
    """

    input_shape: tuple[int, int, int]
    classes: int
    channels: tuple[int, ...]
    kernels: tuple[int, ...]
    pools: tuple[str, ...]
    residual: tuple[bool, ...]
    batchnorm: bool = False
    activation: str = "relu"

    def __post_init__(self) -> None:
        _check_choice(self.activation, list(_ACTIVATIONS), "activation")
        n = len(self.channels)
        if not (len(self.kernels) == len(self.pools) == len(self.residual) == n):
            raise ValueError(
                f"channels, kernels, pools and residual must have one entry per convolution, "
                f"got lengths {n}, {len(self.kernels)}, {len(self.pools)}, {len(self.residual)}"
            )

    @property
    def name(self) -> str:
        parts = [
            f"{c}k{k}{'' if p == 'none' else p}{'res' if r else ''}"
            for c, k, p, r in zip(
                self.channels, self.kernels, self.pools, self.residual, strict=True
            )
        ]
        return f"cnn-{'-'.join(parts)}-{self.activation}-bn{int(self.batchnorm)}"

    def __call__(self) -> nn.Module:
        layers: list[nn.Module] = []
        width = self.input_shape[0]
        for c, k, pool, res in zip(
            self.channels, self.kernels, self.pools, self.residual, strict=True
        ):
            body: list[nn.Module] = [nn.Conv2d(width, c, k, padding=k // 2)]
            if self.batchnorm:
                body.append(nn.BatchNorm2d(c))
            act = _ACTIVATIONS[self.activation]()
            if res and c == width:
                layers.append(_Residual(nn.Sequential(*body), act))
            else:
                layers.extend([*body, act])
            if pool != "none":
                layers.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
            width = c
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, self.classes)]
        return nn.Sequential(*layers)


Spec = MLPSpec | CNNSpec


class ArchitectureSpace:
    """Samples MLPs (depth 1-6, width 16-512, ReLU/GELU/Tanh, ± LayerNorm/BatchNorm,
    dropout) and CNNs (1-4 convolutions, 8-64 channels, kernel 3 or 5, pooling, BatchNorm,
    residual blocks). Tanh with BatchNorm is never sampled: it is kept out of distribution.

    Args:
        input_shape: one sample's shape, ``(channels, height, width)`` for images.
        classes: number of classes.
        kinds: which families to sample (``"mlp"``, ``"cnn"``); CNNs need image inputs.
        cnn_fraction: the share of CNNs when both are sampled.

    Example:
        >>> space = ArchitectureSpace((1, 8, 8), 10)
        >>> sorted({s.name[:3] for s in space.sample(10, seed=0)})
        ['cnn', 'mlp']
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        classes: int,
        *,
        kinds: tuple[str, ...] = ("mlp", "cnn"),
        cnn_fraction: float = 0.4,
    ) -> None:
        for kind in kinds:
            _check_choice(kind, ("mlp", "cnn"), "kinds")
        if "cnn" in kinds and len(input_shape) != 3:
            raise ValueError(f"CNNs need input_shape (channels, height, width), got {input_shape}")
        self.input_shape, self.classes, self.kinds = tuple(input_shape), classes, kinds
        self.cnn_fraction = cnn_fraction if len(kinds) == 2 else float(kinds == ("cnn",))

    def _mlp(self, rng: np.random.Generator) -> MLPSpec:
        depth = int(rng.integers(1, 7))
        widths = tuple(int(2 ** rng.integers(4, 10)) for _ in range(depth))
        activation = str(rng.choice(list(_ACTIVATIONS)))
        norms = [n for n in _NORMS if not (activation == "tanh" and n == "batchnorm")]
        return MLPSpec(
            self.input_shape,
            self.classes,
            widths,
            activation,
            str(rng.choice(norms)),
            float(rng.choice([0.0, 0.0, 0.1, 0.2])),
        )

    def _cnn(self, rng: np.random.Generator) -> CNNSpec:
        n = int(rng.integers(1, 5))
        channels = [int(2 ** rng.integers(3, 7)) for _ in range(n)]
        residual = [bool(i > 0 and rng.random() < 0.5) for i in range(n)]
        for i in range(1, n):  # a residual block keeps its width
            if residual[i]:
                channels[i] = channels[i - 1]
        size, pools = min(self.input_shape[1:]), []
        for i in range(n):
            pool = str(rng.choice(["max", "avg"])) if i == 0 or rng.random() < 0.5 else "none"
            pool = pool if size >= 4 else "none"
            size //= 2 if pool != "none" else 1
            pools.append(pool)
        shape = (int(self.input_shape[0]), int(self.input_shape[1]), int(self.input_shape[2]))
        return CNNSpec(
            shape,
            self.classes,
            tuple(channels),
            tuple(int(rng.choice([3, 5])) for _ in range(n)),
            tuple(pools),
            tuple(residual),
            bool(rng.random() < 0.5),
            str(rng.choice(["relu", "relu", "gelu"])),
        )

    def sample(self, n: int, *, seed: int | np.random.Generator = 0) -> list[Spec]:
        """``n`` distinct architectures drawn from the space (deterministic under ``seed``).

        Raises:
            ValueError: ``n`` is not positive.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        found: dict[str, Spec] = {}
        while len(found) < n:
            spec = self._cnn(rng) if rng.random() < self.cnn_fraction else self._mlp(rng)
            found.setdefault(spec.name, spec)
        return list(found.values())


def held_out(space: ArchitectureSpace, n: int, exclude: list[Spec], *, seed: int = 1) -> list[Spec]:
    """``n`` architectures of ``space`` that are not in ``exclude`` (compared by name).

    Example:
        >>> space = ArchitectureSpace((64,), 10, kinds=("mlp",))
        >>> train = space.sample(5, seed=0)
        >>> {s.name for s in held_out(space, 3, train)} & {s.name for s in train}
        set()
    """
    names = {s.name for s in exclude}
    rng, found = np.random.default_rng(seed), list[Spec]()
    while len(found) < n:
        spec = space.sample(1, seed=rng)[0]
        if spec.name not in names:
            names.add(spec.name)
            found.append(spec)
    return found


def out_of_distribution(input_shape: tuple[int, ...], classes: int) -> list[Spec]:
    """Architectures outside :class:`ArchitectureSpace`: wider, deeper, never-sampled combinations.

    Example:
        >>> [s.name for s in out_of_distribution((64,), 10)]  # doctest: +NORMALIZE_WHITESPACE
        ['mlp-1024x1024-relu-none-d0', 'mlp-64x64x64x64x64x64x64x64-relu-layernorm-d0',
         'mlp-128x128-tanh-batchnorm-d0']
    """
    specs: list[Spec] = [
        MLPSpec(input_shape, classes, (1024, 1024), "relu"),  # wider
        MLPSpec(input_shape, classes, (64,) * 8, "relu", "layernorm"),  # deeper
        MLPSpec(input_shape, classes, (128, 128), "tanh", "batchnorm"),  # never sampled
    ]
    if len(input_shape) == 3:
        shape = (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))
        specs += [
            CNNSpec(shape, classes, (96, 96), (3, 3), ("max", "none"), (False, True), True),
            CNNSpec(
                shape,
                classes,
                (16,) * 6,
                (3,) * 6,
                ("max",) + ("none",) * 5,
                (False,) + (True,) * 5,
                True,
            ),
            CNNSpec(
                shape, classes, (32, 32), (7, 3), ("max", "avg"), (False, False), False, "tanh"
            ),
        ]
    return specs
