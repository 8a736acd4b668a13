"""A gradient-inversion attack (DLG / iDLG / "Inverting Gradients" style, our own code) on
what one client uploads in one round, for FedAvg and for HyperFL.

The honest-but-curious server sees a client's upload after one local SGD step on one
image, i.e. the gradient of the loss with respect to the *shared* parameters: the whole
model for FedAvg, only the hypernetwork for HyperFL. It then optimises a dummy image so
that its gradient matches the observed one (cosine distance plus a small total-variation
prior, Adam, pixels kept in [0, 1]). The attacker is given the true label (iDLG infers
it for FedAvg anyway), so the comparison isolates what the upload reveals about the
image. For HyperFL the attacker does not know the client's private embedding and
classifier: the *naive* attacker puts the public initialisation in their place, the
*adaptive* one optimises them jointly with the image.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ._hyperfl import HyperFL
from ._protocol import Settings, train_steps

__all__ = ["gradient_inversion", "psnr"]


def psnr(a: Tensor, b: Tensor) -> float:
    """Peak signal-to-noise ratio (dB) of images in [0, 1]."""
    mse = float(((a - b) ** 2).mean())
    return 100.0 if mse == 0 else 10 * math.log10(1.0 / mse)


def _distance(observed: list[Tensor], guess: tuple[Tensor, ...]) -> Tensor:
    dot = torch.stack([(a * b).sum() for a, b in zip(observed, guess, strict=True)]).sum()
    norm_a = torch.stack([(a * a).sum() for a in observed]).sum().sqrt()
    # ε inside the root: a guess whose gradient vanishes (dead ReLUs) must not give NaN
    norm_b = (torch.stack([(b * b).sum() for b in guess]).sum() + 1e-20).sqrt()
    return 1 - dot / (norm_a * norm_b + 1e-12)


def _tv(x: Tensor) -> Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (
        x[..., :, 1:] - x[..., :, :-1]
    ).abs().mean()


def _invert(
    loss_of: object,
    shared: dict[str, Tensor],
    observed: list[Tensor],
    shape: tuple[int, ...],
    lr: float,
    unknowns: list[Tensor],
    steps: int,
    generator: torch.Generator,
    tv: float,
) -> Tensor:
    dummy = torch.rand(shape, generator=generator).requires_grad_(True)
    optimizer = torch.optim.Adam([dummy, *unknowns], lr=lr)
    best, best_value = dummy.detach().clone(), float("inf")
    for _ in range(steps):
        loss = loss_of(shared, dummy)  # type: ignore[operator]
        guess = torch.autograd.grad(loss, list(shared.values()), create_graph=True)
        objective = _distance(observed, guess) + tv * _tv(dummy)
        value = float(objective.detach())
        if not math.isfinite(value):  # the unknowns diverged: keep the best image so far
            break
        if value < best_value:
            best, best_value = dummy.detach().clone(), value
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
        with torch.no_grad():
            dummy.clamp_(0, 1)
        if not all(bool(torch.isfinite(u).all()) for u in unknowns):
            break
    return best


def gradient_inversion(
    target: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    steps: int = 300,
    private_steps: int = 20,
    tv: float = 1e-2,
    lr: float = 0.1,
    seed: int = 0,
    settings: Settings | None = None,
) -> dict[str, object]:
    """Attack FedAvg's and HyperFL's one-image uploads for each image; returns PSNRs.

    Args:
        target: the clients' model (as in :func:`simulate`).
        images: ``[N, C, H, W]`` in [0, 1]; each is attacked alone (batch of one).
        labels: ``[N]`` their labels.
        steps: attack iterations per image.
        private_steps: local steps the HyperFL victim took before the attacked round, so its
            embedding and classifier differ from their public initialisation.
        tv: weight of the total-variation prior.
        seed: seeds the dummies and the victim's private state.
        settings: HyperFL's settings.

    Returns:
        ``{"fedavg_psnr": [...], "hyperfl_psnr": [...], "hyperfl_adaptive_psnr": [...]}``,
        their ``*_mean_psnr`` and the reconstructions ``*_images``. ``hyperfl`` is the
        attacker who uses the public initialisation for the unknown private parts,
        ``hyperfl_adaptive`` the one who optimises them with the image.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hypernetworks.federated import gradient_inversion
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> out = gradient_inversion(net, torch.rand(1, 1, 4, 4), torch.tensor([1]), steps=5)
        >>> len(out["fedavg_psnr"]), len(out["hyperfl_psnr"])
        (1, 1)
    """
    generator = torch.Generator().manual_seed(seed)
    model = copy.deepcopy(target)
    hyperfl = HyperFL(target, 1, settings or Settings(), seed)
    hyper = copy.deepcopy(hyperfl.template)
    classifier = hyperfl.private_names[1:]
    results: dict[str, list] = {
        f"{k}_{v}": []
        for k in ("fedavg", "hyperfl", "hyperfl_adaptive")
        for v in ("psnr", "images")
    }
    for x, y in zip(images, labels, strict=True):
        x, y = x.unsqueeze(0), y.unsqueeze(0)
        # FedAvg: the upload reveals ∇θ L(θ; x, y) for the (public) global model θ.
        shared = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}

        def fedavg_loss(params: dict[str, Tensor], inp: Tensor, label: Tensor = y) -> Tensor:
            return nn.functional.cross_entropy(functional_call(model, params, (inp,)), label)

        observed = [
            g.detach() for g in torch.autograd.grad(fedavg_loss(shared, x), list(shared.values()))
        ]
        guess = _invert(fedavg_loss, shared, observed, tuple(x.shape), lr, [], steps, generator, tv)
        results["fedavg_psnr"].append(psnr(guess, x))
        results["fedavg_images"].append(guess[0])
        # HyperFL: the victim's private embedding and classifier, after some local training.
        victim = copy.deepcopy(hyper)
        embedding = nn.Parameter(torch.randn(hyperfl.settings.embedding_dim, generator=generator))
        train_steps(
            victim,
            x,
            y,
            steps=private_steps,
            batch_size=1,
            lr=0.05,
            generator=generator,
            params=[*victim.parameters(), embedding],
            forward=lambda inp, v=victim, e=embedding: v(inp, e),
        )
        public = {n: p.detach() for n, p in hyper.named_parameters()}
        shared = {n: public[n].clone().requires_grad_(True) for n in hyperfl.shared_names}
        secret = {n: p.detach() for n, p in victim.named_parameters() if n in classifier}
        e_true = embedding.detach()

        def hyperfl_loss(
            params: dict[str, Tensor],
            inp: Tensor,
            private: dict[str, Tensor] = secret,
            e: Tensor = e_true,
            label: Tensor = y,
        ) -> Tensor:
            return nn.functional.cross_entropy(
                functional_call(hyper, {**params, **private}, (inp, e)), label
            )

        observed = [
            g.detach() for g in torch.autograd.grad(hyperfl_loss(shared, x), list(shared.values()))
        ]
        for key, adaptive in (("hyperfl", False), ("hyperfl_adaptive", True)):
            # naive: the public initialisation stands in for the private parts; adaptive: they
            # are optimised jointly with the image
            e_guess = torch.randn(hyperfl.settings.embedding_dim, generator=generator)
            c_guess = {n: public[n].clone() for n in classifier}
            unknowns = [
                e_guess.requires_grad_(True),
                *(c.requires_grad_(True) for c in c_guess.values()),
            ]
            guess = _invert(
                lambda params, inp, c=c_guess, e=e_guess: hyperfl_loss(params, inp, c, e),
                shared,
                observed,
                tuple(x.shape),
                lr,
                unknowns if adaptive else [],
                steps,
                generator,
                tv,
            )
            results[f"{key}_psnr"].append(psnr(guess, x))
            results[f"{key}_images"].append(guess[0])
    means = {
        f"{k}_mean_psnr": sum(results[f"{k}_psnr"]) / len(images)
        for k in ("fedavg", "hyperfl", "hyperfl_adaptive")
    }
    return {**results, **means}
