"""dtype: under autocast and after ``.to(dtype)`` every head and path gives the plain dtypes."""

import pytest
import torch
from torch import nn

from hypernetworks import Chunked, LayerWise, LowRank, TaskEmbedding, hypernetize

from .helpers import perturb
from .targets import TARGETS

HEADS = {
    "full": "full",
    "chunked": Chunked(16, 4),
    "layerwise": LayerWise(4),
    "lowrank": LowRank(2),
}
NAMES = ["nested", "batchnorm2d", "embedding", "multihead_attention"]
CONDITIONS = {
    "shared": 1,
    "distinct": torch.tensor([0, 1, 2, 3]),
    "grouped": torch.tensor([0, 1, 1, 0]),
}


def _pair(name, head):
    make_target, make_input = TARGETS[name]
    target = make_target()
    model = perturb(hypernetize(target, TaskEmbedding(4, 8), head=HEADS[head]))
    return target, model, make_input(4)


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("name", NAMES)
def test_autocast_bf16_gives_the_plain_dtype(name, head, grad):
    target, model, x = _pair(name, head)
    target.eval(), model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.set_grad_enabled(grad):
        expected = target(x).dtype
        for key, c in CONDITIONS.items():
            out = model(x, c)
            assert out.dtype == expected, (key, out.dtype, expected)
            assert torch.isfinite(out.float()).all()
        generated = model.generate(1)
    for name_, value in generated.items():  # generated weights keep the parameters' dtype
        assert value.dtype == torch.float32, name_


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("name", NAMES)
def test_to_bf16_gives_the_plain_dtype(name, head):
    target, model, x = _pair(name, head)
    target, model = target.to(torch.bfloat16).eval(), model.to(torch.bfloat16).eval()
    if x.is_floating_point():
        x = x.to(torch.bfloat16)
    expected = target(x).dtype
    for key, c in CONDITIONS.items():
        assert model(x, c).dtype == expected, key
    with torch.no_grad():
        assert model(x, 1).dtype == expected
        assert model.materialize(2)(x).dtype == expected


def test_full_head_in_bf16_adds_theta0_in_the_parameters_dtype():
    """A bf16 head output with fp32 θ₀ (autocast, no grad) gives fp32 weights, not bf16."""
    target = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    model = perturb(hypernetize(target, TaskEmbedding(4, 8)))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        weights = model.generate(torch.tensor([0, 1]))
    plain = model.generate(torch.tensor([0, 1]))
    for name, value in weights.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, plain[name], rtol=2e-2, atol=2e-2)
