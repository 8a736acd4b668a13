"""Per-sample generated weights: B distinct conditions in one vectorized call.

For an MLP 64-256-256-10 and a small CNN on 8×8 inputs, batch B = 128, forward and
backward (gradients reach the hypernetwork), a TaskEmbedding condition:

* shared      — one task id for the whole batch (one weight set);
* per-sample  — 128 distinct task ids (128 weight sets, vmapped);
* grouped     — 128 samples from 8 task ids (each weight set generated once);
* loop        — a Python loop calling the model on one sample at a time;
* materialize — a Python loop over ``materialize(c_i)`` models, forward and backward.

    python benchmarks/per_sample.py [--repeats 10] [--threads 1]
"""

from __future__ import annotations

import torch
from common import parser, save, setup, table, time_interleaved
from models import mlp, small_cnn
from torch import nn

import hypernetworks as hn

BATCH = 128
TARGETS = {
    "MLP 64-256-256-10": (mlp, lambda b: torch.randn(b, 64)),
    "small CNN 8x8": (small_cnn, lambda b: torch.randn(b, 1, 8, 8)),
}
HEADS = {
    "full": {"head": "full", "hidden": (16, 64)},
    "lowrank": {"head": hn.LowRank(rank=4), "hidden": (16,)},
}


def cases(model: hn.HyperModel, x: torch.Tensor, y: torch.Tensor, device: str) -> dict:
    loss = nn.CrossEntropyLoss()
    distinct = torch.arange(BATCH, device=device)
    grouped = torch.arange(BATCH, device=device) % 8

    def run(c):
        def step():
            model.zero_grad(set_to_none=True)
            loss(model(x, c), y).backward()
        return step

    def loop():
        model.zero_grad(set_to_none=True)
        out = torch.cat([model(x[i : i + 1], i) for i in range(BATCH)])
        loss(out, y).backward()

    def materialized():
        out = []
        for i in range(BATCH):
            out.append(model.materialize(i)(x[i : i + 1]))
        loss(torch.cat(out), y).backward()

    return {"shared": run(0), "per-sample (128 ids)": run(distinct),
            "grouped (8 ids)": run(grouped), "loop over samples": loop,
            "loop over materialize": materialized}


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    info = setup(args)
    rows = []
    for target, (make, inputs) in TARGETS.items():
        for head, config in HEADS.items():
            torch.manual_seed(0)
            model = hn.hypernetize(make(), hn.TaskEmbedding(BATCH, 8), **config).to(args.device)
            x, y = inputs(BATCH).to(args.device), torch.randint(0, 10, (BATCH,), device=args.device)
            times = time_interleaved(cases(model, x, y, args.device), args.repeats, args.device,
                                     warmup=2)
            for name, seconds in times.items():
                rows.append({"target": target, "head": head, "case": name, "ms": 1e3 * seconds,
                             "vs_shared": seconds / times["shared"],
                             "speedup_of_per_sample": seconds / times["per-sample (128 ids)"]})
    print(f"Per-sample weights ({info['threads']} thread(s), B={BATCH}, forward+backward, "
          f"{args.device}, median of {args.repeats}):\n")
    print(table(rows, [("target", "target", ""), ("head", "head", ""), ("case", "case", ""),
                       ("ms", "ms", ".2f"), ("vs_shared", "× shared", ".2f"),
                       ("speedup_of_per_sample", "× per-sample", ".1f")]))
    suffix = "" if args.device == "cpu" else "_" + args.device
    print(f"\nwrote {save(args.out, 'per_sample' + suffix, {'info': info, 'rows': rows})}")


if __name__ == "__main__":
    main()
