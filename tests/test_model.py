"""HyperModel as a user meets it: calling conventions, save/load, determinism, errors."""

import io

import pytest
import torch
from torch import nn

from hypernetworks import (
    Chunked,
    HyperModel,
    Hyperparameters,
    Noise,
    SetEncoder,
    TaskEmbedding,
    hypernetize,
)

from .helpers import perturb
from .targets import TARGETS


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def _train(model, steps=3, seed=0):
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        x, ids = torch.randn(8, 6), torch.randint(0, 4, (8,))
        optimizer.zero_grad()
        model(x, ids[0].item()).pow(2).mean().backward()
        optimizer.step()
    return model


def test_state_dict_round_trips_through_weights_only_load():
    torch.manual_seed(0)
    model = _train(hypernetize(_mlp(), TaskEmbedding(4, 8), head=Chunked(64, 8)))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    torch.manual_seed(123)
    fresh = hypernetize(_mlp(), TaskEmbedding(4, 8), head=Chunked(64, 8))
    fresh.load_state_dict(state)
    model.eval(), fresh.eval()
    x = torch.randn(5, 6)
    torch.testing.assert_close(fresh(x, 2), model(x, 2), rtol=0, atol=0)
    torch.testing.assert_close(fresh.target[1].running_mean, model.target[1].running_mean)
    assert "target.1.running_mean" in state and "conditioner.embedding.weight" in state


def test_training_is_deterministic_under_a_seed():
    def run():
        torch.manual_seed(7)
        return _train(hypernetize(_mlp(), TaskEmbedding(4, 8)), seed=7)

    a, b = run().state_dict(), run().state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_generate_batches_equal_single_conditions_and_reuse_repeats():
    model = perturb(hypernetize(_mlp(), TaskEmbedding(4, 8)))
    rows = []
    model.head.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    ids = torch.tensor([3, 1, 3, 3, 1, 0, 0, 3])
    batch = model.generate(ids)
    assert rows == [3]  # three distinct tasks: three weight sets generated, not eight
    for i, task in enumerate(ids.tolist()):
        single = model.generate(task)
        for name in model.generated:
            torch.testing.assert_close(batch[name][i], single[name])
    model.eval()
    x = torch.randn(8, 6)
    out = model(x, ids)
    for i, task in enumerate(ids.tolist()):
        torch.testing.assert_close(out[i], model(x[i : i + 1], task)[0])


def test_materialized_model_is_standalone():
    model = perturb(hypernetize(_mlp(), TaskEmbedding(4, 8)))
    net = model.materialize(1)
    assert type(net) is nn.Sequential and not isinstance(net, HyperModel)
    hyper_ids = {id(t) for t in list(model.parameters()) + list(model.buffers())}
    assert not any(id(t) in hyper_ids for t in list(net.parameters()) + list(net.buffers()))
    assert all(p.requires_grad and p.is_leaf and p.grad_fn is None for p in net.parameters())
    x = torch.randn(4, 6)
    net.eval(), model.eval()
    before = net(x)
    with torch.no_grad():  # changing the hypernetwork leaves the materialized copy alone
        for p in model.parameters():
            p.add_(1.0)
    torch.testing.assert_close(net(x), before)
    net(x).sum().backward()  # fine-tuning it touches only its own parameters
    assert all(p.grad is None for p in model.parameters())


def test_not_generated_parameters_stay_trainable_parameters():
    model = hypernetize(_mlp(), TaskEmbedding(4, 8), params=["3.*"])
    assert model.generated == ("3.weight", "3.bias")
    for name, p in model.target.named_parameters():
        assert p.requires_grad, name
    plain = hypernetize(_mlp(), TaskEmbedding(4, 8), params=["3.*"], mip=False)
    frozen = {n for n, p in plain.target.named_parameters() if not p.requires_grad}
    assert frozen == {"3.weight", "3.bias"}


def test_several_inputs_and_per_sample_conditions():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x, y):
            return self.a(x) * self.b(y)

    model = perturb(hypernetize(Pair(), TaskEmbedding(3, 4)))
    x, y, ids = torch.randn(5, 3), torch.randn(5, 4), torch.tensor([0, 1, 2, 1, 0])
    out = model((x, y), ids)
    torch.testing.assert_close(out[3:4], model.materialize(1)(x[3:4], y[3:4]))


