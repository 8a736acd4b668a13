"""Training-step overhead: plain target vs hypernetized target, ours and the anchors'.

One step = forward, backward and an Adam update, batch 128, for an MLP 64-256-256-10
and LeNet-5 on 28×28 inputs. Each hypernetwork is conditioned on one scalar λ ∈ [0, 1]
drawn every step (one weight set per batch). Ratios are against the plain step of the
same network in the same process.

    python benchmarks/train_step.py [--accuracy] [--repeats 30] [--threads 1]

Anchors (optional; see docs/benchmarks.md to install): HyperLight 0.0.5, hyper-nn 0.2.2,
hypnettorch 0.0.4. A case an anchor cannot run is listed with the reason.

``--accuracy`` also trains the MLP on relabelled digits (5 tasks, the same inputs with
the labels permuted per task; a TaskEmbedding picks the task) for a fixed budget, 3
seeds, to check that the compact heads stay within a point of the Full head.
"""

from __future__ import annotations

import random

import torch
from torch import nn

import hypernetworks as hn
from common import count, parser, save, setup, table, time_interleaved, try_import
from models import TARGETS, mlp

BATCH = 128
# Our heads. "full" uses HyperLight's default generator size (1 -> 16 -> 64 -> P).
HEADS = {
    "full": {"head": "full", "hidden": (16, 64)},
    "chunked": {"head": hn.Chunked(chunk_size=4096, embedding_dim=8, hidden=8), "hidden": (16,)},
    "lowrank": {"head": hn.LowRank(rank=4), "hidden": (16,)},
    "layerwise": {"head": hn.LayerWise(embedding_dim=8, hidden=8), "hidden": (16,)},
}


