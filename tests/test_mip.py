"""Magnitude Invariant Parametrizations: the two properties the MIP paper builds on."""

import itertools
import math

import torch
from torch import nn

from hypernetworks import MIP, Hyperparameters, hypernetize

from .helpers import perturb


def _norm(weights: dict) -> float:
    return math.sqrt(sum(float(v.detach().pow(2).sum()) for v in weights.values()))


def _net():
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))


def test_generated_norm_is_constant_under_mip_and_grows_with_the_input_without():
    net, u = _net(), torch.randn(6)
    scales = [1, 2, 4, 8, 16]
    mip = hypernetize(net, 6, mip=True)
    plain = hypernetize(net, 6, mip=False)
    mip_norms = [_norm(mip.generate(k * u)) for k in scales]
    plain_norms = [_norm(plain.generate(k * u)) for k in scales]
    target_norm = _norm(dict(net.named_parameters()))
    for n in mip_norms:
        assert math.isclose(n, target_norm, rel_tol=1e-6)
    assert all(a < b for a, b in itertools.pairwise(plain_norms))
    assert plain_norms[-1] / plain_norms[0] > 4  # close to proportional: ~7-12x over 16x


def test_encoding_maps_every_hyperparameter_setting_to_the_same_norm():
    hp = {"lr": (1e-4, 1.0, "log"), "dropout": (0.0, 0.5)}
    settings = torch.tensor([[1e-4, 0.0], [1e-2, 0.1], [0.3, 0.5], [1.0, 0.25]])
    encoded = hypernetize(_net(), Hyperparameters(**hp), mip=True).embed(settings)
    assert encoded.shape == (4, 4)
    torch.testing.assert_close(encoded.norm(dim=-1), torch.full((4,), math.sqrt(2)))
    raw = hypernetize(_net(), Hyperparameters(**hp), mip=False).embed(settings)
    assert raw.shape == (4, 2) and raw.norm(dim=-1).std() > 0.3


def test_encoding_keeps_trained_weights_stable_across_the_range():
    """Once Δθ is non-zero, MIP's weights still vary little in norm across γ ∈ [0, 1]."""
    grid = [{"lam": float(g)} for g in torch.linspace(0, 1, 11)]
    model = perturb(hypernetize(_net(), Hyperparameters(lam=(0.0, 1.0)), mip=True))
    norms = torch.tensor([_norm(model.generate(c)) for c in grid])
    assert (norms.max() - norms.min()) / norms.mean() < 0.05


def test_ablations_select_each_part():
    hp = Hyperparameters(lam=(0.0, 1.0))
    encoding_only = hypernetize(_net(), hp, mip=MIP(encoding=True, residual=False))
    assert encoding_only.body[0].in_features == 2
    assert not any(p.requires_grad for p in encoding_only.target.parameters())
    residual_only = hypernetize(
        _net(), Hyperparameters(lam=(0.0, 1.0)), mip=MIP(encoding=False, residual=True)
    )
    assert residual_only.body[0].in_features == 1
    assert all(p.requires_grad for p in residual_only.target.parameters())
    assert hypernetize(_net(), 3, mip=True).mip == MIP()
    assert hypernetize(_net(), 3, mip=False).mip == MIP(encoding=False, residual=False)
