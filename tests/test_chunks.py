"""The Chunked head's per-sample rule (``_chunks.py``): weights cut from chunks are
applied without building them, and give what each sample's own weights give."""

import pytest
import torch
from torch import nn

from hypernetworks import Chunked, TaskEmbedding, hypernetize

from .helpers import perturb

IDS = torch.tensor([2, 0, 3, 1])  # distinct: the batched path


class Tokens(nn.Module):
    """An embedding, then linear layers on [B, T, features] (several rows per sample)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(11, 6)
        self.first = nn.Linear(6, 12)
        self.second = nn.Linear(12, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.second(torch.tanh(self.first(self.embed(ids))))


def _mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)
    )


# chunk sizes: a multiple of every row (aligned), rows cut by chunk ends, chunks shorter
# than a row, and one chunk for everything
@pytest.mark.parametrize("chunk", [32, 20, 7, 1000])
@pytest.mark.parametrize("mip", [True, False], ids=["mip", "plain"])
@pytest.mark.parametrize("target", ["mlp", "tokens"])
def test_per_sample_chunks_equal_each_samples_weights_with_gradients(chunk, mip, target):
    torch.manual_seed(0)
    net = _mlp() if target == "mlp" else Tokens()
    model = perturb(hypernetize(net, TaskEmbedding(4, 8), head=Chunked(chunk, 4), mip=mip))
    x = torch.randn(len(IDS), 8) if target == "mlp" else torch.randint(0, 11, (len(IDS), 5))
    out = model(x, IDS)
    assert model.per_sample_path == "batched"
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out.pow(2).sum(), params, allow_unused=True)
    reference = torch.cat([model(x[i : i + 1], int(c)) for i, c in enumerate(IDS)])
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)
    expected = torch.autograd.grad(reference.pow(2).sum(), params, allow_unused=True)
    for got, want in zip(grads, expected, strict=True):
        if want is None:
            assert got is None or not got.any()
        else:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out[0], out[1])  # conditions matter, or the check says nothing


def test_many_rows_per_sample_build_the_weights_and_agree():
    """With many tokens per sample, building the B weights is cheaper; both give one answer."""
    torch.manual_seed(0)
    model = perturb(hypernetize(Tokens(), TaskEmbedding(4, 8), head=Chunked(7, 4)))
    x = torch.randint(0, 11, (len(IDS), 400))
    out = model(x, IDS)
    assert model.per_sample_path == "batched"
    for i, c in enumerate(IDS.tolist()):
        torch.testing.assert_close(out[i : i + 1], model.materialize(c)(x[i : i + 1]))


def test_layers_spanning_many_chunks_are_applied_without_building_weights(monkeypatch):
    """A matrix over K chunks costs ~K·C·H to build and ~C·H through the rule: the rule
    runs, and no [B, m, n] weight set is made (a tiny matrix in one chunk may be built:
    the rule picks the cheaper way, see the test above)."""
    from hypernetworks import _batched, _chunks, _forms

    built = []

    def spy(form, shape):
        if not isinstance(form, torch.Tensor):
            built.append(tuple(shape))
        return _forms.build(form, shape)

    monkeypatch.setattr(_batched, "build", spy)
    monkeypatch.setattr(_chunks, "build", spy)
    torch.manual_seed(0)
    model = perturb(hypernetize(_mlp(), TaskEmbedding(4, 8), head=Chunked(32, 4)))
    model(torch.randn(4, 8), IDS).sum().backward()
    assert built == [] and model.per_sample_path == "batched"
