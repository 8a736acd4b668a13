"""Output heads: how the hypernetwork body's features become target tensors.

The output categories of the hypernetwork taxonomy — all at once (``Full``), chunk by
chunk (``Chunked``, von Oswald et al. 2020), layer by layer (``LayerWise``, Ha, Dai & Le
2016) — plus the low-rank decoder of LoGAH (``LowRank``).

A head is a small spec object; :meth:`Head.build` turns it into a module for a given
list of tensor shapes. The built module maps features ``h`` — ``[H]`` for one condition
or ``[U, H]`` for U distinct conditions — to one tensor ``[*shape]`` / ``[U, *shape]``
per generated parameter. Given the bases θ₀ (MIP's residual formulation) it returns
``θ₀ + Δθ``, fused into one op where it can (``LowRank`` uses ``addmm``): on small
targets the hypernetwork's cost is mostly the number of ops, not their arithmetic.

Initialisation. With MIP's residual formulation (``θ = θ₀ + Δθ``) the layer that emits
Δθ starts at zero — for ``LowRank`` only the B factor, as in LoRA, so gradients still
reach A — so a hypernetized pretrained model computes exactly what the target did. The
last layer then has no bias, since θ₀ already plays that role. Without the residual
formulation every layer keeps PyTorch's default initialisation (the plain formulation
the MIP paper compares against).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int, describe
from ._chunks import chunked_vector
from ._forms import Chunks, Contracted, Factored, Form

__all__ = ["Chunked", "Full", "Head", "HeadModule", "LayerWise", "LowRank", "resolve_head"]

Shapes = Sequence[torch.Size]


def _numel(shape: torch.Size) -> int:
    return math.prod(shape)


Bases = Sequence[Tensor] | None


def _split(flat: Tensor, shapes: Shapes, bases: Bases) -> list[Tensor]:
    """Cut ``[..., sum(numel)]`` — a fresh output of a linear layer — into ``[..., *shape]``.

    With bases and no gradient recorded (generation, inference), θ₀ is added *in place*:
    the weights then occupy the layer's output buffer and no full-size Δθ exists beside
    them. Under autograd the addition is out of place: an in-place write into a view gives
    each tensor a ``CopySlices`` node whose backward copies the whole buffer's gradient.
    """
    lead, out = flat.shape[:-1], []
    inplace = not (torch.is_grad_enabled() and flat.requires_grad)
    sizes = [_numel(shape) for shape in shapes]
    spare = flat.shape[-1] - sum(sizes)  # a last chunk's unused tail
    # One split (whose backward is one cat): a narrow per tensor would zero-fill a
    # full-size gradient for each of them.
    pieces = flat.split(sizes + [spare] if spare else sizes, dim=-1)
    for index, shape in enumerate(shapes):
        piece = pieces[index].view((*lead, *shape))
        if bases is not None:
            base = bases[index]
            # Under autocast the head's output may be bf16: the result takes θ₀'s dtype.
            same = piece.dtype == base.dtype
            piece = piece.add_(base) if inplace and same else base + piece
        out.append(piece)
    return out


class HeadModule(nn.Module):
    """Base class of built heads: features in, one generated tensor per shape out.

    Subclasses implement :meth:`forward`. They may also override :meth:`factored` to hand
    the per-sample path weights it can apply without building them (see
    :class:`~hypernetworks.Factored` and :class:`~hypernetworks.Contracted`). A head that
    does not is still correct everywhere: the per-sample path then receives built weights.

    Example:
        >>> import torch, torch.nn as nn
        >>> class Scaled(HeadModule):  # Δθ = s(h) · θ₀ for every tensor
        ...     def __init__(self, shapes, width):
        ...         super().__init__()
        ...         self.shapes, self.scale = list(shapes), nn.Linear(width, len(shapes))
        ...     def forward(self, h, bases):
        ...         s = self.scale(h)
        ...         return [b * (1 + s[..., i].reshape(*s.shape[:-1], *[1] * b.dim()))
        ...                 for i, b in enumerate(bases)]
        >>> head = Scaled([torch.Size([2, 3])], 4)
        >>> [t.shape for t in head(torch.randn(5, 4), [torch.ones(2, 3)])]
        [torch.Size([5, 2, 3])]
    """

    def forward(self, h: Tensor, bases: Bases) -> list[Tensor]:
        """Generated tensors for features ``h``.

        Args:
            h: the body's features, ``[H]`` for one condition or ``[U, H]`` for U.
            bases: θ₀ per tensor under MIP's residual formulation (add them), else None.

        Returns:
            One tensor per shape, ``[*shape]`` or ``[U, *shape]``.
        """
        raise NotImplementedError

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """The same weights as :meth:`forward`, each as a tensor or a factored form.

        The per-sample path calls this with ``h`` ``[U, H]``. A :class:`Factored` or
        :class:`Contracted` entry must stand for exactly what ``forward`` returns for
        that tensor (θ₀ included in its ``base``). The default returns ``forward``'s
        tensors.
        """
        return list(self(h, bases))


class Head:
    """Base class of output-head specs. Subclasses implement :meth:`build`.

    A spec holds the head's settings; :meth:`build` makes a :class:`HeadModule` for the
    list of generated shapes (a plain ``nn.Module`` with the same ``forward(h, bases)``
    works too, without the factored form).

    Example:
        >>> import torch, torch.nn as nn
        >>> from hypernetworks import hypernetize
        >>> class Doubled(Head):  # Full, with every Δθ doubled
        ...     def build(self, shapes, in_features, *, residual):
        ...         return Full().build(shapes, in_features, residual=residual)
        >>> hypernetize(nn.Linear(3, 2), 4, head=Doubled())(torch.randn(1, 3), torch.randn(4)).shape
        torch.Size([1, 2])
    """

    def build(self, shapes: Shapes, in_features: int, *, residual: bool) -> nn.Module:
        """A module mapping features ``[H]``/``[U, H]`` to one tensor per shape.

        Args:
            shapes: the generated tensors' shapes, in order.
            in_features: the body's output width ``H``.
            residual: MIP's residual formulation: ``forward`` gets θ₀ and adds it.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Full(Head):
    """One linear output block per generated tensor (fused into a single matmul).

    Its output layer has ``H × P`` weights for ``P`` generated numbers: fastest to
    evaluate, largest in parameters. ``head="full"`` means ``Full()``.

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks import hypernetize
        >>> model = hypernetize(nn.Linear(3, 2), 4, head=Full())
    """

    def build(self, shapes: Shapes, in_features: int, *, residual: bool) -> nn.Module:
        return _FullHead(shapes, in_features, residual)


