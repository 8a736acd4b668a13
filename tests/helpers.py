"""Shared test helpers."""

from __future__ import annotations

import torch

from hypernetworks import HyperModel


def perturb(model: HyperModel, scale: float = 0.05) -> HyperModel:
    """Move every hypernetwork parameter off its initial value, as training would.

    Under MIP the layers that emit Δθ start at zero, so every condition generates the same
    weights; a test of per-sample indexing would then pass whatever the indexing did.
    """
    with torch.no_grad():
        for module in (model.conditioner, model.body, model.head):
            for p in module.parameters():
                p.add_(torch.randn_like(p) * scale)
    return model
