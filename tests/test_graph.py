"""The graph recipe: tracing, prediction for every parameter, save/load, errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypernetworks.graph import (
    ArchitectureSpace,
    CNNSpec,
    GraphHyperNetwork,
    MLPSpec,
    UnsupportedModelError,
    calibrate_batchnorm,
    encode,
    held_out,
    out_of_distribution,
    trace,
)


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv(x))


class _Functional(nn.Module):
    """Parameters used through F.linear, not through an nn.Linear."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 3))
        self.b = nn.Parameter(torch.zeros(5))

    def forward(self, x):
        return F.linear(x, self.w, self.b)


class _ShapeBranch(nn.Module):
    """Python control flow on a shape: torch.fx fails, torch.export specialises."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        if x.shape[-1] == 6:
            x = x * 2
        return self.fc(x)


class _DataBranch(nn.Module):
    """Control flow on values: neither tracer can follow it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        if x.sum() > 0:
            x = x * 2
        return self.fc(x)


def _ops(graph):
    return [n.op for n in graph.nodes]


def test_mlp_graph_has_every_operation_as_a_node():
    g = trace(
        nn.Sequential(
            nn.Flatten(),
            nn.Linear(4, 8),
            nn.LayerNorm(8),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(8, 2),
        )
    )
    assert _ops(g) == [
        "input",
        "reshape",
        "linear.weight",
        "linear.bias",
        "layernorm.weight",
        "layernorm.bias",
        "gelu",
        "dropout",
        "linear.weight",
        "linear.bias",
        "output",
    ]
    assert g.edges == tuple((i, i + 1) for i in range(len(g.nodes) - 1))
    assert g.parameters() == {
        "1.weight": 2,
        "1.bias": 3,
        "2.weight": 4,
        "2.bias": 5,
        "5.weight": 8,
        "5.bias": 9,
    }
    assert g.nodes[2].shape == (8, 4)


def test_residual_cnn_graph_has_the_skip_edge_and_pooling_nodes():
    g = trace(
        nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.MaxPool2d(2),
            _Residual(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 10),
        )
    )
    ops = _ops(g)
    assert ops == [
        "input",
        "conv.weight",
        "conv.bias",
        "maxpool",
        "conv.weight",
        "conv.bias",
        "add",
        "relu",
        "globalpool",
        "reshape",
        "linear.weight",
        "linear.bias",
        "output",
    ]
    add = ops.index("add")
    assert sorted(s for s, d in g.edges if d == add) == [ops.index("maxpool"), add - 1]
    assert all(s < d for s, d in g.edges)


def test_functional_parameters_and_export_fallback():
    g = trace(_Functional())
    assert [(n.op, n.param) for n in g.nodes[1:3]] == [("linear.weight", "w"), ("linear.bias", "b")]
    with pytest.raises(UnsupportedModelError, match="torch.fx cannot trace.*example_input="):
        trace(_ShapeBranch())
    g = trace(_ShapeBranch(), torch.randn(2, 6))
    assert g.method == "export"
    assert _ops(g) == ["input", "mul", "linear.weight", "linear.bias", "output"]


def test_untraceable_models_and_unsupported_layers_get_clear_errors():
    with pytest.raises(UnsupportedModelError, match="neither torch.fx .* nor torch.export"):
        trace(_DataBranch(), torch.randn(2, 6))
    with pytest.raises(UnsupportedModelError, match=r"layer '1' \(LSTM\).*supported layers"):
        trace(nn.Sequential(nn.Linear(3, 3), nn.LSTM(3, 3)))
    with pytest.raises(UnsupportedModelError, match="layer '0' .*Embedding"):
        GraphHyperNetwork(dim=8).predict(nn.Sequential(nn.Embedding(5, 3)))

    class MatMul(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 3))

        def forward(self, x):
            return x @ self.w

    with pytest.raises(UnsupportedModelError, match="parameter 'w'.*used by 'matmul'"):
        trace(MatMul())
    with pytest.raises(TypeError, match="model must be an nn.Module, got str"):
        trace("mlp")


