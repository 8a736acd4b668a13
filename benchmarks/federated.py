"""Federated benchmarks: every method on MNIST-5k split among clients, over seeds.

The same runs as ``hypernetworks federated --method M --clients 50 --rounds R --seed S``
(pathological partition: 2 classes per client; 20 % of the clients held out as new
clients). Results are merged into benchmarks/results/federated.json, one entry per
(method, seed, configuration), so seeds can be added run by run.

    python benchmarks/federated.py --seeds 0 1 2 --rounds 100
    python benchmarks/federated.py --flower-rounds 5   # Flower simulation vs local timing
    python benchmarks/federated.py --privacy 3         # gradient inversion, FedAvg vs HyperFL
    python benchmarks/federated.py --development       # pFedHN settings on digits (dev set)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from hypernetworks.datasets import load_mnist
from hypernetworks.federated import METHODS, federated_data, gradient_inversion, mnist_cnn, simulate
from hypernetworks.federated._benchmarks import digits_mlp

RESULTS = {"path": Path(__file__).parent / "results" / "federated.json"}


def _load() -> dict:
    path = RESULTS["path"]
    return json.loads(path.read_text()) if path.exists() else {"runs": [], "timing": []}


def _save(data: dict) -> None:
    RESULTS["path"].parent.mkdir(parents=True, exist_ok=True)
    RESULTS["path"].write_text(json.dumps(data, indent=1))


def _add(key: str, entry: dict, same: object = None) -> dict:
    """Re-read the file, replace the entries ``same`` matches, append ``entry``, save."""
    data = _load()
    data.setdefault(key, [])
    data[key] = [r for r in data[key] if not (callable(same) and same(r))] + [entry]
    _save(data)
    return data


def _one(
    method: str,
    seed: int,
    args: argparse.Namespace,
    engine: str = "local",
    rounds: int | None = None,
):
    train, new = federated_data(
        "mnist", args.clients, partition=args.partition, alpha=args.alpha, seed=seed
    )
    torch.manual_seed(seed)
    return simulate(
        train,
        mnist_cnn(),
        method=method,
        rounds=rounds or args.rounds,
        seed=seed,
        engine=engine,
        new_clients=new,
        clients_per_round=args.clients_per_round,
        local_steps=args.local_steps,
        eval_every=args.eval_every,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=sorted(METHODS), choices=sorted(METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--partition", default="pathological", choices=["pathological", "dirichlet"])
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--clients-per-round", type=int, default=10)
    p.add_argument("--local-steps", type=int, default=20)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument(
        "--results", default=str(RESULTS["path"]), help="JSON file the results are merged into"
    )
    p.add_argument(
        "--flower-rounds",
        type=int,
        default=0,
        help="instead: time pFedHN for this many rounds on both engines",
    )
    p.add_argument(
        "--privacy",
        type=int,
        default=0,
        help="instead: attack this many MNIST images (FedAvg vs HyperFL uploads)",
    )
    p.add_argument("--attack-steps", type=int, default=200)
    p.add_argument(
        "--development",
        action="store_true",
        help="instead: the pFedHN settings grid on digits, seeds 0 and 1 (the development set)",
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    RESULTS["path"] = Path(args.results)
    data = _load()
    config = {
        k: getattr(args, k)
        for k in (
            "rounds",
            "clients",
            "partition",
            "alpha",
            "clients_per_round",
            "local_steps",
            "eval_every",
        )
    }
    if args.privacy:
        _privacy(args)
        return
    if args.development:
        _development()
        return
    if args.flower_rounds:
        for engine in ("local", "flower"):
            start = time.perf_counter()
            result = _one("pfedhn", args.seeds[0], args, engine, args.flower_rounds)
            entry = {
                "engine": engine,
                "rounds": args.flower_rounds,
                "clients": args.clients,
                "seconds": time.perf_counter() - start,
                "mean_client_accuracy": result.mean_client_accuracy,
            }
            print(entry, flush=True)
            data = _add("timing", entry)
        return
    for seed in args.seeds:
        for method in args.methods:
            result = _one(method, seed, args)
            entry = {
                "method": method,
                "seed": seed,
                **config,
                "mean_client_accuracy": result.mean_client_accuracy,
                "new_client_accuracy": result.new_client_accuracy,
                "client_accuracies": result.client_accuracies,
                "history": [
                    {"round": h["round"], "mean": h["mean_client_accuracy"]} for h in result.history
                ],
                "seconds": result.seconds,
            }
            data = _add(
                "runs",
                entry,
                lambda r, m=method, s=seed: (
                    r.get("method") == m
                    and r.get("seed") == s
                    and all(r.get(k) == v for k, v in config.items())
                ),
            )
            print(
                f"{method:10s} seed {seed}: mean {result.mean_client_accuracy:.4f}  new "
                f"{result.new_client_accuracy}  {result.seconds:.0f} s",
                flush=True,
            )
    print("\nmethod      mean ± std over seeds (n)")
    for method in args.methods:
        values = [
            r["mean_client_accuracy"]
            for r in data["runs"]
            if r["method"] == method and all(r.get(k) == v for k, v in config.items())
        ]
        if values:
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            print(f"{method:10s}  {statistics.mean(values):.4f} ± {std:.4f} ({len(values)})")


#: The development grid (digits, 50 clients, 10 per round; never MNIST): pFedHN's and
#: pFedHN-PC's server learning rate, then pFedHN's rounds, local steps and size, with the
#: two baselines pFedHN is compared with. Every other setting is the benchmark's default.
DEVELOPMENT: list[tuple[str, dict]] = [
    ("fedavg-ft", {}),
    ("local", {}),
    *[(m, {"server_lr": lr}) for m in ("pfedhn", "pfedhn-pc") for lr in (1e-3, 3e-3, 1e-2)],
    ("pfedhn", {"rounds": 300}),
    ("fedavg-ft", {"rounds": 300}),
    ("pfedhn", {"local_steps": 50}),
    ("pfedhn", {"embedding_dim": 32, "hidden": (200, 200)}),
]


def _development() -> None:
    """Run :data:`DEVELOPMENT` on digits seeds 0 and 1 into federated_development.json."""
    path = RESULTS["path"].parent / "federated_development.json"
    rows = []
    for seed in (0, 1):
        train, new = federated_data("digits", 50, seed=seed)
        for method, overrides in DEVELOPMENT:
            settings = dict(overrides)
            rounds = settings.pop("rounds", 100)
            torch.manual_seed(seed)
            start = time.process_time()
            result = simulate(
                train,
                digits_mlp(),
                method=method,
                rounds=rounds,
                seed=seed,
                new_clients=new,
                clients_per_round=10,
                **settings,
            )
            row = {
                "method": method,
                "seed": seed,
                "rounds": rounds,
                "settings": json.loads(json.dumps(settings)),
                "mean_client_accuracy": result.mean_client_accuracy,
                "cpu_seconds": time.process_time() - start,
            }
            print(row, flush=True)
            rows.append(row)
            data = {"benchmark": "digits", "clients": 50, "runs": rows}
            path.write_text(json.dumps(data, indent=1))


def _privacy(args: argparse.Namespace) -> None:
    """One-image uploads of an MLP 784-100-10 (DLG's setting: the first layer is dense)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = load_mnist()
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(args.seeds[0]))[
        : args.privacy
    ]
    torch.manual_seed(args.seeds[0])
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    start = time.perf_counter()
    out = gradient_inversion(net, x[idx], y[idx], steps=args.attack_steps, seed=args.seeds[0])
    rows = [
        ("original", list(x[idx])),
        ("FedAvg", out["fedavg_images"]),
        ("HyperFL (naive)", out["hyperfl_images"]),
        ("HyperFL (adaptive)", out["hyperfl_adaptive_images"]),
    ]
    fig, axes = plt.subplots(len(rows), len(idx), figsize=(1.6 * len(idx) + 1, 6.4), squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c, image in enumerate(images):
            ax = axes[r][c]
            ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if r:
                ax.set_title(
                    f"{out[['', 'fedavg', 'hyperfl', 'hyperfl_adaptive'][r] + '_psnr'][c]:.1f} dB",
                    fontsize=8,
                )
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    png = RESULTS["path"].parent / "federated_privacy.png"
    fig.savefig(png, dpi=120)
    entry = {k: v for k, v in out.items() if "psnr" in k}
    entry.update(
        images=len(idx),
        attack_steps=args.attack_steps,
        seed=args.seeds[0],
        seconds=time.perf_counter() - start,
        png=png.name,
    )
    print(entry, flush=True)
    _add("privacy", entry)


if __name__ == "__main__":
    main()
