"""MIP convergence: steps to a training-loss threshold, with and without MIP.

The main claim of "Magnitude Invariant Parametrizations Improve Hypernetwork Learning"
(Ortiz, Guttag & Dalca, ICLR 2024), reproduced small: a hypernetwork conditioned on a
loss weight λ ∈ [0, 1] generates every weight of an MLP 64-64-10 trained on
scikit-learn's digits with

    loss(λ) = cross-entropy + λ · 1e-3 · Σ θ²      (θ: the generated weights)

and λ drawn uniformly every step. Every 10 steps the objective is averaged over
λ ∈ {0, 0.25, 0.5, 0.75, 1} on the whole training set; a run's score is the first step at
which that average falls below the threshold (capped at --max-steps).

Variants: MIP (encoding + residual), plain (neither), encoding only, residual only, and
the plain formulation initialised as HyperLight 0.0.5 initialises its hypernetworks.
Optimizers: Adam (lr 1e-3) and SGD with momentum 0.9 (lr 0.02). Seeds 0, 1, 2.

    python benchmarks/mip_convergence.py [--threshold 0.2] [--max-steps 4000]
"""

from __future__ import annotations

import math
import statistics
import time

import torch
from torch import nn

import hypernetworks as hn
from common import parser, save, setup, table

VARIANTS = {
    "MIP": hn.MIP(encoding=True, residual=True),
    "plain": hn.MIP(encoding=False, residual=False),
    "encoding only": hn.MIP(encoding=True, residual=False),
    "residual only": hn.MIP(encoding=False, residual=True),
    # The plain formulation initialised as HyperLight 0.0.5 does: Kaiming-normal weights
    # (fan-out mode; LeakyReLU gain in the body, linear in the output layer), zero biases.
    "plain, HyperLight init": hn.MIP(encoding=False, residual=False),
}


def _hyperlight_init(model: hn.HyperModel) -> None:
    for layer in model.body:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="leaky_relu")
            nn.init.zeros_(layer.bias)
    nn.init.kaiming_normal_(model.head.out.weight, mode="fan_out", nonlinearity="linear")
    nn.init.zeros_(model.head.out.bias)


OPTIMIZERS = {
    "Adam": lambda params: torch.optim.Adam(params, lr=1e-3),
    "SGD+momentum": lambda params: torch.optim.SGD(params, lr=0.02, momentum=0.9),
}
GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
PENALTY = 1e-3


def _data():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)


def _objective(model, x, y, lam: float) -> torch.Tensor:
    weights = model.generate({"lam": lam})
    penalty = sum(w.pow(2).sum() for w in weights.values())
    logits = model(x, {"lam": lam})
    return nn.functional.cross_entropy(logits, y) + lam * PENALTY * penalty


def run(
    variant: str, optimizer: str, seed: int, x, y, threshold: float, max_steps: int, every: int = 10
) -> dict:
    torch.manual_seed(seed)
    target = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    model = hn.hypernetize(
        target, hn.Hyperparameters(lam=(0.0, 1.0)), hidden=(16, 64), mip=VARIANTS[variant]
    )
    if variant == "plain, HyperLight init":
        _hyperlight_init(model)
    opt = OPTIMIZERS[optimizer](model.parameters())
    gen = torch.Generator().manual_seed(seed)
    curve = []
    reached = None
    for step in range(1, max_steps + 1):
        idx = torch.randint(0, len(x), (128,), generator=gen)
        lam = float(torch.rand((), generator=gen))
        opt.zero_grad()
        _objective(model, x[idx], y[idx], lam).backward()
        opt.step()
        if step % every == 0:
            with torch.no_grad():
                value = statistics.mean(float(_objective(model, x, y, g)) for g in GRID)
            curve.append((step, value))
            if math.isnan(value):  # diverged
                break
            if value < threshold:
                reached = step
                break
    return {"steps": reached, "final": curve[-1][1] if curve else None, "curve": curve}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--threshold", type=float, default=0.2)
    p.add_argument("--max-steps", type=int, default=4000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    info = setup(args)
    x, y = _data()
    rows, runs = [], []
    for optimizer in OPTIMIZERS:
        for name in VARIANTS:
            start, steps = time.perf_counter(), []
            for seed in args.seeds:
                result = run(name, optimizer, seed, x, y, args.threshold, args.max_steps)
                runs.append({"optimizer": optimizer, "variant": name, "seed": seed, **result})
                steps.append(result["steps"])
            reached = [s for s in steps if s is not None]
            rows.append(
                {
                    "optimizer": optimizer,
                    "variant": name,
                    "steps": " / ".join(str(s) if s else f">{args.max_steps}" for s in steps),
                    "median": statistics.median(s or args.max_steps for s in steps),
                    "reached": f"{len(reached)}/{len(steps)}",
                    "seconds": time.perf_counter() - start,
                }
            )
    for row in rows:  # steps relative to plain under the same optimizer (unreached = cap)
        plain = next(
            r for r in rows if r["optimizer"] == row["optimizer"] and r["variant"] == "plain"
        )
        row["vs_plain"] = row["median"] / plain["median"]
    print(
        f"Steps to an average training objective < {args.threshold} (λ grid {GRID}), "
        f"MLP 64-64-10 on digits, seeds {args.seeds}, cap {args.max_steps}:\n"
    )
    print(
        table(
            rows,
            [
                ("optimizer", "optimizer", ""),
                ("variant", "variant", ""),
                ("steps", "steps per seed", ""),
                ("median", "median", ".0f"),
                ("vs_plain", "× plain", ".2f"),
                ("reached", "reached", ""),
                ("seconds", "time s", ".0f"),
            ],
        )
    )
    path = save(
        args.out,
        "mip_convergence",
        {"info": info, "threshold": args.threshold, "rows": rows, "runs": runs},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