def test_encoding_is_continuous_and_normalised():
    small = encode(trace(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))))
    wide = encode(trace(nn.Sequential(nn.Linear(4, 1000), nn.ReLU(), nn.Linear(1000, 2))))
    assert torch.equal(small.ops, wide.ops)
    assert not torch.equal(small.shapes[1], wide.shapes[1])  # an unseen width still differs
    has_pred = small.forward.sum(1) > 0
    assert torch.allclose(small.forward.sum(1)[has_pred], torch.ones(int(has_pred.sum())))
    # virtual edges: node 3 hears node 2 (distance 1) twice as loudly as node 1 (distance 2)
    assert torch.isclose(small.forward[3, 2], 2 * small.forward[3, 1])


@pytest.mark.parametrize("decoder", ["lowrank", "tiling", "hybrid"])
def test_every_parameter_gets_a_tensor_of_its_shape(decoder):
    ghn = GraphHyperNetwork(dim=16, decoder=decoder)
    models = [
        MLPSpec((1, 8, 8), 10, (16, 700), "tanh", "batchnorm", 0.1)(),
        CNNSpec(
            (1, 8, 8), 10, (8, 8, 12), (3, 5, 7), ("max", "none", "avg"), (False, True, False), True
        )(),
        nn.Sequential(
            nn.Conv1d(3, 6, 4), nn.GroupNorm(2, 6), nn.SiLU(), nn.Flatten(), nn.Linear(6 * 5, 2)
        ),
        _Functional(),
    ]
    for model in models:
        predicted = ghn.predict(model)
        expected = {n: p.shape for n, p in model.named_parameters()}
        assert {n: t.shape for n, t in predicted.items()} == expected
        assert all(torch.isfinite(t).all() and not t.requires_grad for t in predicted.values())


def test_predicted_weights_have_a_trainable_magnitude():
    ghn = GraphHyperNetwork(dim=16)
    for width in (16, 2048):
        w = ghn.predict(nn.Sequential(nn.Linear(width, 32)))["0.weight"]
        assert float(w.pow(2).mean().sqrt()) == pytest.approx((2 / width) ** 0.5, rel=1e-3)
    norm = ghn.predict(nn.Sequential(nn.LayerNorm(7)))  # 1 + δ and δ, δ small at the start
    assert (norm["0.weight"] - 1).abs().max() < 0.3 and norm["0.bias"].abs().max() < 0.3


def test_apply_loads_the_prediction_and_forward_runs():
    ghn = GraphHyperNetwork(dim=16)
    model = CNNSpec((1, 8, 8), 10, (8, 8), (3, 3), ("max", "none"), (False, True), True)()
    predicted = ghn.predict(model)
    assert ghn.apply(model) is model
    assert all(torch.equal(p, predicted[n]) for n, p in model.named_parameters())
    calibrate_batchnorm(model, torch.rand(50, 1, 8, 8))
    out = model(torch.rand(5, 1, 8, 8))
    assert out.shape == (5, 10) and torch.isfinite(out).all()


def test_calibrate_batchnorm_sets_the_exact_statistics():
    x = torch.randn(300, 3) * 2 + 1
    net = calibrate_batchnorm(nn.Sequential(nn.BatchNorm1d(3)), x)
    assert not net.training and net[0].momentum == 0.1  # momentum restored
    assert torch.allclose(net[0].running_mean, x.mean(0), atol=1e-5)
    assert torch.allclose(net[0].running_var, x.var(0), rtol=1e-4)
    calibrate_batchnorm(net, x, batch_size=64)  # batches of 64, 64, 64, 64, 44
    assert torch.allclose(net[0].running_mean, x.mean(0), atol=1e-5)


def _blobs(n, generator):
    y = torch.randint(0, 2, (n,), generator=generator)
    x = torch.randn(n, 8, generator=generator) * 0.7
    x[:, 0] += 2 * y - 1
    x[:, 1] -= 2 * y - 1
    return x, y


