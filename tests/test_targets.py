"""The per-sample path equals materialize, on every kind of target the core supports."""

import pytest
import torch
from torch import nn

from hypernetworks import Chunked, LayerWise, LowRank, TaskEmbedding, hypernetize

from .helpers import perturb
from .targets import TARGETS

IDS = torch.tensor([0, 1, 2, 3, 1, 0])
HEADS = {
    "full": "full",
    "chunked": Chunked(16, 4),
    "layerwise": LayerWise(4),
    "lowrank": LowRank(2),
}


def _make(name: str, **kwargs):
    make_target, make_input = TARGETS[name]
    target = make_target()
    model = perturb(hypernetize(target, TaskEmbedding(4, 8), **kwargs))
    return target, model, make_input(len(IDS))


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_per_sample_equals_materialized(name, head):
    _, model, x = _make(name, head=HEADS[head])
    model.eval()
    out = model(x, IDS)
    for i, task in enumerate(IDS.tolist()):
        _close(out[i : i + 1], model.materialize(task)(x[i : i + 1]))
    # The check above is only meaningful if conditions give different outputs.
    assert not torch.allclose(model(x, 0), model(x, 1))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shared_condition_equals_materialized(name):
    _, model, x = _make(name)
    for mode in (True, False):
        model.train(mode)
        net = model.materialize(3)
        assert type(net) is type(TARGETS[name][0]())
        _close(model(x, 3), net(x))


@pytest.mark.parametrize("head", ["full", "lowrank"])
@pytest.mark.parametrize("name", ["batchnorm2d", "gru", "nested"])
def test_per_sample_in_training_mode_equals_materialized(name, head):
    _, model, x = _make(name, head=HEADS[head])
    model.train()
    out = model(x, IDS)
    for i, task in enumerate(IDS.tolist()):
        _close(out[i : i + 1], model.materialize(task).train()(x[i : i + 1]))


def test_batchnorm_running_stats_average_the_per_sample_updates():
    _, model, x = _make("batchnorm2d")
    model.train()
    nets = [model.materialize(t) for t in IDS.tolist()]
    for i, net in enumerate(nets):
        net(x[i : i + 1])
    model(x, IDS)
    bn = model.target[1]
    _close(bn.running_mean, torch.stack([n[1].running_mean for n in nets]).mean(0))
    _close(bn.running_var, torch.stack([n[1].running_var for n in nets]).mean(0))
    assert int(bn.num_batches_tracked) == 1
    # eval mode uses the running statistics and leaves them alone
    model.eval()
    before = bn.running_mean.clone()
    model(x, IDS)
    assert torch.equal(bn.running_mean, before)


def test_batchnorm_weights_can_be_generated_alone():
    """HyperLight crashes when BatchNorm weights are generated; here they are ordinary."""
    target = TARGETS["batchnorm2d"][0]()
    model = perturb(hypernetize(target, TaskEmbedding(4, 8), params=[nn.BatchNorm2d]))
    assert model.generated == ("1.weight", "1.bias")
    x = TARGETS["batchnorm2d"][1](6)
    model.eval()
    _close(model(x, IDS)[2:3], model.materialize(2)(x[2:3]))


def test_batchnorm1d_per_sample_training_error_explains_semantics():
    model = hypernetize(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), TaskEmbedding(2, 4))
    with pytest.raises(ValueError, match="batch of one.*model.eval\\(\\)"):
        model(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))
    model.eval()
    assert model(torch.randn(4, 3), torch.tensor([0, 1, 0, 1])).shape == (4, 4)


def test_target_is_left_untouched():
    target, model, x = _make("nested")
    before = {k: v.clone() for k, v in target.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(x, IDS).pow(2).sum().backward()
    optimizer.step()
    for k, v in target.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.grad is None for p in target.parameters())


def test_at_initialisation_mip_model_computes_the_target():
    """θ₀ starts as the target's weights and Δθ at zero: a pretrained target is preserved."""
    for name in sorted(TARGETS):
        make_target, make_input = TARGETS[name]
        target = make_target().eval()
        model = hypernetize(target, TaskEmbedding(4, 8)).eval()
        x = make_input(6)
        _close(model(x, IDS), target(x))


@pytest.mark.parametrize("head", ["full", "layerwise", "lowrank"])
def test_linear_layers_run_per_sample_without_building_weights(monkeypatch, head):
    """Linear layers apply factored/contracted weights directly: no B×m×n weight sets."""
    from hypernetworks import _batched, _forms

    built = []

    def spy(form, shape):
        if not isinstance(form, torch.Tensor):
            built.append(tuple(shape))
        return _forms.build(form, shape)

    monkeypatch.setattr(_batched, "build", spy)
    _, model, x = _make("nested", head=HEADS[head])
    model(x[:4], torch.arange(4)).sum().backward()  # all conditions differ
    assert built == [] and model.per_sample_path == "batched"
    # A convolution's rule builds the weights, per sample, and is correct.
    _, conv, x = _make("conv2d_groups", head=HEADS[head])
    conv.eval()
    out = conv(x[:4], torch.arange(4))
    assert (8, 2, 3, 3) in built and conv.per_sample_path == "batched"  # Conv2d(4, 8, 3, groups=2)
    torch.testing.assert_close(out[1:2], conv.materialize(1)(x[1:2]), rtol=1e-4, atol=1e-5)
