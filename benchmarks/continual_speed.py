"""Continual learning: our HNet vs hypnettorch's HMLP at the same setting, one process.

Permuted digits (10 tasks), MLP 64-100-100-10, Adam 1e-3, batch 32, 200 iterations per
task, β = 0.01, task embeddings of size 32, hypernetwork hidden layers (100, 100). Each
method learns all tasks; the table gives wall time, mean final accuracy, mean forgetting
and the parameter ratio. hypnettorch has no trainer: its loop below follows its
documented continual-learning recipe (``get_current_targets`` before each task,
``calc_fix_target_reg`` every step, which calls the hypernetwork once per earlier task).

    python benchmarks/continual_speed.py        # needs the bench extra (see docs/benchmarks.md)
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from common import parser, save, setup, table, try_import
from hypernetworks.continual import permuted_digits, run

ITERATIONS, BATCH, LR, BETA, TASKS = 200, 32, 1e-3, 0.01, 10


def ours(tasks, seed: int) -> dict:
    torch.manual_seed(seed)
    target = nn.Sequential(
        nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)
    )
    result = run(
        tasks,
        target,
        "hnet",
        iterations=ITERATIONS,
        batch_size=BATCH,
        lr=LR,
        beta=BETA,
        embedding_dim=32,
        hidden=(100, 100),
        progress=False,
        seed=seed,
        class_incremental=False,
    )
    return {k: result[k] for k in ("seconds", "mean_accuracy", "mean_forgetting", "param_ratio")}


def hypnettorch(tasks, seed: int) -> dict:
    from hypnettorch.hnets import HMLP
    from hypnettorch.mnets import MLP
    from hypnettorch.utils import hnet_regularizer as reg

    torch.manual_seed(seed)
    mnet = MLP(n_in=64, n_out=10, hidden_layers=(100, 100), no_weights=True, verbose=False)
    hnet = HMLP(
        mnet.param_shapes,
        uncond_in_size=0,
        cond_in_size=32,
        layers=(100, 100),
        num_cond_embs=len(tasks),
        verbose=False,
    )
    hnet.apply_hyperfan_init(mnet=mnet)
    matrix, seconds = [], 0.0
    for t, task in enumerate(tasks):
        start = time.perf_counter()
        targets = reg.get_current_targets(t, hnet) if t > 0 else None
        params = list(hnet.internal_params)
        optimizer = torch.optim.Adam(params, lr=LR)
        gen = torch.Generator().manual_seed(seed * 100_003 + t)
        for _ in range(ITERATIONS):
            idx = torch.randint(0, len(task.x_train), (BATCH,), generator=gen)
            optimizer.zero_grad()
            weights = hnet.forward(cond_id=t)
            loss = F.cross_entropy(
                mnet.forward(task.x_train[idx], weights=weights), task.y_train[idx]
            )
            if t > 0:
                loss = loss + BETA * reg.calc_fix_target_reg(hnet, t, targets=targets, mnet=mnet)
            loss.backward()
            optimizer.step()
        seconds += time.perf_counter() - start
        with torch.no_grad():
            matrix.append(
                [
                    float(
                        (
                            mnet.forward(tasks[j].x_test, weights=hnet.forward(cond_id=j)).argmax(
                                -1
                            )
                            == tasks[j].y_test
                        )
                        .float()
                        .mean()
                    )
                    for j in range(t + 1)
                ]
            )
    final = matrix[-1]
    target_size = sum(
        p.numel()
        for p in MLP(n_in=64, n_out=10, hidden_layers=(100, 100), verbose=False).parameters()
    )
    return {
        "seconds": seconds,
        "mean_accuracy": sum(final) / len(final),
        "mean_forgetting": sum(matrix[j][j] - final[j] for j in range(len(final) - 1))
        / (len(final) - 1),
        "param_ratio": sum(p.numel() for p in hnet.internal_params) / target_size,
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    info = setup(args)
    tasks = permuted_digits(TASKS, seed=0)
    rows = [{"method": "hypernetworks HNet", **ours(tasks, 0)}]
    _, why = try_import("hypnettorch.hnets")
    if why:
        rows.append({"method": "hypnettorch HMLP", "note": f"cannot run: {why}"})
    else:
        rows.append({"method": "hypnettorch HMLP", **hypnettorch(tasks, 0)})
    for row in rows:
        if "seconds" in row:
            row["vs_ours"] = row["seconds"] / rows[0]["seconds"]
    print(
        f"Permuted digits, {TASKS} tasks, {ITERATIONS} iterations/task, batch {BATCH}, "
        f"β={BETA}, {info['threads']} thread(s):\n"
    )
    print(
        table(
            rows,
            [
                ("method", "method", ""),
                ("seconds", "time s", ".1f"),
                ("vs_ours", "× ours", ".2f"),
                ("mean_accuracy", "mean accuracy", ".4f"),
                ("mean_forgetting", "forgetting", ".4f"),
                ("param_ratio", "params / target", ".1f"),
                ("note", "note", ""),
            ],
        )
    )
    print(f"\nwrote {save(args.out, 'continual_speed', {'info': info, 'rows': rows})}")


if __name__ == "__main__":
    main()