def test_prediction_for_an_unseen_architecture_beats_chance():
    gen = torch.Generator().manual_seed(0)
    x, y = _blobs(512, gen)
    train = [
        MLPSpec((8,), 2, w, a)
        for w, a in (((16,), "relu"), ((32, 32), "gelu"), ((64,), "tanh"), ((16, 64), "relu"))
    ]
    ghn = GraphHyperNetwork(dim=16, rounds=1).fit(train, (x, y), steps=120, batch_size=64)
    assert ghn.history_[-1] < ghn.history_[0]
    xt, yt = _blobs(400, gen)
    for unseen in (MLPSpec((8,), 2, (40, 24), "relu"), MLPSpec((8,), 2, (48,), "gelu")):
        with torch.no_grad():  # widths (and width/activation pairs) never trained
            accuracy = float((ghn.apply(unseen())(xt).argmax(1) == yt).float().mean())
        assert accuracy > 0.8  # chance is 0.5


def test_fit_is_deterministic_and_keeps_the_global_random_state():
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    factories = [MLPSpec((4,), 3, (8,), dropout=0.5)]
    histories = []
    for _ in range(2):
        torch.manual_seed(1)
        ghn = GraphHyperNetwork(dim=8)
        state = torch.get_rng_state()
        ghn.fit(factories, (x, y), steps=4, seed=3)
        assert torch.equal(torch.get_rng_state(), state)
        histories.append(ghn.history_)
    assert histories[0] == histories[1]


def test_save_load_reproduces_predictions(tmp_path):
    ghn = GraphHyperNetwork(dim=16, decoder="tiling", rank=4)
    model = MLPSpec((8,), 3, (40, 20), "gelu", "layernorm")()
    path = tmp_path / "ghn.pt"
    ghn.save(path)
    blob = torch.load(path, weights_only=True)
    assert blob["format"] == "hypernetworks.graph/2"
    loaded = GraphHyperNetwork.load(path)
    assert loaded.config == ghn.config
    a, b = ghn.eval().predict(model), loaded.predict(model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.save({"format": "other"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a graph hypernetwork file.*got 'other'"):
        GraphHyperNetwork.load(tmp_path / "bad.pt")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="decoder must be one of .*got 'mlp'"):
        GraphHyperNetwork(decoder="mlp")
    with pytest.raises(ValueError, match="dim must be a positive int, got 0"):
        GraphHyperNetwork(dim=0)
    ghn = GraphHyperNetwork(dim=8)
    x, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    mlp = [MLPSpec((4,), 2, (8,))]
    with pytest.raises(TypeError, match="data must be a pair"):
        ghn.fit(mlp, x)
    with pytest.raises(ValueError, match="same length, got 10 and 9"):
        ghn.fit(mlp, (x, y[:9]))
    with pytest.raises(TypeError, match="y must hold int64"):
        ghn.fit(mlp, (x, y.float()))
    with pytest.raises(ValueError, match="architectures must not be empty"):
        ghn.fit([], (x, y))
    with pytest.raises(TypeError, match="nn.Module or a function returning one, got int"):
        ghn.fit([3], (x, y))
    with pytest.raises(ValueError, match="steps must be a positive int, got 0"):
        ghn.fit(mlp, (x, y), steps=0)


def test_architecture_space():
    space = ArchitectureSpace((1, 8, 8), 10)
    a, b = space.sample(40, seed=0), space.sample(40, seed=0)
    assert [s.name for s in a] == [s.name for s in b]
    assert len({s.name for s in a}) == 40
    assert not any(
        isinstance(s, MLPSpec) and s.activation == "tanh" and s.norm == "batchnorm"
        for s in space.sample(300, seed=1)
    )
    mlps = [s for s in a if isinstance(s, MLPSpec)]
    assert all(1 <= len(s.widths) <= 6 and all(16 <= w <= 512 for w in s.widths) for s in mlps)
    held = held_out(space, 10, a)
    assert not {s.name for s in held} & {s.name for s in a}
    ood = out_of_distribution((1, 8, 8), 10)
    assert {s.name for s in ood}.isdisjoint(s.name for s in space.sample(300, seed=2))
    for spec in a[:5] + ood:
        assert spec()(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="activation must be one of .*got 'swish'"):
        MLPSpec((4,), 2, (8,), "swish")
    with pytest.raises(ValueError, match="one entry per convolution, got lengths 2, 1"):
        CNNSpec((1, 8, 8), 10, (8, 8), (3,), ("max", "none"), (False, False))
    with pytest.raises(ValueError, match=r"CNNs need input_shape \(channels, height, width\)"):
        ArchitectureSpace((64,), 10)