def _contracted(
    features: Tensor, weight: Tensor, bias: Tensor | None, shapes: Shapes, bases: Bases
) -> list[Form]:
    """Per tensor of ``shapes`` (laid end to end in ``weight``'s rows): a vector
    ``θ₀ + W·h + b``, or a matrix as :class:`Contracted` (never built).

    The rows are cut with one ``split`` (whose backward is one ``cat``): a ``narrow`` per
    tensor would zero-fill a full-size gradient for each of them.
    """
    out: list[Form] = []
    lead = features.shape[:-1]
    sizes = [_numel(shape) for shape in shapes]
    blocks = weight.split(sizes, dim=0)
    biases = [None] * len(shapes) if bias is None else list(bias.split(sizes, dim=0))
    for index, (shape, rows, part_bias) in enumerate(zip(shapes, blocks, biases, strict=True)):
        base = None if bases is None else bases[index]
        if len(shape) < 2:
            vector = F.linear(features, rows, part_bias).view(*lead, *shape)
            out.append(vector if base is None else base + vector)
            continue
        if part_bias is not None:
            part_bias = part_bias.view(shape)
            base = part_bias if base is None else base + part_bias
        out.append(Contracted(base, features, rows))
    return out


class _FullHead(HeadModule):
    def __init__(self, shapes: Shapes, in_features: int, residual: bool) -> None:
        super().__init__()
        self.shapes = list(shapes)
        self.out = nn.Linear(in_features, sum(map(_numel, shapes)), bias=not residual)
        if residual:
            nn.init.zeros_(self.out.weight)

    def forward(self, h: Tensor, bases: Bases) -> list[Tensor]:
        return _split(self.out(h), self.shapes, bases)

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """Vectors built; matrices as ``θ₀ + reshape(h·Gᵀ)`` with G this head's rows."""
        return _contracted(h, self.out.weight, self.out.bias, self.shapes, bases)


