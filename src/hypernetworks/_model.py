"""``hypernetize``: turn any ``nn.Module`` into a hypernetwork-generated model."""

from __future__ import annotations

import copy
import numbers

import torch
from torch import Tensor, nn

from ._binding import call_grouped, call_shared, couples_samples, distinct_rows, plan_groups
from ._checks import check_hidden, check_positive_int, describe
from ._conditioners import Conditioner, Vector
from ._heads import Head, resolve_head
from ._mip import MIP, encode, resolve_mip
from ._select import select_parameters

__all__ = ["HyperModel", "hypernetize"]


def _body(in_features: int, hidden: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.LeakyReLU()]
        in_features = width
    return nn.Sequential(*layers)


class HyperModel(nn.Module):
    """A target network whose selected parameters are generated from a condition.

    Built by :func:`hypernetize`. Its submodules are:

    * ``conditioner`` — turns the condition ``c`` into an embedding;
    * ``body`` — an MLP over the (MIP-encoded) embedding;
    * ``head`` — maps the body's features to one tensor per generated parameter;
    * ``target`` — the model's own copy of the target. Its parameters that are not
      generated are ordinary trainable parameters; under MIP's residual formulation its
      generated parameters are the learnable θ₀ of ``θ = θ₀ + Δθ(c)`` (without it they
      are frozen and unused). Its buffers (e.g. BatchNorm running statistics) are used
      as usual.

    Call it as ``model(x, c)``: one condition gives one weight set for the whole batch;
    a batch of conditions (leading dimension = ``x.shape[0]``) gives sample ``i`` the
    weights generated from ``c[i]``. ``x`` is a tensor or a tuple of the target's
    positional inputs.
    """

    def __init__(
        self,
        target: nn.Module,
        conditioner: Conditioner,
        names: list[str],
        head: Head,
        hidden: tuple[int, ...],
        mip: MIP,
    ) -> None:
        super().__init__()
        self.target = copy.deepcopy(target)
        self.conditioner = conditioner
        self.mip = mip
        self.generated = tuple(names)
        params = dict(self.target.named_parameters())
        reference = params[names[0]]
        self._encode = mip.encoding and conditioner.bounded
        in_features = conditioner.dim * (2 if self._encode else 1)
        self.body = _body(in_features, hidden)
        width = hidden[-1] if hidden else in_features
        self.head = head.build([params[n].shape for n in names], width, residual=mip.residual)
        for module in (self.conditioner, self.body, self.head):
            module.to(device=reference.device, dtype=reference.dtype)
        if not mip.residual:
            for name in names:
                params[name].requires_grad_(False)
        self._recurrent = any(isinstance(m, nn.RNNBase) for m in self.target.modules())

    # -- generation ---------------------------------------------------------------
    def embed(self, c: object) -> Tensor:
        """The body's input for ``c``: ``[D]`` for one condition, ``[B, D]`` for a batch."""
        emb = self.conditioner(c)
        dtype = self.target_dtype
        if emb.dtype != dtype:
            raise TypeError(
                f"the condition's dtype {emb.dtype} does not match the hypernetwork's {dtype}; "
                f"convert the condition (e.g. c.to({dtype})) or the model"
            )
        return encode(emb) if self._encode else emb

    def _target_tensor(self, name: str) -> Tensor:
        """The target's tensor called ``name``: its parameter, or whatever
        ``torch.func.functional_call`` bound in its place (``get_parameter`` refuses those)."""
        path, _, attribute = name.rpartition(".")
        return getattr(self.target.get_submodule(path) if path else self.target, attribute)

    @property
    def target_dtype(self) -> torch.dtype:
        return self._target_tensor(self.generated[0]).dtype

    def _bases(self) -> list[Tensor] | None:
        if not self.mip.residual:
            return None
        return [self._target_tensor(name) for name in self.generated]

    def _weights(self, emb: Tensor) -> dict[str, Tensor]:
        """Generated tensors for ``[D]`` (name -> ``[*shape]``) or ``[U, D]`` (``[U, *shape]``)."""
        return dict(zip(self.generated, self.head(self.body(emb), self._bases())))

    @staticmethod
    def _distinct(emb: Tensor) -> tuple[Tensor, Tensor | None]:
        """The distinct rows of ``emb`` and each row's index among them (None: all differ)."""
        distinct = distinct_rows(emb)
        return (emb, None) if distinct is None else (emb[distinct[0]], distinct[1])

    def _batched_weights(self, emb: Tensor) -> dict[str, Tensor]:
        """name -> ``[B, *shape]``, generating each distinct condition of the batch once."""
        rows, inverse = self._distinct(emb)
        weights = self._weights(rows)
        return weights if inverse is None else {k: w[inverse] for k, w in weights.items()}

    def generate(self, c: object) -> dict[str, Tensor]:
        """The generated tensors for ``c``, keyed by target parameter name.

        Tensors have the parameter's shape for one condition and a leading batch
        dimension for a batch of conditions.

        Example:
            >>> import torch, torch.nn as nn
            >>> from hypernetworks import hypernetize, TaskEmbedding
            >>> model = hypernetize(nn.Linear(4, 2), TaskEmbedding(3, 8))
            >>> {k: tuple(v.shape) for k, v in model.generate(1).items()}
            {'weight': (2, 4), 'bias': (2,)}
            >>> tuple(model.generate(torch.tensor([0, 2, 2]))["weight"].shape)
            (3, 2, 4)
        """
        emb = self.embed(c)
        return self._weights(emb) if emb.dim() == 1 else self._batched_weights(emb)

    # -- running the target -------------------------------------------------------
    def forward(self, x: Tensor | tuple[Tensor, ...], c: object) -> object:
        args = _as_args(x)
        emb = self.embed(c)
        if emb.dim() == 1:
            return call_shared(self.target, self._weights(emb), args)
        batch = emb.shape[0]
        for i, arg in enumerate(args):
            if arg.dim() == 0 or arg.shape[0] != batch:
                raise ValueError(
                    f"a batch of {batch} conditions needs every input with {batch} samples "
                    f"along dim 0; input #{i} has shape {tuple(arg.shape)}"
                )
        return self._per_sample(emb, args)

    def _per_sample(self, emb: Tensor, args: tuple[Tensor, ...]) -> object:
        """Sample ``i`` through the network generated from ``emb[i]`` (see ``_binding.py``)."""
        # Generate each distinct condition once; a head that can keep its matrices
        # factored (LowRank) passes its factors on instead of matrices.
        rows, inverse = self._distinct(emb)
        factored = getattr(self.head, "factors", None)
        parts = (factored or self.head)(self.body(rows), self._bases())
        groups, take = None, (lambda t: t)
        if inverse is not None:
            plan = plan_groups(inverse, rows.shape[0])
            # Run each weight set once on its samples (padded sub-batches) when that gives
            # the same outputs as one sample at a time and padding at most doubles the work.
            if plan.size * rows.shape[0] <= 2 * emb.shape[0] and not couples_samples(self.target):
                groups = plan
            else:
                take = lambda t: t[inverse]
        weights, factors = {}, {}
        for name, part in zip(self.generated, parts):
            if isinstance(part, tuple):
                base, a, b = part
                factors[name] = (base, take(a), take(b))
            else:
                weights[name] = take(part)
        return call_grouped(self.target, weights, args, groups=groups,
                            recurrent=self._recurrent, factors=factors)

    def materialize(self, c: object) -> nn.Module:
        """A standalone copy of the target holding the weights generated for ``c``.

        The copy has the target's class, ordinary parameters (trainable, detached from
        the hypernetwork) and no reference to the hypernetwork;
        ``model.materialize(c)(x)`` equals ``model(x, c)``.

        Raises:
            ValueError: ``c`` is a batch of conditions (materialize each one instead).

        Example:
            >>> import torch, torch.nn as nn
            >>> from hypernetworks import hypernetize, TaskEmbedding
            >>> model = hypernetize(nn.Linear(4, 2), TaskEmbedding(3, 8))
            >>> net = model.materialize(2)
            >>> type(net).__name__
            'Linear'
            >>> x = torch.randn(5, 4)
            >>> torch.allclose(net(x), model(x, 2))
            True
        """
        with torch.no_grad():
            emb = self.embed(c)
            if emb.dim() != 1:
                raise ValueError(
                    f"materialize takes one condition, got a batch of {emb.shape[0]}; "
                    "materialize each condition separately"
                )
            weights = self._weights(emb)
            standalone = copy.deepcopy(self.target)
            params = dict(standalone.named_parameters())
            for name, value in weights.items():
                params[name].copy_(value)
                params[name].requires_grad_(True)
        return standalone

    def extra_repr(self) -> str:
        total = sum(p.numel() for p in dict(self.target.named_parameters()).values())
        generated = sum(p.numel() for n, p in self.target.named_parameters() if n in self.generated)
        return (
            f"generated={len(self.generated)} tensors ({generated} of {total} target numbers), "
            f"mip={self.mip}"
        )


