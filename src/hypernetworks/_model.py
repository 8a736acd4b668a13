"""``hypernetize``: turn any ``nn.Module`` into a hypernetwork-generated model."""

from __future__ import annotations

import contextlib
import copy
import numbers
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor, nn

from ._binding import call_shared, distinct_rows
from ._checks import check_hidden, check_positive_int, describe
from ._conditioners import Conditioner, Vector
from ._forms import take
from ._heads import Head, resolve_head
from ._mip import MIP, encode, resolve_mip
from ._per_sample import batched_binding, head_forms, per_sample
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

    Call it as ``model(x, c, **kwargs)``: one condition gives one weight set for the
    whole batch; a batch of conditions gives sample ``i`` the weights generated from
    ``c[i]``. ``x`` is a tensor, a tuple of the target's positional inputs, or a mapping
    of its keyword inputs (e.g. a tokenizer's ``BatchEncoding``); ``kwargs`` go to the
    target as keyword inputs. Non-tensor values (and None) pass through unchanged.

    With a batch of ``B`` conditions, every tensor input whose dim 0 is ``B`` is split per
    sample and other tensors are shared by all samples; at least one input must have
    ``B`` samples. A 1-D tensor of ``B`` values is a batch of scalars. A tensor meant to
    be shared whose dim 0 happens to be ``B`` cannot be told apart from a per-sample one:
    give it a leading dimension of 1 (``t[None]``), which broadcasts. Which per-sample
    path ran is in ``per_sample_path`` (see ``_per_sample.py``) and in ``repr(model)``.
    """

    per_sample_path: str | None = None
    """The per-sample path of the last batch-of-conditions call: grouped, batched or vmap."""
    per_sample_fallback: str | None = None
    """Why the batched per-sample path cannot run this target (then vmap runs), if known."""
    per_sample_vmap_error: str | None = None
    """Why vmap cannot run this target (then the batched path runs groups too), if known."""

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
        """The body's input for ``c``: ``[D]`` for one condition, ``[B, D]`` for a batch.

        Raises:
            TypeError: the condition's dtype differs from the hypernetwork's.
            ValueError: the condition holds NaN or infinity (checked outside
                ``torch.compile``, where the check would break the graph).
        """
        emb = self.conditioner(c)
        dtype = self.target_dtype
        if emb.dtype != dtype:
            raise TypeError(
                f"the condition's dtype {emb.dtype} does not match the hypernetwork's {dtype}; "
                f"convert the condition (e.g. c.to({dtype})) or the model"
            )
        if not torch.compiler.is_compiling() and not bool(torch.isfinite(emb.detach()).all()):
            raise ValueError(
                "the condition must be finite, got NaN or infinity in its embedding "
                f"(shape {tuple(emb.shape)}); check the condition passed as c"
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
        """Generated tensors for ``[D]`` (name -> ``[*shape]``) or ``[U, D]`` (``[U, *shape]``),
        each in its parameter's dtype (autocast may have changed the head's)."""
        out = {}
        for name, value in zip(
            self.generated, self.head(self.body(emb), self._bases()), strict=True
        ):
            dtype = self._target_tensor(name).dtype
            out[name] = value if value.dtype == dtype else value.to(dtype)
        return out

    def _batched_weights(self, emb: Tensor) -> dict[str, Tensor]:
        """name -> ``[B, *shape]``, generating each distinct condition of the batch once."""
        distinct = distinct_rows(emb)
        if distinct is None:
            return self._weights(emb)
        weights = self._weights(emb[distinct[0]])
        return {k: w[distinct[1]] for k, w in weights.items()}

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
    def forward(self, x: object, c: object, **kwargs: object) -> object:
        """Run the target on ``x`` (and keyword inputs ``kwargs``) with weights for ``c``.

        Args:
            x: a tensor, a tuple/list of positional inputs, or a mapping of keyword
                inputs (e.g. a tokenizer's ``BatchEncoding``).
            c: one condition (one weight set for the batch) or a batch of conditions.
            **kwargs: more keyword inputs of the target.

        Returns:
            Whatever the target returns.

        Raises:
            TypeError: ``x`` is none of the above.
            ValueError: a batch of conditions and no input with that many samples.

        Example:
            >>> import torch, torch.nn as nn
            >>> from hypernetworks import hypernetize, TaskEmbedding
            >>> model = hypernetize(nn.Linear(4, 2), TaskEmbedding(3, 8))
            >>> model(torch.randn(5, 4), 1).shape, model({"input": torch.randn(2, 4)}, 0).shape
            (torch.Size([5, 2]), torch.Size([2, 2]))
        """
        args, keywords = _as_inputs(x, kwargs)
        emb = self.embed(c)
        if emb.dim() == 1:
            return call_shared(self.target, self._weights(emb), args, keywords)
        return per_sample(self, emb, args, keywords)

    @contextlib.contextmanager
    def bound(self, c: object) -> Iterator[nn.Module]:
        """A context in which the target holds the weights generated for ``c``.

        Inside it, any method of the target runs with generated weights, e.g. Hugging
        Face's ``generate``. With a batch of conditions, sample ``i`` of every call's
        batch (dim 0) uses ``c[i]``'s weights through the batched per-sample rules (see
        ``_batched.py``); batch-expanding methods (beam search, several sequences per
        prompt) are not supported then. Gradients reach the hypernetwork.

        Raises:
            RuntimeError: with a batch of conditions, a function inside the block met a
                generated weight that no batched rule covers.

        Example:
            >>> import torch, torch.nn as nn
            >>> from hypernetworks import hypernetize, TaskEmbedding
            >>> model = hypernetize(nn.Linear(4, 2), TaskEmbedding(3, 8))
            >>> x = torch.randn(2, 4)
            >>> with model.bound(torch.tensor([0, 2])) as net:
            ...     out = net(x)
            >>> torch.allclose(out, model(x, torch.tensor([0, 2])))
            True
        """
        emb = self.embed(c)
        if emb.dim() == 1:
            weights = self._weights(emb)
            with torch.nn.utils.stateless._reparametrize_module(
                self.target, weights, tie_weights=True
            ):
                yield self.target
            return
        distinct = distinct_rows(emb)
        rows = emb if distinct is None else emb[distinct[0]]
        forms = head_forms(self, self.body(rows), factored=True)
        if distinct is not None:
            forms = {n: take(f, distinct[1]) for n, f in forms.items()}
        with batched_binding(self.target, forms, emb.shape[0]) as net:
            yield net

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
        text = (
            f"generated={len(self.generated)} tensors ({generated} of {total} target numbers), "
            f"mip={self.mip}"
        )
        if self.per_sample_path is not None:
            text += f", per_sample_path={self.per_sample_path}"
        if self.per_sample_fallback is not None:
            text += f" (batched rules unavailable: {self.per_sample_fallback})"
        return text


def _as_inputs(x: object, kwargs: Mapping[str, object]) -> tuple[tuple, dict[str, object]]:
    """The target's positional and keyword inputs from ``x`` and ``kwargs``."""
    if isinstance(x, Tensor):
        args: tuple = (x,)
    elif isinstance(x, (tuple, list)) and x:
        args = tuple(x)
    elif isinstance(x, Mapping) and all(isinstance(k, str) for k in x):
        clash = sorted(set(x) & set(kwargs))
        if clash:
            raise ValueError(f"keyword inputs given twice, in x and as keywords: {clash}")
        return (), {**x, **kwargs}
    else:
        raise TypeError(
            "x must be a Tensor, a tuple of the target's inputs, or a mapping of its keyword "
            f"inputs (e.g. a tokenizer's BatchEncoding), got {describe(x)}"
        )
    if not any(isinstance(a, Tensor) for a in args) and not any(
        isinstance(v, Tensor) for v in kwargs.values()
    ):
        raise TypeError(
            "x must be a Tensor, a tuple of the target's inputs, or a mapping of its keyword "
            f"inputs (e.g. a tokenizer's BatchEncoding), got {describe(x)}"
        )
    return args, dict(kwargs)


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
        params: which parameters are generated: ``None`` for every trainable one
            (frozen parameters stay frozen), else a list of glob patterns over parameter
            names (any name of a tied parameter) and/or ``nn.Module`` subclasses; named
            explicitly, frozen parameters are generated too. The others stay ordinary
            parameters.
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
