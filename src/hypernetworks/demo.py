"""``hypernetworks demo``: one task-conditioned hypernetwork for five digits tasks.

Each task is scikit-learn's digits with its 10 labels in a fixed random order (task 0
keeps them). The inputs are the same in every task, so only the task id tells which
labelling is asked for: no single set of weights serves every task. A
:class:`~hypernetworks.TaskEmbedding` hypernetwork generates the weights of an MLP
64-64-10 per task. It trains on mixed batches in which every sample carries its own task
id — the vectorized per-sample path — with a Full and a compact Chunked head, and is
compared with five separately trained MLPs (one per task), one shared MLP that sees no
task id, and the Full-head hypernetwork without MIP. Every method sees the same number of
training examples. At the end each task's network is materialized as a plain
``nn.Sequential`` and checked against the hypernetwork.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import runner
from ._conditioners import TaskEmbedding
from ._heads import Chunked
from ._model import hypernetize

__all__ = ["run"]


@dataclass
class _Data:
    x_train: torch.Tensor  # [tasks, n, 64]
    y_train: torch.Tensor  # [tasks, n]
    x_test: torch.Tensor
    y_test: torch.Tensor


def _load(tasks: int, seed: int) -> _Data:
    from .datasets import load_digits
    from .datasets._require import require

    x, y = load_digits()
    split = require("sklearn.model_selection", "scikit-learn", "demo").train_test_split
    train, test = (
        torch.from_numpy(i)
        for i in split(np.arange(len(y)), test_size=0.3, stratify=y.numpy(), random_state=seed)
    )
    rng = np.random.default_rng(seed)
    labels = [torch.arange(10)] + [torch.from_numpy(rng.permutation(10)) for _ in range(tasks - 1)]

    def inputs(rows: torch.Tensor) -> torch.Tensor:  # the same inputs for every task
        return x[rows].unsqueeze(0).expand(tasks, -1, -1).contiguous()

    def targets(rows: torch.Tensor) -> torch.Tensor:
        return torch.stack([lab[y[rows]] for lab in labels])

    return _Data(inputs(train), targets(train), inputs(test), targets(test))


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def _trainable(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)


def _fit(forward, parameters, batches, lr: float, name: str) -> None:
    optimizer = torch.optim.Adam(parameters, lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for step, (inputs, labels) in enumerate(batches):
        optimizer.zero_grad()
        loss = loss_fn(forward(inputs), labels)
        runner.check_finite(loss, step=f"{step} ({name})")
        loss.backward()
        optimizer.step()


def _mixed_batches(data: _Data, epochs: int, batch: int, gen: torch.Generator):
    """Batches of (x, task ids, y) drawn from every task at once."""
    tasks, n = data.x_train.shape[:2]
    for _ in range(epochs):
        order = torch.randperm(tasks * n, generator=gen)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            task, row = idx // n, idx % n
            yield (data.x_train[task, row], task), data.y_train[task, row]


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    runner.add_common_arguments(parser)
    parser.add_argument(
        "--tasks",
        type=runner.positive_int,
        default=5,
        help="number of relabelled tasks, at least 2 (default 5)",
    )
    parser.add_argument(
        "--epochs",
        type=runner.positive_int,
        default=30,
        help="passes over the mixed training data (default 30)",
    )


def main(args: argparse.Namespace) -> int:
    if args.tasks < 2:
        raise SystemExit(f"hypernetworks demo: error: --tasks must be >= 2, got {args.tasks}")
    config = {"tasks": args.tasks, "epochs": args.epochs}
    with runner.Run.from_args("demo", args, config) as active:
        _train(active, tasks=args.tasks, epochs=args.epochs)
    return 0


def run(
    *,
    tasks: int = 5,
    epochs: int = 30,
    seed: int = 0,
    out: str | None = None,
    progress: bool = True,
) -> dict:
    """Train every method, print the results table and return the results as a dict.

    Runs on one CPU thread, seeded with ``seed``; the caller's thread count and random
    state are restored afterwards.
    """
    config = {"tasks": tasks, "epochs": epochs}
    with runner.Run("demo", config, out=out, seed=seed, progress=progress, threads=1) as active:
        return _train(active, tasks=tasks, epochs=epochs)


def _train(active: runner.Run, *, tasks: int, epochs: int) -> dict:
    seed = active.seed
    data = _load(tasks, seed)
    batch, lr = 64, 3e-3
    n = data.x_train.shape[1]
    rows: dict[str, dict] = {}
    bar = iter(active.progress(range(5), desc="training"))

    def record(name: str, params: int, seconds: float, accs: list[float]) -> None:
        rows[name] = {
            "params": params,
            "seconds": round(seconds, 2),
            "accuracy": [round(a, 4) for a in accs],
        }
        next(bar, None)

    # 1. one MLP per task (the per-task reference, at `tasks` times the parameters)
    torch.manual_seed(seed)
    start, nets = time.perf_counter(), []
    for t in range(tasks):
        net, gen = _mlp(), torch.Generator().manual_seed(seed + t)
        # `epochs` passes over the mixed data equal tasks*epochs passes over one task
        per_task = (
            (data.x_train[t, perm], data.y_train[t, perm])
            for _ in range(tasks * epochs)
            for perm in torch.randperm(n, generator=gen).split(batch)
        )
        _fit(net, net.parameters(), per_task, lr, f"separate MLP {t}")
        nets.append(net)
    with torch.no_grad():
        accs = [_accuracy(nets[t](data.x_test[t]), data.y_test[t]) for t in range(tasks)]
    record("separate MLPs", _trainable(*nets), time.perf_counter() - start, accs)

    # 2. one shared MLP that never sees the task id
    torch.manual_seed(seed)
    start, shared = time.perf_counter(), _mlp()
    batches = (
        ((x, _), y)
        for (x, _), y in _mixed_batches(data, epochs, batch, torch.Generator().manual_seed(seed))
    )
    _fit(lambda inputs: shared(inputs[0]), shared.parameters(), batches, lr, "shared MLP")
    with torch.no_grad():
        accs = [_accuracy(shared(data.x_test[t]), data.y_test[t]) for t in range(tasks)]
    record("one shared MLP", _trainable(shared), time.perf_counter() - start, accs)

    # 3-5. the hypernetwork: Full and Chunked heads with MIP, Full without
    models = {}
    variants = (
        ("hypernet, full", "full", True),
        ("hypernet, chunked", Chunked(chunk_size=256, embedding_dim=8, hidden=32), True),
        ("hypernet, full, no MIP", "full", False),
    )
    for name, head, mip in variants:
        torch.manual_seed(seed)
        start = time.perf_counter()
        model = hypernetize(_mlp(), TaskEmbedding(tasks, 16), head=head, hidden=(64,), mip=mip)
        batches = _mixed_batches(data, epochs, batch, torch.Generator().manual_seed(seed))
        _fit(lambda inputs, model=model: model(*inputs), model.parameters(), batches, lr, name)
        model.eval()
        with torch.no_grad():
            accs = [_accuracy(model(data.x_test[t], t), data.y_test[t]) for t in range(tasks)]
        record(name, _trainable(model), time.perf_counter() - start, accs)
        models[name] = model
    next(bar, None)  # finish (and clear) the progress bar

    # The materialized networks are plain nn.Sequential models computing the same thing.
    model = models["hypernet, full"]
    with torch.no_grad():  # compared on every task's test inputs
        gap = max(
            float((model.materialize(t)(data.x_test[t]) - model(data.x_test[t], t)).abs().max())
            for t in range(tasks)
        )
    results = {
        "tasks": tasks,
        "epochs": epochs,
        "seed": seed,
        "methods": rows,
        "materialize_max_abs_diff": gap,
        "test_samples_per_task": data.y_test.shape[1],
    }
    _print_table(results)
    path = active.write_metrics(results)
    if path is not None:
        print(f"wrote {path}")
    return results


def _print_table(results: dict) -> None:
    tasks = results["tasks"]
    print(
        f"\nRelabelled digits, {tasks} tasks, {results['epochs']} epochs over the mixed data, "
        f"seed {results['seed']}; test accuracy (%) on {results['test_samples_per_task']} "
        "samples per task"
    )
    rows = [
        {
            "method": name,
            "params": row["params"],
            "seconds": row["seconds"],
            **{f"t{t}": 100 * a for t, a in enumerate(row["accuracy"])},
            "mean": 100 * float(np.mean(row["accuracy"])),
        }
        for name, row in results["methods"].items()
    ]
    columns = [("method", "method", ""), ("params", "params", ","), ("seconds", "time s", ".1f")]
    columns += [(f"t{t}", f"task {t}", ".1f") for t in range(tasks)] + [("mean", "mean", ".1f")]
    print(runner.format_table(rows, columns))
    print(
        f"\nmaterialize(t)(x) vs model(x, t): max |difference| = "
        f"{results['materialize_max_abs_diff']:.2e} over all tasks"
    )
