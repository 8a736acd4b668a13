"""Correctness: padding, which parameters are generated, bad conditions, compile, bound()."""

import pytest
import torch
from torch import nn

from hypernetworks import Hyperparameters, LowRank, TaskEmbedding, hypernetize

from .helpers import perturb


class MaskedMean(nn.Module):
    """Masked-mean pooling: an all-zero row would compute 0/0."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.out = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x, mask):
        m = mask.unsqueeze(-1)
        return self.out((self.a(x) * m).sum(1) / m.sum(1))


def test_grouped_padding_never_puts_nan_into_gradients():
    model = perturb(hypernetize(MaskedMean(), TaskEmbedding(2, 4)))
    ids = torch.tensor([0, 0, 0, 1, 1])  # groups of 3 and 2: one padding slot
    x, mask = torch.randn(5, 6, 3), (torch.rand(5, 6) > 0.3).float()
    mask[:, 0] = 1
    out = model(x, ids, mask=mask)
    assert model.per_sample_path == "grouped"
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    for i, task in enumerate(ids.tolist()):
        expected = model.materialize(task)(x[i : i + 1], mask[i : i + 1])
        torch.testing.assert_close(out[i : i + 1], expected)


def test_frozen_parameters_are_generated_only_when_named():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    net[0].requires_grad_(False)
    assert hypernetize(net, 2).generated == ("2.weight", "2.bias")
    assert hypernetize(net, 2, params=["0.*", "2.weight"]).generated == (
        "0.weight",
        "0.bias",
        "2.weight",
    )
    net.requires_grad_(False)
    with pytest.raises(ValueError, match="every parameter of the target Sequential is frozen"):
        hypernetize(net, 2)


def test_tied_parameters_are_selected_by_any_of_their_names():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(7, 4)
            self.head = nn.Linear(4, 7, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, ids):
            return self.head(self.embed(ids))

    for pattern in ("head.weight", "embed.weight"):
        model = perturb(hypernetize(Tied(), TaskEmbedding(2, 4), params=[pattern]))
        assert model.generated == ("embed.weight",)
        ids = torch.randint(0, 7, (3, 5))
        net = model.materialize(1)
        assert net.head.weight is net.embed.weight
        torch.testing.assert_close(model(ids, 1), net(ids))
        torch.testing.assert_close(model(ids, torch.tensor([0, 1, 1]))[1:], net(ids[1:]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_conditions_are_refused(bad):
    model = hypernetize(nn.Linear(3, 2), 4)
    with pytest.raises(ValueError, match="the condition must be finite, got NaN or infinity"):
        model(torch.randn(2, 3), torch.tensor([0.0, bad, 0.0, 0.0]))
    with pytest.raises(ValueError, match="the condition must be finite"):
        model.generate(torch.tensor([[0.0, 1.0, 0.0, bad], [0.0] * 4]))


def test_compile_fullgraph_on_a_shared_condition():
    compiler = pytest.importorskip("torch._dynamo")
    del compiler
    torch._dynamo.reset()
    model = hypernetize(
        nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), TaskEmbedding(3, 4), hidden=(8,)
    )
    hp = hypernetize(nn.Linear(3, 2), Hyperparameters(lr=(1e-4, 1e-1, "log")), hidden=(8,))
    x = torch.randn(5, 3)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x, torch.tensor(1)), model(x, 1))
    compiled_hp = torch.compile(hp, fullgraph=True, backend="eager")
    c = torch.tensor([1e-2])
    torch.testing.assert_close(compiled_hp(x, c), hp(x, c))
    torch._dynamo.reset()


@pytest.mark.parametrize("head", ["full", LowRank(2)], ids=["full", "lowrank"])
def test_bound_runs_the_targets_own_methods(head):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4)

        def forward(self, x):
            return self.a(x)

        def twice(self, x):  # a method other than forward
            return self.a(torch.relu(self.a.weight.new_ones(1) * self(x)[..., :3]))

    model = perturb(hypernetize(Net(), TaskEmbedding(3, 4), head=head))
    x = torch.randn(3, 3)
    with model.bound(2) as net:
        shared = net.twice(x)
    torch.testing.assert_close(shared, model.materialize(2).twice(x))
    ids = torch.tensor([2, 0, 1])
    with model.bound(ids) as net:
        per = net.twice(x)
    for i, task in enumerate(ids.tolist()):
        torch.testing.assert_close(per[i : i + 1], model.materialize(task).twice(x[i : i + 1]))
    per.sum().backward()
    assert model.conditioner.embedding.weight.grad.abs().sum() > 0
    # outside the block the target holds its own parameters again
    assert isinstance(model.target.a.weight, nn.Parameter)


def test_a_function_without_a_batched_rule_falls_back_to_vmap_and_says_so():
    class Scaled(nn.Module):  # arithmetic on the weight alone has no batched rule
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4)

        def forward(self, x):
            return nn.functional.linear(x, self.a.weight * 2, self.a.bias)

    model = perturb(hypernetize(Scaled(), TaskEmbedding(3, 4), head=LowRank(2)))
    x, ids = torch.randn(3, 3), torch.tensor([0, 1, 2])
    out = model(x, ids)
    assert model.per_sample_path == "vmap"
    assert "mul of a per-sample weight without a batched input" in model.per_sample_fallback
    assert "per_sample_path=vmap (batched rules unavailable: mul" in repr(model)
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], model.materialize(i)(x[i : i + 1]))


@pytest.mark.parametrize("head", ["full", LowRank(2)], ids=["full", "lowrank"])
def test_multihead_attention_runs_batched_with_masks_and_weights(head):
    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x, mask, causal):
            return self.attn(
                x, x, x, key_padding_mask=mask, attn_mask=causal, average_attn_weights=False
            )

    model = perturb(hypernetize(Attention(), TaskEmbedding(3, 4), head=head)).eval()
    x, mask = torch.randn(3, 5, 8), torch.zeros(3, 5, dtype=torch.bool)
    mask[1, 3:] = True
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
    out, weights = model(x, torch.tensor([0, 1, 2]), mask=mask, causal=causal)
    assert model.per_sample_path == "batched"
    for i in range(3):
        expected, expected_weights = model.materialize(i)(x[i : i + 1], mask[i : i + 1], causal)
        torch.testing.assert_close(out[i : i + 1], expected)
        torch.testing.assert_close(weights[i : i + 1], expected_weights)


@pytest.mark.parametrize("head", ["full", LowRank(2)], ids=["full", "lowrank"])
def test_multihead_attention_rare_options_run_batched(head):
    """kdim/vdim (separate projection weights), add_bias_kv and add_zero_attn, with a
    padding mask: per sample == materialize, on the batched path."""

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(
                8, 2, batch_first=True, kdim=6, vdim=5, add_bias_kv=True, add_zero_attn=True
            )

        def forward(self, q, k, v, mask):
            return self.attn(q, k, v, key_padding_mask=mask)

    model = perturb(hypernetize(Attention(), TaskEmbedding(3, 4), head=head)).eval()
    q, k, v = torch.randn(3, 4, 8), torch.randn(3, 5, 6), torch.randn(3, 5, 5)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[2, 2:] = True
    out, weights = model((q, k, v, mask), torch.tensor([0, 1, 2]))
    assert model.per_sample_path == "batched", model.per_sample_fallback
    assert weights.shape == (3, 4, 7)  # 5 keys + bias_k + the zero key
    for i in range(3):
        expected, expected_weights = model.materialize(i)(
            q[i : i + 1], k[i : i + 1], v[i : i + 1], mask[i : i + 1]
        )
        torch.testing.assert_close(out[i : i + 1], expected)
        torch.testing.assert_close(weights[i : i + 1], expected_weights)