def _adam_step(params, forward, y):
    optimizer = torch.optim.Adam(params, lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss_fn(forward(), y).backward()
        optimizer.step()

    return step


def ours(make, x, y, config, device):
    model = hn.hypernetize(make(), hn.Hyperparameters(lam=(0.0, 1.0)), **config).to(device)
    draw = random.Random(0).random
    return _adam_step(model.parameters(), lambda: model(x, {"lam": draw()}), y), count(model)


def plain(make, x, y, device):
    net = make().to(device)
    return _adam_step(net.parameters(), lambda: net(x), y), count(net)


def hyperlight_case(make, x, y, device):
    hl, why = try_import("hyperlight")
    if hl is None:
        return None, why
    main = make()
    main = hl.hypernetize(main, modules=hl.find_modules_of_type(main, [nn.Linear, nn.Conv2d]))
    hyper = hl.HyperNet(
        input_shapes={"h": (1,)}, output_shapes=main.external_shapes(), hidden_sizes=[16, 64]
    )
    main, hyper = main.to(device), hyper.to(device)

    def forward():
        with main.using_externals(hyper(h=torch.rand(1, device=device))):
            return main(x)

    return (_adam_step(hyper.parameters(), forward, y), count(hyper)), None


def hypernn_case(make, x, y, device):
    _, why = try_import("hypernn.torch")
    if why:
        return None, why
    from hypernn.torch import TorchLinearHyperNetwork

    hyper = TorchLinearHyperNetwork.from_target(make(), embedding_dim=100, num_embeddings=3)
    hyper = hyper.to(device)
    return (_adam_step(hyper.parameters(), lambda: hyper(x), y), count(hyper)), None


def hypnettorch_cases(name, x, y, device):
    """hypnettorch runs only its own target classes: its MLP matches ours exactly; for
    LeNet its nearest is the 'mnist_small' LeNet (21,840 weights), timed against its own
    plain step."""
    _, why = try_import("hypnettorch.hnets")
    if why:
        return {}, why
    from hypnettorch.hnets import HMLP, ChunkedHMLP
    from hypnettorch.mnets import MLP
    from hypnettorch.mnets.lenet import LeNet

    def target(no_weights):
        if name.startswith("MLP"):
            return MLP(
                n_in=64, n_out=10, hidden_layers=(256, 256), no_weights=no_weights, verbose=False
            )
        return LeNet(
            in_shape=(28, 28, 1),
            num_classes=10,
            arch="mnist_small",
            no_weights=no_weights,
            verbose=False,
        )

    own = target(False).to(device)
    mnet = target(True).to(device)
    shapes = mnet.param_shapes
    full = HMLP(shapes, uncond_in_size=1, cond_in_size=0, layers=(16, 64), verbose=False)
    chunked = ChunkedHMLP(
        shapes,
        chunk_size=4096,
        chunk_emb_size=8,
        uncond_in_size=1,
        cond_in_size=0,
        layers=(16,),
        verbose=False,
    )
    cases = {
        "hypnettorch plain (own net)": (_adam_step(own.parameters(), lambda: own(x), y), count(own))
    }
    for label, hnet in (("hypnettorch HMLP", full), ("hypnettorch ChunkedHMLP", chunked)):
        hnet = hnet.to(device)

        def forward(h=hnet):
            return mnet(x, weights=h(uncond_input=torch.rand(1, 1, device=device)))

        cases[label] = (_adam_step(hnet.parameters(), forward, y), count(hnet))
    return cases, None


def timing(args, info) -> list[dict]:
    rows = []
    for name, (make, inputs) in TARGETS.items():
        torch.manual_seed(0)
        x, y = inputs(BATCH).to(args.device), torch.randint(0, 10, (BATCH,), device=args.device)
        cases, params, notes = {}, {}, {}
        cases["plain"], params["plain"] = plain(make, x, y, args.device)
        for head, config in HEADS.items():
            label = f"hypernetworks {head}"
            cases[label], params[label] = ours(make, x, y, config, args.device)
        for label, build in (
            ("HyperLight (1-16-64-P)", hyperlight_case),
            ("hyper-nn linear chunked", hypernn_case),
        ):
            case, why = build(make, x, y, args.device)
            if case is None:
                notes[label] = why
            else:
                cases[label], params[label] = case
        hyp, why = hypnettorch_cases(name, x, y, args.device)
        if why:
            notes["hypnettorch"] = why
        for label, (step, n) in hyp.items():
            cases[label], params[label] = step, n
        times = time_interleaved(cases, args.repeats, args.device)
        for label, seconds in times.items():
            base = "hypnettorch plain (own net)" if label.startswith("hypnettorch") else "plain"
            rows.append(
                {
                    "target": name,
                    "method": label,
                    "params": params[label],
                    "ms": 1e3 * seconds,
                    "ratio": seconds / times[base],
                }
            )
        for label, why in notes.items():
            rows.append({"target": name, "method": label, "note": f"cannot run: {why}"})
    return rows


def accuracy(args, steps: int = 1500, seeds=(0, 1, 2)) -> list[dict]:
    """Relabelled digits (5 tasks): test accuracy after a fixed budget, per head."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    features, labels = load_digits(return_X_y=True)
    rows = []
    for head, config in {"plain (one MLP per task)": None, **HEADS}.items():
        scores = []
        for seed in seeds:
            x_tr, x_te, y_tr, y_te = train_test_split(
                features / 16.0, labels, test_size=0.3, stratify=labels, random_state=seed
            )
            gen = torch.Generator().manual_seed(seed)
            perms = torch.stack(
                [torch.arange(10)] + [torch.randperm(10, generator=gen) for _ in range(4)]
            )
            x_tr, x_te = (
                torch.tensor(x_tr, dtype=torch.float32),
                torch.tensor(x_te, dtype=torch.float32),
            )
            y_tr, y_te = torch.tensor(y_tr), torch.tensor(y_te)
            torch.manual_seed(seed)
            if config is None:
                nets = [mlp() for _ in range(5)]
                params = [p for n in nets for p in n.parameters()]

                def forward(xb, t, nets=nets):
                    return nets[t](xb)
            else:
                model = hn.hypernetize(mlp(), hn.TaskEmbedding(5, 8), **config)
                params = list(model.parameters())

                def forward(xb, t, model=model):
                    return model(xb, t)

            optimizer = torch.optim.Adam(params, lr=1e-3)
            for _ in range(steps):
                task = int(torch.randint(0, 5, (1,), generator=gen))
                idx = torch.randint(0, len(x_tr), (BATCH,), generator=gen)
                optimizer.zero_grad()
                nn.functional.cross_entropy(
                    forward(x_tr[idx], task), perms[task][y_tr[idx]]
                ).backward()
                optimizer.step()
            with torch.no_grad():
                accs = [
                    float((forward(x_te, t).argmax(-1) == perms[t][y_te]).float().mean())
                    for t in range(5)
                ]
            scores.append(100 * sum(accs) / 5)
        rows.append(
            {
                "head": head,
                "accuracy": sum(scores) / len(scores),
                "per_seed": [round(s, 2) for s in scores],
            }
        )
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--accuracy", action="store_true", help="also run the digits accuracy check")
    args = p.parse_args()
    info = setup(args)
    rows = timing(args, info)
    print(
        f"Training-step overhead ({info['threads']} thread(s), batch {BATCH}, {args.device}, "
        f"median of {args.repeats}):\n"
    )
    print(
        table(
            rows,
            [
                ("target", "target", ""),
                ("method", "method", ""),
                ("params", "trainable params", ","),
                ("ms", "ms/step", ".2f"),
                ("ratio", "× plain", ".2f"),
                ("note", "note", ""),
            ],
        )
    )
    result = {"info": info, "timing": rows}
    if args.accuracy:
        acc = accuracy(args)
        print(
            "\nRelabelled digits, MLP 64-256-256-10, 1500 Adam steps, mean test accuracy (%) "
            "over 5 tasks, 3 seeds:\n"
        )
        print(
            table(
                acc,
                [
                    ("head", "head", ""),
                    ("accuracy", "accuracy %", ".2f"),
                    ("per_seed", "per seed", ""),
                ],
            )
        )
        result["accuracy"] = acc
    name = "train_step" + ("_" + args.device if args.device != "cpu" else "")
    print(f"\nwrote {save(args.out, name, result)}")


if __name__ == "__main__":
    main()