class _EmbeddedGenerator(nn.Module):
    """``out_k = W₂ · act(W₁ h + V e_k + b₁)`` for learned embeddings ``e_k``, k < num."""

    def __init__(
        self, in_features: int, num: int, embedding_dim: int, hidden: int, out: int, residual: bool
    ) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(torch.randn(num, embedding_dim))
        self.from_features = nn.Linear(in_features, hidden)
        self.from_embeddings = nn.Linear(embedding_dim, hidden, bias=False)
        self.act = nn.LeakyReLU()
        self.out = nn.Linear(hidden, out, bias=not residual)
        if residual:
            nn.init.zeros_(self.out.weight)

    def hidden(self, h: Tensor) -> Tensor:  # [..., H] -> [..., num, hidden]
        mixed = self.from_features(h).unsqueeze(-2) + self.from_embeddings(self.embeddings)
        return self.act(mixed)

    def forward(self, h: Tensor) -> Tensor:  # [..., H] -> [..., num, out]
        return self.out(self.hidden(h))


class Chunked(Head):
    """One shared generator applied to learned chunk embeddings (von Oswald et al. 2020).

    All generated numbers are laid end to end and cut into chunks of ``chunk_size``; chunk
    k is ``g(h, e_k)`` with ``g`` a one-hidden-layer generator shared by every chunk and
    ``e_k`` a learned embedding. The head has about ``hidden × chunk_size`` +
    ``n_chunks × embedding_dim`` parameters, so it can be far smaller than the target.

    Args:
        chunk_size: numbers generated per chunk.
        embedding_dim: size of each chunk embedding.
        hidden: width of the generator's hidden layer (default: the body's width).

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks import hypernetize
        >>> model = hypernetize(nn.Linear(30, 20), 4, head=Chunked(chunk_size=64, embedding_dim=8))
    """

    def __init__(self, chunk_size: int, embedding_dim: int, *, hidden: int | None = None) -> None:
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.hidden = None if hidden is None else check_positive_int(hidden, "hidden")

    def build(self, shapes: Shapes, in_features: int, *, residual: bool) -> nn.Module:
        return _ChunkedHead(self, shapes, in_features, residual)


