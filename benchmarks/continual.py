"""Continual-learning benchmarks: every method on permuted and split digits, 5 seeds.

Each row is what ``hypernetworks continual --benchmark B --method M --seed S [options]``
runs (the row's ``cli`` column gives the options); tables give mean ± std over the seeds
(sample std, n - 1). Metrics as in the recipe: mean final accuracy (task id given), mean
forgetting, the trainable-to-target parameter ratio, CPU seconds and, where a method can
answer without the task id, class-incremental accuracy: hnet from predictive entropy
(HNET+ENT) or, with ``--replay m``, from a task classifier trained on m stored samples per
task (stored-sample replay, labelled "+R"; the learner itself never sees them).

Development seeds 100-102 chose the class-incremental setting (replay, 20 samples per
task); the reported seeds are 0-4. Finished (row, seed) pairs are kept in the JSON and
skipped when the script is run again, so an interrupted run continues.

    python benchmarks/continual.py [--seeds 0 1 2 3 4] [--rows NAME ...]
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from common import parser, setup, table
from hypernetworks.continual import hnet_options, permuted_digits, run, split_digits, target_for

COMPRESSIVE = hnet_options("chunked")  # the CLI's --head chunked
# name -> (benchmark, method, options, CLI options)
RUNS: dict[str, tuple[str, str, dict, str]] = {
    "pd-hnet": ("permuted-digits", "hnet", {"iterations": 400}, "(defaults: 400 it/task, β 0.01)"),
    "pd-hnet-compressive": (
        "permuted-digits",
        "hnet",
        {**COMPRESSIVE, "beta": 0.5, "iterations": 1500},
        "--head chunked --beta 0.5 --iterations 1500",
    ),
    "pd-finetune": ("permuted-digits", "finetune", {"iterations": 400}, "(defaults)"),
    "pd-ewc": ("permuted-digits", "ewc", {"iterations": 400}, "(defaults: λ 10)"),
    "pd-joint": ("permuted-digits", "joint", {"iterations": 400}, "(defaults)"),
    "sd-hnet": ("split-digits", "hnet", {}, "(defaults: 200 it/task, HNET+ENT)"),
    "sd-hnet-r": ("split-digits", "hnet", {"replay": 20}, "--replay 20 (HNET+R)"),
    "sd-finetune-r": ("split-digits", "finetune", {"replay": 20}, "--replay 20"),
    "sd-ewc-r": ("split-digits", "ewc", {"replay": 20}, "--replay 20"),
    "sd-joint": ("split-digits", "joint", {}, "(defaults)"),
    "sd-replay-only": (
        "split-digits",
        "replay classifier",
        {"replay": 20},
        "benchmark only: one 10-way MLP, no hypernetwork",
    ),
}
FIELDS = ("accuracy", "forgetting", "class_incremental", "task_inference", "cpu_seconds")


def replay_only(tasks: list, per_task: int, seed: int, iterations: int = 200) -> dict:
    """The replay baseline for class-incremental split digits: one MLP 64-100-100-10
    over all digits, trained after each task on that task's data plus the same number of
    stored samples per earlier task as ``--replay`` (task-balanced batches, Adam 1e-3,
    batch 32)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(64, 100),
            torch.nn.ReLU(),
            torch.nn.Linear(100, 100),
            torch.nn.ReLU(),
            torch.nn.Linear(100, 10),
        )
    memory: list[tuple[torch.Tensor, torch.Tensor]] = []
    for task in tasks:
        pools = [*memory, (task.x_train, task.classes[task.y_train])]
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(iterations):
            owner = torch.randint(0, len(pools), (32,), generator=gen).tolist()
            picks = [int(torch.randint(0, len(pools[t][0]), (1,), generator=gen)) for t in owner]
            xb = torch.stack([pools[t][0][i] for t, i in zip(owner, picks, strict=True)])
            yb = torch.stack([pools[t][1][i] for t, i in zip(owner, picks, strict=True)])
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        keep = torch.randperm(len(task.x_train), generator=gen)[:per_task]
        memory.append((task.x_train[keep], task.classes[task.y_train[keep]]))
    with torch.no_grad():
        x = torch.cat([t.x_test for t in tasks])
        y = torch.cat([t.classes[t.y_test] for t in tasks])
        accuracy = float((net(x).argmax(-1) == y).float().mean())
    return {"class_incremental": {"accuracy": accuracy, "task_inference_accuracy": None}}


def one(name: str, seed: int) -> dict:
    benchmark, method, options, _ = RUNS[name]
    if method == "replay classifier":
        began = time.process_time()
        ci = replay_only(split_digits(5, seed), options["replay"], seed)["class_incremental"]
        return {
            "accuracy": None,
            "forgetting": None,
            "param_ratio": 17_710 / sum(p.numel() for p in target_for(benchmark).parameters()),
            "cpu_seconds": time.process_time() - began,
            "class_incremental": 100 * ci["accuracy"],
            "task_inference": None,
            "accuracy_matrix": None,
        }
    tasks = permuted_digits(10, seed) if benchmark == "permuted-digits" else split_digits(5, seed)
    began = time.process_time()
    result = run(
        tasks, target_for(benchmark, seed=seed), method, progress=False, seed=seed, **options
    )
    ci = result.get("class_incremental", {})
    return {
        "accuracy": 100 * result["mean_accuracy"],
        "forgetting": 100 * result["mean_forgetting"],
        "param_ratio": result["param_ratio"],
        "cpu_seconds": time.process_time() - began,
        "class_incremental": 100 * ci["accuracy"] if ci else None,
        "task_inference": 100 * ci["task_inference_accuracy"] if ci else None,
        "accuracy_matrix": result["accuracy_matrix"],
    }


def spread(values: list) -> str | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--rows", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    p.add_argument("--name", default="continual", help="results file name (default continual)")
    args = p.parse_args()
    info = setup(args)
    path = Path(args.out) / f"{args.name}.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    results: dict[str, dict[str, dict]] = saved.get("runs", {})
    for name in args.rows:
        for seed in args.seeds:
            if str(seed) in results.get(name, {}):
                continue
            results.setdefault(name, {})[str(seed)] = one(name, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"info": info, "runs": results}, indent=1))
            print(f"done: {name} seed {seed}", flush=True)
    rows = []
    for name in args.rows:
        benchmark, method, _, cli = RUNS[name]
        per_seed = [results[name][str(s)] for s in args.seeds]
        row = {"benchmark": benchmark, "method": method, "cli": cli}
        row.update({f: spread([r[f] for r in per_seed]) for f in FIELDS})
        row["param_ratio"] = per_seed[0]["param_ratio"]
        rows.append(row)
    print(
        f"\nContinual learning, MLP 64-100-100-k, Adam 1e-3, batch 32, seeds {args.seeds}, "
        f"mean ± std, {info['threads']} thread(s):\n"
    )
    print(
        table(
            rows,
            [
                ("benchmark", "benchmark", ""),
                ("method", "method", ""),
                ("cli", "options", ""),
                ("accuracy", "mean acc %", ""),
                ("forgetting", "forgetting (points)", ""),
                ("class_incremental", "class-incr. acc %", ""),
                ("task_inference", "task inferred %", ""),
                ("param_ratio", "params / target", ".2f"),
                ("cpu_seconds", "CPU s", ""),
            ],
        )
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