def test_noise_and_set_conditions():
    torch.manual_seed(0)
    model = perturb(hypernetize(nn.Linear(4, 2), Noise(6, seed=0)))
    x = torch.randn(5, 4)
    ensemble = model(x.expand(5, 4)[:1].expand(5, 4), 5)  # one input, five sampled networks
    assert ensemble.std(dim=0).min() > 0
    shared = model(x, None)
    assert shared.shape == (5, 2)
    model.conditioner.manual_seed(0)
    first = model(x, None)
    model.conditioner.manual_seed(0)
    torch.testing.assert_close(model(x, None), first)

    sets = perturb(hypernetize(nn.Linear(4, 2), SetEncoder(3, 8)))
    support = torch.randn(5, 10, 3)  # one support set per sample
    out = sets(x, support)
    torch.testing.assert_close(out[2:3], sets.materialize(support[2])(x[2:3]))


def test_hypernetwork_follows_the_target_dtype():
    model = hypernetize(nn.Linear(3, 2).double(), Hyperparameters(a=(0.0, 1.0)))
    assert all(p.dtype == torch.float64 for p in model.parameters())
    out = model(torch.randn(4, 3, dtype=torch.float64), {"a": 0.5})
    assert out.dtype == torch.float64


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: hypernetize([nn.Linear(2, 2)], 3),
            TypeError,
            r"target must be an nn.Module, got \[Linear",
        ),
        (
            lambda: hypernetize(nn.Linear(2, 2), "task"),
            TypeError,
            r"condition must be an int .* got 'task' \(str\)",
        ),
        (lambda: hypernetize(nn.Linear(2, 2), True), TypeError, r"got True \(bool\)"),
        (
            lambda: hypernetize(nn.Linear(2, 2), 0),
            ValueError,
            "condition must be a positive int, got 0",
        ),
        (
            lambda: hypernetize(nn.ReLU(), 3),
            ValueError,
            "the target ReLU has no parameters, so there is nothing to generate",
        ),
    ],
)
def test_construction_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_call_errors():
    model = hypernetize(nn.Linear(3, 2), 4)
    with pytest.raises(
        ValueError,
        match=r"a batch of 5 conditions needs inputs with 5 "
        r"samples along dim 0; input #0 has shape \(4, 3\)",
    ):
        model(torch.randn(4, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"shape \[4\] or \[batch, 4\], got shape \(3,\)"):
        model(torch.randn(4, 3), torch.randn(3))
    with pytest.raises(
        TypeError,
        match="condition's dtype torch.float64 does not match the hypernetwork's torch.float32",
    ):
        model(torch.randn(4, 3), torch.randn(4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x must be a Tensor, a tuple .* got \[\[1.0"):
        model([[1.0, 2.0, 3.0]], torch.randn(4))
    with pytest.raises(ValueError, match="materialize takes one condition, got a batch of 2"):
        model.materialize(torch.randn(2, 4))
    tasks = hypernetize(nn.Linear(3, 2), TaskEmbedding(3, 4))
    with pytest.raises(ValueError, match=r"task ids must lie in \[0, 2\]"):
        tasks(torch.randn(2, 3), torch.tensor([0, 3]))


def test_per_sample_outputs_must_put_the_batch_first():
    class Hidden(nn.Module):  # returns GRU's h_n, whose batch is dim 1
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4, num_layers=2, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[1]

    model = hypernetize(Hidden(), TaskEmbedding(3, 4))
    x = torch.randn(3, 5, 3)
    assert model(x, 0).shape == (2, 3, 4)
    with pytest.raises(
        ValueError,
        match=r"batch as its first dimension; output #0 for a "
        r"group of 1 sample\(s\) has shape \(2, 1, 4\)",
    ):
        model(torch.randn(3, 5, 3), torch.tensor([0, 1, 2]))


@pytest.mark.parametrize("name", ["linear", "conv2d_groups", "lstm"])
def test_repr_names_what_is_generated(name):
    model = hypernetize(TARGETS[name][0](), 3, params=["*weight*"])
    text = repr(model)
    assert f"generated={len(model.generated)} tensors" in text and "mip=MIP(" in text


def test_distinct_rows_groups_exactly_even_when_keys_collide():
    from hypernetworks._binding import distinct_rows

    rows = torch.tensor([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [1.0, 2.0]])
    first, inverse = distinct_rows(rows)
    assert torch.equal(rows[first][inverse], rows) and len(first) == 2
    assert distinct_rows(torch.eye(3)) is None
    # Rows that differ only in a direction orthogonal to the projection share a key.
    direction = torch.randn(2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    step = torch.stack([-direction[1], direction[0]]).float()
    clash = torch.stack([torch.zeros(2), step, torch.zeros(2)])
    first, inverse = distinct_rows(clash)
    assert inverse.tolist() in ([0, 1, 0], [1, 0, 1]) and len(first) == 2
