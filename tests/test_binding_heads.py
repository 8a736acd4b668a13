"""The head protocol: a new head plugs in, with or without the factored form."""

import pytest
import torch
from torch import nn

import hypernetworks as hn
from hypernetworks import Contracted, Head, HeadModule, TaskEmbedding, hypernetize

from .helpers import perturb


class _Linear(HeadModule):
    """Every tensor straight from one linear layer (``θ₀ + W·h``), optionally factored."""

    def __init__(self, shapes, width, factored):
        super().__init__()
        self.shapes, self.use_factored = list(shapes), factored
        self.out = nn.Linear(width, sum(s.numel() for s in self.shapes), bias=False)

    def forward(self, h, bases):
        flat, out, offset = self.out(h), [], 0
        for shape, base in zip(self.shapes, bases, strict=True):
            piece = flat[..., offset : offset + shape.numel()].reshape(*h.shape[:-1], *shape)
            out.append(base + piece)
            offset += shape.numel()
        return out

    def factored(self, h, bases):
        if not self.use_factored:
            return super().factored(h, bases)
        out, offset = [], 0
        for shape, base in zip(self.shapes, bases, strict=True):
            rows = self.out.weight[offset : offset + shape.numel()]
            offset += shape.numel()
            if len(shape) < 2:
                out.append(base + (h @ rows.t()).reshape(*h.shape[:-1], *shape))
            else:
                out.append(Contracted(base, h, rows))
        return out


class MyHead(Head):
    def __init__(self, factored: bool) -> None:
        self.factored = factored

    def build(self, shapes, in_features, *, residual):
        return _Linear(shapes, in_features, self.factored)


class PlainModuleHead(Head):  # a plain nn.Module: no HeadModule, no factored form
    def build(self, shapes, in_features, *, residual):
        module = _Linear(shapes, in_features, False)
        plain = nn.Module()
        plain.inner = module
        plain.forward = lambda h, bases: module(h, bases)  # type: ignore[method-assign]
        return plain


def _net():
    return nn.Sequential(nn.Linear(5, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize(
    "head",
    [MyHead(True), MyHead(False), PlainModuleHead()],
    ids=["factored", "built", "plain-module"],
)
@pytest.mark.parametrize("ids", [[0, 1, 2, 3], [0, 1, 0, 1, 1, 0]], ids=["distinct", "grouped"])
def test_a_custom_head_runs_shared_and_per_sample(head, ids):
    model = perturb(hypernetize(_net(), TaskEmbedding(4, 6), head=head)).eval()
    ids = torch.tensor(ids)
    x = torch.randn(len(ids), 5)
    out = model(x, ids)
    for i, task in enumerate(ids.tolist()):
        net = model.materialize(task)
        torch.testing.assert_close(out[i : i + 1], net(x[i : i + 1]), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model(x, task), net(x), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(model(x, 0), model(x, 1))
    expected = "grouped" if len(ids) > 4 else "batched"
    assert model.per_sample_path == expected
    out.sum().backward()
    assert (
        model.head.inner.out.weight.grad is not None
        if isinstance(head, PlainModuleHead)
        else model.head.out.weight.grad.abs().sum() > 0
    )


def test_built_heads_declare_the_protocol():
    for spec in (hn.Full(), hn.Chunked(8, 4), hn.LayerWise(4), hn.LowRank(2)):
        model = hypernetize(_net(), 4, head=spec)
        assert isinstance(model.head, HeadModule)
    h = torch.randn(3, 64)
    forms = hypernetize(_net(), 4, head=hn.LowRank(2)).head.factored(h, None)
    assert isinstance(forms[0], hn.Factored) and isinstance(forms[1], torch.Tensor)
    forms = hypernetize(_net(), 4, head=hn.Full()).head.factored(h, None)
    assert isinstance(forms[0], Contracted) and isinstance(forms[1], torch.Tensor)