def _as_args(x: object) -> tuple[Tensor, ...]:
    if isinstance(x, Tensor):
        return (x,)
    if isinstance(x, (tuple, list)) and x and all(isinstance(a, Tensor) for a in x):
        return tuple(x)
    raise TypeError(f"x must be a Tensor or a tuple of the target's Tensor inputs, got {describe(x)}")


def hypernetize(
    target: nn.Module,
    condition: int | Conditioner,
    *,
    params: list | None = None,
    head: str | Head = "full",
    hidden: tuple[int, ...] = (64, 64),
    mip: bool | MIP = True,
) -> HyperModel:
    """Make a hypernetwork that generates (some of) ``target``'s parameters.

    Args:
        target: any ``nn.Module``; left untouched (the result keeps its own copy).
        condition: the size of a raw condition vector (``int``), or a conditioner
            (:class:`TaskEmbedding`, :class:`Hyperparameters`, :class:`SetEncoder`,
            :class:`Noise` or a :class:`Conditioner` subclass).
        params: which parameters are generated: ``None`` for all, else a list of glob
            patterns over ``named_parameters()`` names and/or ``nn.Module`` subclasses.
            The others stay ordinary trainable parameters.
        head: ``"full"`` or a head object: :class:`Full`, :class:`Chunked`,
            :class:`LayerWise`, :class:`LowRank`.
        hidden: widths of the hypernetwork body (an MLP with LeakyReLU); ``()`` for none.
        mip: Magnitude Invariant Parametrizations: ``True``, ``False`` or a :class:`MIP`.

    Returns:
        A :class:`HyperModel`, called as ``model(x, c)``.

    Raises:
        TypeError: ``target`` is not a module; a bad ``condition``/``head``/``mip`` type.
        ValueError: ``params`` selects nothing or has a pattern/type that matches nothing.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hypernetworks import hypernetize, TaskEmbedding
        >>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> model = hypernetize(net, TaskEmbedding(num_tasks=4, dim=8), params=["2.*"])
        >>> x = torch.randn(5, 8)
        >>> model(x, 1).shape                            # one weight set for the batch
        torch.Size([5, 3])
        >>> model(x, torch.tensor([0, 1, 2, 3, 0])).shape  # one weight set per sample
        torch.Size([5, 3])
    """
    if not isinstance(target, nn.Module):
        raise TypeError(f"target must be an nn.Module, got {describe(target)}")
    if isinstance(condition, numbers.Integral) and not isinstance(condition, bool):
        conditioner: Conditioner = Vector(check_positive_int(condition, "condition"))
    elif isinstance(condition, Conditioner):
        conditioner = condition
    else:
        raise TypeError(
            "condition must be an int (the size of a condition vector) or a conditioner "
            f"(TaskEmbedding, Hyperparameters, SetEncoder, Noise, ...), got {describe(condition)}"
        )
    names = select_parameters(target, params)
    return HyperModel(
        target, conditioner, names, resolve_head(head), check_hidden(hidden), resolve_mip(mip)
    )
