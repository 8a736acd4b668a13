"""Heads whose generator is fed learned embeddings: ``Chunked`` (one generator over chunk
embeddings, von Oswald et al. 2020) and ``LayerWise`` (one generator per tensor shape over
layer embeddings, Ha, Dai & Le 2016)."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from ._checks import check_positive_int
from ._chunks import chunked_vector
from ._forms import Chunks, Form
from ._head_base import Bases, Head, HeadModule, Shapes, contracted, numel, split

__all__ = ["Chunked", "LayerWise"]


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
        self.total = sum(map(numel, shapes))
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
        return split(chunks.flatten(-2), self.shapes, bases)

    def factored(self, h: Tensor, bases: Bases) -> list[Form]:
        """Matrices as :class:`Chunks` (the chunks they overlap, never built); vectors
        computed number by number."""
        hidden = self.generator.hidden(h)  # [..., n_chunks, hidden]
        out: list[Form] = []
        size, position = self.generator.out.out_features, 0
        weight, bias = self.generator.out.weight, self.generator.out.bias
        for index, shape in enumerate(self.shapes):
            count = numel(shape)
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
                numel(self.shapes[members[0]]),
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
                members, split(block.flatten(-2), shapes, group_bases), strict=True
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
                (form,) = contracted(
                    hidden.select(-2, k),
                    generator.out.weight,
                    generator.out.bias,
                    [self.shapes[index]],
                    base,
                )
                out[index] = form
        return [f for f in out if f is not None]
