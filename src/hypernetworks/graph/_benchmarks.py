"""The graph recipe's benchmarks: train a GHN on sampled architectures, then score held-out
and out-of-distribution ones zero-shot, after 10 and 100 fine-tuning steps from the
prediction and from a random start, and trained from scratch.

Protocol (both data sets): a seeded train/test split; the GHN trains on the training images
only; every accuracy is on the test images. BatchNorm statistics are recomputed from 1,000
training images before every evaluation (predicted or randomly initialised networks have
none). Fine-tuning and training from scratch use Adam (lr 1e-3, batch 128) for both
starts; the random start's run continues to ``scratch_steps`` to give the trained accuracy.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..datasets import load_digits, load_mnist
from ._calibrate import calibrate_batchnorm
from ._ghn import GraphHyperNetwork
from ._space import ArchitectureSpace, MLPSpec, Spec, held_out, out_of_distribution

__all__ = ["BENCHMARKS", "CURVE_STEPS", "evaluate_architecture", "graph_benchmark"]

CURVE_STEPS = (0, 10, 30, 100)
Data = tuple[Tensor, Tensor]

# name -> (loader, training images, GHN steps, pool, held-out MLPs/CNNs, scratch steps)
_SIZES: dict[str, dict[str, Any]] = {
    "digits": {  # 3,000 steps chosen on seed 0 (1,500 before): ~3 CPU-minutes
        "train": 1200,
        "steps": 3000,
        "architectures": 200,
        "held_out": 12,
        "scratch_steps": 1000,
    },
    "mnist": {  # 3,000 steps as on digits: ~7 CPU-minutes of GHN training, ~5 of evaluation
        "train": 4000,
        "steps": 3000,
        "architectures": 200,
        "held_out": 6,
        "scratch_steps": 300,
    },
}


def _load(name: str, seed: int) -> tuple[Data, Data]:
    x, y = load_digits(images=True) if name == "digits" else load_mnist()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n = _SIZES[name]["train"]
    return (x[order[:n]], y[order[:n]]), (x[order[n:]], y[order[n:]])


def _accuracy(model: nn.Module, train: Data, test: Data) -> float:
    model = calibrate_batchnorm(model, train[0][:1000])
    with torch.no_grad():
        correct = sum(
            int((model(x).argmax(1) == y).sum())
            for x, y in zip(test[0].split(500), test[1].split(500), strict=True)
        )
    model.train()
    return correct / len(test[0])


def _train(
    model: nn.Module,
    train: Data,
    test: Data,
    steps: int,
    gen: torch.Generator,
    record: tuple[int, ...],
) -> dict[int, float]:
    """Adam (lr 1e-3, batch 128) for ``steps`` steps; test accuracy at each ``record`` step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    curve = {0: _accuracy(model, train, test)} if 0 in record else {}
    model.train()
    for step in range(1, steps + 1):
        batch = torch.randint(0, len(train[0]), (128,), generator=gen)
        loss = F.cross_entropy(model(train[0][batch]), train[1][batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step in record:
            curve[step] = _accuracy(model, train, test)
    return curve


def evaluate_architecture(
    ghn: GraphHyperNetwork, spec: Spec, train: Data, test: Data, *, scratch_steps: int, seed: int
) -> dict[str, Any]:
    """One benchmark row: zero-shot, fine-tuning from both starts, trained from scratch.

    Example:
        >>> from hypernetworks.graph import GraphHyperNetwork, MLPSpec
        >>> x, y = torch.rand(300, 6), torch.randint(0, 3, (300,))
        >>> row = evaluate_architecture(GraphHyperNetwork(dim=8), MLPSpec((6,), 3, (8,)),
        ...                             (x, y), (x, y), scratch_steps=100, seed=0)
        >>> sorted(row["finetune"])
        ['predicted', 'random']
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random_start = spec()
        predicted = copy.deepcopy(random_start)
        start, cpu = time.perf_counter(), time.process_time()
        ghn.apply(predicted)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
        from_prediction = _train(
            predicted,
            train,
            test,
            max(CURVE_STEPS),
            torch.Generator().manual_seed(seed),
            CURVE_STEPS,
        )
        record = (*CURVE_STEPS, scratch_steps)
        from_random = _train(
            random_start,
            train,
            test,
            max(scratch_steps, *CURVE_STEPS),
            torch.Generator().manual_seed(seed),
            record,
        )
    trained = from_random[scratch_steps]
    return {
        "architecture": spec.name,
        "kind": _kind(spec),
        "parameters": sum(p.numel() for p in random_start.parameters()),
        "zero_shot_accuracy": from_prediction[0],
        "trained_accuracy": trained,
        "zero_shot_ratio": from_prediction[0] / max(trained, 1e-12),
        "finetune": {
            "predicted": {str(s): from_prediction[s] for s in CURVE_STEPS},
            "random": {str(s): from_random[s] for s in CURVE_STEPS},
        },
        "prediction_seconds": seconds,
        "prediction_cpu_seconds": cpu_seconds,
    }


def _kind(spec: Spec) -> str:
    return "mlp" if isinstance(spec, MLPSpec) else "cnn"


def _mean(values: list[float]) -> float:
    return sum(values) / max(len(values), 1)


def _beats(rows: list[dict[str, Any]], step: str) -> float:
    """The share of rows where the predicted start is ahead of the random one at ``step``."""
    return _mean(
        [float(r["finetune"]["predicted"][step] > r["finetune"]["random"][step]) for r in rows]
    )


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups = {
        "held_out_mlp": [r for r in rows if r["split"] == "held_out" and r["kind"] == "mlp"],
        "held_out_cnn": [r for r in rows if r["split"] == "held_out" and r["kind"] == "cnn"],
        "out_of_distribution": [r for r in rows if r["split"] == "out_of_distribution"],
    }
    for name, subset in groups.items():
        if not subset:
            continue
        summary: dict[str, Any] = {"count": len(subset)}
        for key in ("zero_shot_accuracy", "trained_accuracy", "zero_shot_ratio"):
            summary[key] = _mean([r[key] for r in subset])
        for start in ("predicted", "random"):
            for step in ("10", "100"):
                summary[f"{start}_{step}"] = _mean([r["finetune"][start][step] for r in subset])
        for step in ("10", "100"):
            summary[f"beats_random_at_{step}"] = _beats(subset, step)
        out[name] = summary
    held = groups["held_out_mlp"] + groups["held_out_cnn"]
    out["held_out"] = {f"beats_random_at_{s}": _beats(held, s) for s in ("10", "100")}
    out["prediction_seconds_mean"] = _mean([r["prediction_seconds"] for r in rows])
    out["prediction_cpu_seconds_mean"] = _mean([r["prediction_cpu_seconds"] for r in rows])
    return out


def graph_benchmark(
    name: str,
    *,
    seed: int = 0,
    steps: int | None = None,
    architectures: int | None = None,
    held_out_count: int | None = None,
    scratch_steps: int | None = None,
    decoder: str = "lowrank",
    kinds: tuple[str, ...] = ("mlp", "cnn"),
    progress: Callable[..., Any] | None = None,
) -> tuple[dict[str, Any], GraphHyperNetwork]:
    """Run the ``digits`` or ``mnist`` benchmark; returns ``(metrics, trained GHN)``.

    Args:
        name: ``"digits"`` or ``"mnist"``.
        seed: split, architecture sample, GHN initialisation and training.
        steps / architectures / held_out_count / scratch_steps: sizes (defaults per data set,
            chosen on seed 0).
        decoder: ``"lowrank"`` or ``"tiling"``.
        kinds: architecture families, ``("mlp", "cnn")`` or one of them (CNNs dominate the
            cost on MNIST).
        progress: wraps iterables (``run.progress``); None for no bars.

    Raises:
        ValueError: ``name`` is not a benchmark.
    """
    if name not in _SIZES:
        raise ValueError(f"benchmark must be one of {sorted(_SIZES)}, got {name!r}")
    size = dict(_SIZES[name])
    for key, value in (
        ("steps", steps),
        ("architectures", architectures),
        ("held_out", held_out_count),
        ("scratch_steps", scratch_steps),
    ):
        if value is not None:
            size[key] = value
    wrap = progress or (lambda it, **_: it)
    train, test = _load(name, seed)
    shape, classes = tuple(train[0].shape[1:]), 10
    space = ArchitectureSpace(shape, classes, kinds=kinds)
    pool = space.sample(size["architectures"], seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ghn = GraphHyperNetwork(decoder=decoder)
    start, cpu = time.perf_counter(), time.process_time()
    ghn.fit(
        pool,
        train,
        steps=size["steps"],
        seed=seed,
        progress=lambda it: wrap(it, total=size["steps"], desc="train GHN"),
    )
    fit_seconds = time.perf_counter() - start
    fit_cpu_seconds = time.process_time() - cpu
    n_cnn = size["held_out"] // 3 if "cnn" in kinds else 0
    held = (
        held_out(
            ArchitectureSpace(shape, classes, kinds=("mlp",)),
            size["held_out"] - n_cnn,
            pool,
            seed=seed + 1000,
        )
        if "mlp" in kinds
        else []
    )
    if n_cnn:
        cnns = ArchitectureSpace(shape, classes, kinds=("cnn",))
        held += held_out(cnns, n_cnn, pool, seed=seed + 2000)
    ood = [s for s in out_of_distribution(shape, classes) if _kind(s) in kinds]
    specs = [(s, "held_out") for s in held] + [(s, "out_of_distribution") for s in ood]
    rows, cpu = [], time.process_time()
    for i, (spec, split) in enumerate(wrap(specs, total=len(specs), desc="evaluate")):
        row = evaluate_architecture(
            ghn, spec, train, test, scratch_steps=size["scratch_steps"], seed=seed * 1000 + i
        )
        rows.append({"split": split, **row})
    metrics = {
        "benchmark": name,
        "sizes": size,
        "results": rows,
        "means": _summary(rows),
        "ghn_fit_seconds": fit_seconds,
        "ghn_fit_cpu_seconds": fit_cpu_seconds,
        "evaluation_cpu_seconds": time.process_time() - cpu,
        "ghn_parameters": sum(p.numel() for p in ghn.parameters()),
        "ghn_final_loss": sum(ghn.history_[-50:]) / len(ghn.history_[-50:]),
    }
    return metrics, ghn


def digits(**kwargs: Any) -> tuple[dict[str, Any], GraphHyperNetwork]:
    """The digits benchmark (8×8 images, 1,200 train / 597 test)."""
    return graph_benchmark("digits", **kwargs)


def mnist(**kwargs: Any) -> tuple[dict[str, Any], GraphHyperNetwork]:
    """The MNIST-5k benchmark (28×28 images, 4,000 train / 1,000 test)."""
    return graph_benchmark("mnist", **kwargs)


BENCHMARKS: dict[str, Callable[..., tuple[dict[str, Any], GraphHyperNetwork]]] = {
    "digits": digits,
    "mnist": mnist,
}
