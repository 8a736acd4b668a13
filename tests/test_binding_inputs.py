"""Any forward signature: keyword inputs, mappings, pass-through values, per-sample splits."""

from collections import UserDict

import pytest
import torch
from torch import nn

from hypernetworks import LowRank, TaskEmbedding, hypernetize

from .helpers import perturb


class Masked(nn.Module):
    """Keyword-only inputs, a mask, a shared tensor, a non-tensor flag and a None."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(11, 6)
        self.norm = nn.LayerNorm(6)
        self.out = nn.Linear(6, 3)

    def forward(self, input_ids, attention_mask=None, *, bias=None, scale=1.0, unused=None):
        assert unused is None
        h = self.norm(self.embed(input_ids))
        if bias is not None:  # shared by every sample: [6]
            h = h + bias
        if attention_mask is not None:  # masked mean pooling (data-dependent when all ones)
            if bool(attention_mask.all()):
                pooled = h.mean(1)
            else:
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1)
        else:
            pooled = h.mean(1)
        return self.out(pooled) * scale


def _batch(b=4, t=5):
    ids = torch.randint(0, 11, (b, t))
    mask = torch.ones(b, t, dtype=torch.long)
    mask[1, 3:] = 0
    mask[2, 1:] = 0
    return ids, mask


def _expected(model, ids, mask, conditions, **kwargs):
    return torch.cat(
        [
            model.materialize(c)(ids[i : i + 1], attention_mask=mask[i : i + 1], **kwargs)
            for i, c in enumerate(conditions)
        ]
    )


@pytest.mark.parametrize("head", ["full", LowRank(2)], ids=["full", "lowrank"])
@pytest.mark.parametrize("conditions", [[0, 1, 2, 3], [0, 1, 1, 0]], ids=["distinct", "grouped"])
def test_keyword_inputs_per_sample_and_shared(head, conditions):
    model = perturb(hypernetize(Masked(), TaskEmbedding(4, 8), head=head)).eval()
    ids, mask = _batch()
    bias = torch.randn(6)
    c = torch.tensor(conditions)
    out = model(ids, c, attention_mask=mask, bias=bias, scale=2.0, unused=None)
    torch.testing.assert_close(
        out, _expected(model, ids, mask, conditions, bias=bias, scale=2.0), rtol=1e-4, atol=1e-5
    )
    # a mapping of keyword inputs (as a tokenizer's BatchEncoding, a UserDict) is the same
    encoding = UserDict({"input_ids": ids, "attention_mask": mask})
    torch.testing.assert_close(model(encoding, c, bias=bias, scale=2.0), out)
    shared = model(encoding, 2, bias=bias, scale=2.0)
    torch.testing.assert_close(
        shared, model.materialize(2)(ids, attention_mask=mask, bias=bias, scale=2.0)
    )


def test_keyword_inputs_on_the_vmap_path():
    """BatchNorm in training mode couples samples: the per-sample path is vmap, kwargs too."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.bn = nn.Linear(3, 4), nn.BatchNorm1d(4)

        def forward(self, x, *, shift, gate=None):
            y = self.bn(self.a(x).unsqueeze(-1).expand(-1, -1, 2)).sum(-1) + shift
            return y if gate is None else y * gate

    model = perturb(hypernetize(Net(), TaskEmbedding(3, 4))).train()
    x, shift, gate = torch.randn(3, 3), torch.randn(4), torch.randn(3, 4)
    out = model(x, torch.tensor([0, 1, 2]), shift=shift, gate=gate)
    assert model.per_sample_path == "vmap"
    for i in range(3):
        net = model.materialize(i).train()
        torch.testing.assert_close(
            out[i : i + 1], net(x[i : i + 1], shift=shift, gate=gate[i : i + 1])
        )


def test_a_one_dimensional_input_is_a_batch_of_scalars():
    model = perturb(
        hypernetize(nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2)), TaskEmbedding(3, 4))
    )
    ids, c = torch.tensor([4, 4, 4]), torch.tensor([0, 1, 2])
    out = model(ids, c)
    assert out.shape == (3, 2)
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], model.materialize(i)(ids[i : i + 1]))


def test_inputs_without_the_batch_are_refused_with_a_way_out():
    model = hypernetize(nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2)), TaskEmbedding(3, 4))
    with pytest.raises(
        ValueError,
        match=r"a batch of 3 conditions needs inputs with 3 samples "
        r"along dim 0; input #0 has shape \(7,\).*x.expand\(3, ...\)",
    ):
        model(torch.tensor([1, 2, 3, 4, 0, 1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"keyword inputs given twice.*\['input'\]"):
        model({"input": torch.tensor([[1]])}, 0, input=torch.tensor([[1]]))
    with pytest.raises(TypeError, match=r"x must be a Tensor, a tuple .* mapping"):
        model(None, 0)


def test_training_batchnorm_uses_vmap_and_eval_returns_to_the_batched_path():
    net = nn.Sequential(nn.Conv1d(3, 4, 1), nn.BatchNorm1d(4))  # 5 values per channel
    model = perturb(hypernetize(net, TaskEmbedding(3, 4)))
    x, ids = torch.randn(3, 3, 5), torch.tensor([0, 1, 2])
    model.train()
    model(x, ids)
    assert model.per_sample_path == "vmap"  # samples interact through batch statistics
    model.eval()
    out = model(x, ids)
    assert model.per_sample_path == "batched" and model.per_sample_fallback is None
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], model.materialize(i).eval()(x[i : i + 1]))