class _ChunkedHead(HeadModule):
    def __init__(self, spec: Chunked, shapes: Shapes, in_features: int, residual: bool) -> None:
        super().__init__()
        self.shapes = list(shapes)
        self.total = sum(map(_numel, shapes))
        num = -(-self.total // spec.chunk_size)
        self.generator = _EmbeddedGenerator(
            in_features,
            num,
            spec.embedding_dim,
            spec.hidden or in_features,
            spec.chunk_size,
            residual,
        )

    def forward(self, h: Tensor, bases: Bases) -> list[Tensor]:
        chunks = self.generator(h)  # [..., n_chunks, chunk_size]
        return _split(chunks.flatten(-2), self.shapes, bases)

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """Matrices as :class:`Chunks` (the chunks they overlap, never built); vectors
        computed number by number."""
        hidden = self.generator.hidden(h)  # [..., n_chunks, hidden]
        out: list[Form] = []
        size, position = self.generator.out.out_features, 0
        weight, bias = self.generator.out.weight, self.generator.out.bias
        for index, shape in enumerate(self.shapes):
            count = _numel(shape)
            first, last = position // size, (position + count - 1) // size
            form = Chunks(
                None if bases is None else bases[index],
                hidden[..., first : last + 1, :],
                weight,
                bias,
                position - first * size,
            )
            position += count
            if len(shape) >= 2:
                out.append(form)
                continue
            vector = chunked_vector(form, count).view(*h.shape[:-1], *shape)
            out.append(vector if form.base is None else form.base + vector)
        return out


class LayerWise(Head):
    """A generator shared across tensors of the same shape, fed a per-layer embedding.

    As in Ha, Dai & Le (2016): tensors are grouped by shape; each group has one
    generator ``g(h, e_l)`` and every tensor ``l`` in it a learned embedding ``e_l``.
    Deep stacks of equal layers share one generator.

    Args:
        embedding_dim: size of each layer embedding.
        hidden: width of the generators' hidden layer (default: the body's width).

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks import hypernetize
        >>> net = nn.Sequential(*[nn.Linear(16, 16) for _ in range(4)])
        >>> model = hypernetize(net, 4, head=LayerWise(embedding_dim=8))
    """

    def __init__(self, embedding_dim: int, *, hidden: int | None = None) -> None:
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.hidden = None if hidden is None else check_positive_int(hidden, "hidden")

    def build(self, shapes: Shapes, in_features: int, *, residual: bool) -> nn.Module:
        return _LayerWiseHead(self, shapes, in_features, residual)


class _LayerWiseHead(HeadModule):
    def __init__(self, spec: LayerWise, shapes: Shapes, in_features: int, residual: bool) -> None:
        super().__init__()
        self.shapes = list(shapes)
        groups: dict[torch.Size, list[int]] = {}
        for index, shape in enumerate(self.shapes):
            groups.setdefault(torch.Size(shape), []).append(index)
        self.groups = list(groups.values())
        self.generators = nn.ModuleList(
            _EmbeddedGenerator(
                in_features,
                len(members),
                spec.embedding_dim,
                spec.hidden or in_features,
                _numel(self.shapes[members[0]]),
                residual,
            )
            for members in self.groups
        )

    def forward(self, h: Tensor, bases: Bases) -> list[Tensor]:
        out: list[Tensor | None] = [None] * len(self.shapes)
        for members, generator in zip(self.groups, self.generators, strict=True):
            block = generator(h)  # [..., len(members), numel]
            group_bases = None if bases is None else [bases[i] for i in members]
            shapes = [self.shapes[i] for i in members]
            for index, tensor in zip(
                members, _split(block.flatten(-2), shapes, group_bases), strict=True
            ):
                out[index] = tensor
        return [t for t in out if t is not None]

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """Each tensor ``l`` is linear in its generator's hidden activation ``a_l(h)``:
        vectors built, matrices as ``θ₀ + reshape(a_l·W₂ᵀ)`` (:class:`Contracted`)."""
        out: list[Form | None] = [None] * len(self.shapes)
        for members, module in zip(self.groups, self.generators, strict=True):
            generator = cast(_EmbeddedGenerator, module)
            hidden = generator.hidden(h)  # [..., len(members), hidden]
            for k, index in enumerate(members):
                base = None if bases is None else [bases[index]]
                (form,) = _contracted(
                    hidden.select(-2, k),
                    generator.out.weight,
                    generator.out.bias,
                    [self.shapes[index]],
                    base,
                )
                out[index] = form
        return [f for f in out if f is not None]


class LowRank(Head):
    """Every 2-D+ weight as ``A · Bᵀ`` of rank ``rank``; vectors generated directly.

    A weight of shape ``(m, *rest)`` is treated as an ``m × prod(rest)`` matrix (for a
    convolution: output channels × the rest of the kernel), as in LoGAH's low-rank
    decoder. The head emits ``rank × (m + n)`` numbers per matrix instead of ``m × n``.

    Args:
        rank: the rank of each generated (Δ) matrix.

    Example:
        >>> import torch.nn as nn
        >>> from hypernetworks import hypernetize
        >>> model = hypernetize(nn.Conv2d(8, 16, 3), 4, head=LowRank(rank=2))
    """

    def __init__(self, rank: int) -> None:
        self.rank = check_positive_int(rank, "rank")

    def build(self, shapes: Shapes, in_features: int, *, residual: bool) -> nn.Module:
        return _LowRankHead(self.rank, shapes, in_features, residual)


class _LowRankHead(HeadModule):
    """Emits, per matrix, A ``[m, r]`` and B ``[r, n]`` (row-major, so no transposes), and
    per vector its values; matrices become ``θ₀ + A·B`` in one ``addmm``/``baddbmm``."""

    def __init__(self, rank: int, shapes: Shapes, in_features: int, residual: bool) -> None:
        super().__init__()
        self.rank = rank
        self.shapes = list(shapes)
        self.sizes: list[int] = []  # per tensor: its A and B blocks (matrices) or one block
        zeroed: list[tuple[int, int]] = []  # rows that start at zero under residual
        offset = 0
        for shape in self.shapes:
            if len(shape) >= 2:
                a, b = shape[0] * rank, _numel(shape[1:]) * rank
                self.sizes += [a, b]
                zeroed.append((offset + a, offset + a + b))
                offset += a + b
            else:
                self.sizes.append(_numel(shape))
                zeroed.append((offset, offset + _numel(shape)))
                offset += _numel(shape)
        self.out = nn.Linear(in_features, offset, bias=not residual)
        if residual:
            with torch.no_grad():
                for start, stop in zeroed:
                    self.out.weight[start:stop].zero_()

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """Per tensor: a vector ``θ₀ + v`` (a Tensor), or a matrix as
        :class:`Factored` ``(θ₀ or None, A [..., m, r], B [..., r, n])``, unmultiplied."""
        lead = tuple(h.shape[:-1])
        pieces = iter(self.out(h).split(self.sizes, dim=-1))
        result: list[Form] = []
        for index, shape in enumerate(self.shapes):
            base = None if bases is None else bases[index]
            if len(shape) < 2:
                delta = next(pieces)
                if delta.shape != (*lead, *shape):
                    delta = delta.reshape((*lead, *shape))
                result.append(delta if base is None else base + delta)
            else:
                a = next(pieces).view(*lead, shape[0], self.rank)
                b = next(pieces).view(*lead, self.rank, _numel(shape[1:]))
                result.append(Factored(base, a, b))
        return result

    def forward(self, h: Tensor, bases: Bases) -> list[Tensor]:
        lead = tuple(h.shape[:-1])
        result = []
        for shape, part in zip(self.shapes, self.factored(h, bases), strict=True):
            if isinstance(part, Tensor):
                result.append(part)
                continue
            if not isinstance(part, Factored):
                raise TypeError(f"LowRank produced {type(part).__name__}, not Factored")
            base, a, b = part
            m, n = a.shape[-2], b.shape[-1]
            if base is None:
                matrix = a @ b
            elif not lead:
                matrix = torch.addmm(base if base.dim() == 2 else base.reshape(m, n), a, b)
            else:
                matrix = torch.baddbmm(base.reshape(1, m, n), a, b)
            result.append(matrix if len(shape) == 2 else matrix.reshape((*lead, *shape)))
        return result


def resolve_head(head: str | Head) -> Head:
    """Turn the ``head`` argument of :func:`hypernetize` into a :class:`Head`."""
    if isinstance(head, Head):
        return head
    if isinstance(head, str):
        if head == "full":
            return Full()
        raise ValueError(
            f"head must be 'full' or a head object (Full(), Chunked(...), LayerWise(...), "
            f"LowRank(...)), got {head!r}"
        )
    raise TypeError(f"head must be 'full' or a hypernetworks.Head, got {describe(head)}")
