"""The graph recipe's benchmarks: train a GHN on sampled architectures, then score held-out
and out-of-distribution ones zero-shot, after 10 and 100 fine-tuning steps from the
prediction and from a random start, and trained from scratch.

Protocol (both data sets): a seeded train/test split; the GHN trains on the training images
only; every accuracy is on the test images. BatchNorm statistics are recomputed from 1,000
training images before every evaluation (predicted or randomly initialised networks have
none). Fine-tuning and training from scratch use Adam (lr 1e-3, batch 128) for both
starts. The trained accuracy comes from a separate run from the random start's
initialisation, trained until its validation accuracy (an eighth of the training images
held out) stops improving, capped at ``scratch_steps`` (see :func:`train_reference`).
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
from ._decoders import DEFAULT_DECODER
from ._ghn import GraphHyperNetwork
from ._reference import accuracy, train_reference
from ._space import ArchitectureSpace, MLPSpec, Spec, held_out, out_of_distribution

__all__ = [
    "BENCHMARKS",
    "CURVE_STEPS",
    "evaluate_architecture",
    "graph_benchmark",
    "reference_rows",
]

CURVE_STEPS = (0, 10, 30, 100)
_EXTRA = ("blended", "rescaled")  # optional fine-tuning starts besides predicted and random
Data = tuple[Tensor, Tensor]

# name -> (loader, training images, GHN steps, pool, held-out MLPs/CNNs, scratch steps)
_SIZES: dict[str, dict[str, Any]] = {
    "digits": {  # 3,000 steps chosen on seed 0 (1,500 before): ~3 CPU-minutes
        "train": 1200,
        "steps": 3000,
        "architectures": 200,
        "held_out": 12,
        "scratch_steps": 3000,
    },
    "mnist": {  # 3,000 steps as on digits: ~7 CPU-minutes of GHN training
        "train": 4000,
        "steps": 3000,
        "architectures": 200,
        "held_out": 6,
        "scratch_steps": 3000,
    },
}


def _load(name: str, seed: int) -> tuple[Data, Data]:
    x, y = load_digits(images=True) if name == "digits" else load_mnist()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n = _SIZES[name]["train"]
    return (x[order[:n]], y[order[:n]]), (x[order[n:]], y[order[n:]])


def _accuracy(model: nn.Module, train: Data, test: Data) -> float:
    return accuracy(model, train[0][:1000], test)


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
    ghn: GraphHyperNetwork,
    spec: Spec,
    train: Data,
    test: Data,
    *,
    scratch_steps: int,
    seed: int,
    reference: dict[str, Any] | None = None,
    blend: float = 0.0,
    rescale: bool = False,
) -> dict[str, Any]:
    """One benchmark row: zero-shot, fine-tuning from both starts, trained from scratch.

    Args:
        ghn: the trained graph hypernetwork.
        spec: the architecture (a factory).
        train / test: the data.
        scratch_steps: the cap of the from-scratch reference (early stopping on validation
            accuracy, see :func:`train_reference`).
        seed: the initialisation and batch order of this row.
        reference: a row of :func:`reference_rows` for this architecture and seed, reused
            instead of training the reference again.
        blend: when positive, a third start, ``"blended"``: the prediction loaded with
            ``ghn.apply(..., blend=blend)`` (shrink-and-perturb towards the random start),
            fine-tuned with the same batches.
        rescale: a further start, ``"rescaled"``: ``ghn.apply(..., rescale=True)``, the
            prediction with its weights at the random start's scale (same function).

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
        starts = [("predicted", predicted), ("random", random_start)]
        if blend:
            blended = ghn.apply(copy.deepcopy(random_start), blend=blend)
            starts.append(("blended", blended))
        if rescale:
            rescaled = ghn.apply(copy.deepcopy(random_start), rescale=True)
            starts.append(("rescaled", rescaled))
        curves = {}
        for name, model in starts:
            gen = torch.Generator().manual_seed(seed)
            curves[name] = _train(model, train, test, max(CURVE_STEPS), gen, CURVE_STEPS)
    if reference is None:
        reference = _reference(spec, train, test, scratch_steps, seed)
    trained = reference["trained_accuracy"]
    return {
        "architecture": spec.name,
        "kind": _kind(spec),
        "parameters": sum(p.numel() for p in random_start.parameters()),
        "zero_shot_accuracy": curves["predicted"][0],
        **{k: v for k, v in reference.items() if k.startswith("trained")},
        "zero_shot_ratio": curves["predicted"][0] / max(trained, 1e-12),
        "finetune": {k: {str(s): c[s] for s in CURVE_STEPS} for k, c in curves.items()},
        "prediction_seconds": seconds,
        "prediction_cpu_seconds": cpu_seconds,
    }


def _reference(spec: Spec, train: Data, test: Data, max_steps: int, seed: int) -> dict[str, Any]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec()  # the random start's initialisation
    row = train_reference(model, train, test, max_steps=max_steps, seed=seed)
    return {"architecture": spec.name, "seed": seed, "max_steps": max_steps, **row}


def _kind(spec: Spec) -> str:
    return "mlp" if isinstance(spec, MLPSpec) else "cnn"


def _mean(values: list[float]) -> float:
    return sum(values) / max(len(values), 1)


def _beats(rows: list[dict[str, Any]], step: str, start: str = "predicted") -> float:
    """The share of rows where ``start`` is ahead of the random start at ``step``."""
    return _mean([float(r["finetune"][start][step] > r["finetune"]["random"][step]) for r in rows])


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
        if all("trained_steps" in r for r in subset):  # the reference's convergence
            summary["trained_steps"] = _mean([float(r["trained_steps"]) for r in subset])
            summary["trained_capped"] = _mean([float(r["trained_capped"]) for r in subset])
        extra = [s for s in _EXTRA if all(s in r["finetune"] for r in subset)]
        for start in ["predicted", "random", *extra]:
            for step in ("10", "100"):
                summary[f"{start}_{step}"] = _mean([r["finetune"][start][step] for r in subset])
        for step in ("10", "100"):
            summary[f"beats_random_at_{step}"] = _beats(subset, step)
            for start in extra:
                summary[f"{start}_beats_random_at_{step}"] = _beats(subset, step, start)
        out[name] = summary
    held = groups["held_out_mlp"] + groups["held_out_cnn"]
    out["held_out"] = {f"beats_random_at_{s}": _beats(held, s) for s in ("10", "100")}
    for start in _EXTRA:
        if held and all(start in r["finetune"] for r in held):
            for s in ("10", "100"):
                out["held_out"][f"{start}_beats_random_at_{s}"] = _beats(held, s, start)
    out["prediction_seconds_mean"] = _mean([r["prediction_seconds"] for r in rows])
    out["prediction_cpu_seconds_mean"] = _mean([r["prediction_cpu_seconds"] for r in rows])
    return out


def _sizes(name: str, **overrides: int | None) -> dict[str, Any]:
    if name not in _SIZES:
        raise ValueError(f"benchmark must be one of {sorted(_SIZES)}, got {name!r}")
    size = dict(_SIZES[name])
    size.update({k: v for k, v in overrides.items() if v is not None})
    return size


def _specs(
    size: dict[str, Any], shape: tuple[int, ...], pool: list[Spec], seed: int, kinds: tuple
) -> list[tuple[Spec, str]]:
    """The evaluated architectures: held-out (two thirds MLPs) then out-of-distribution."""
    classes = 10
    n_cnn = size["held_out"] // 3 if "cnn" in kinds else 0
    held: list[Spec] = []
    if "mlp" in kinds:
        mlps = ArchitectureSpace(shape, classes, kinds=("mlp",))
        held += held_out(mlps, size["held_out"] - n_cnn, pool, seed=seed + 1000)
    if n_cnn:
        cnns = ArchitectureSpace(shape, classes, kinds=("cnn",))
        held += held_out(cnns, n_cnn, pool, seed=seed + 2000)
    ood = [s for s in out_of_distribution(shape, classes) if _kind(s) in kinds]
    return [(s, "held_out") for s in held] + [(s, "out_of_distribution") for s in ood]


def _setup(
    name: str, seed: int, size: dict[str, Any], kinds: tuple[str, ...]
) -> tuple[Data, Data, list[Spec], list[tuple[Spec, str]]]:
    train, test = _load(name, seed)
    shape = tuple(train[0].shape[1:])
    pool = ArchitectureSpace(shape, 10, kinds=kinds).sample(size["architectures"], seed=seed)
    return train, test, pool, _specs(size, shape, pool, seed, kinds)


def reference_rows(
    name: str,
    *,
    seed: int = 0,
    architectures: int | None = None,
    held_out_count: int | None = None,
    scratch_steps: int | None = None,
    kinds: tuple[str, ...] = ("mlp", "cnn"),
    progress: Callable[..., Any] | None = None,
    known: list[dict[str, Any]] | None = None,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
) -> list[dict[str, Any]]:
    """The from-scratch references of a benchmark's evaluated architectures, alone.

    They do not depend on the GHN, so they can be trained once and passed to
    :func:`graph_benchmark` (``references=``) by runs that vary the GHN. Same arguments as
    :func:`graph_benchmark`; each row holds ``architecture``, ``seed``, ``max_steps`` and
    the ``trained_*`` fields of :func:`train_reference`.

    ``known`` rows (same architecture, row seed and cap) are reused, not trained again, so
    an interrupted run resumes; ``on_row`` is called with every row as it is ready.
    """
    size = _sizes(
        name, architectures=architectures, held_out=held_out_count, scratch_steps=scratch_steps
    )
    train, test, _, specs = _setup(name, seed, size, kinds)
    wrap = progress or (lambda it, **_: it)
    reuse = {(r["architecture"], r["seed"], r["max_steps"]): r for r in known or []}
    rows = []
    for i, (spec, _) in enumerate(wrap(specs, total=len(specs), desc="references")):
        key = (spec.name, seed * 1000 + i, size["scratch_steps"])
        row = reuse.get(key) or _reference(spec, train, test, key[2], key[1])
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def graph_benchmark(
    name: str,
    *,
    seed: int = 0,
    steps: int | None = None,
    architectures: int | None = None,
    held_out_count: int | None = None,
    scratch_steps: int | None = None,
    decoder: str = DEFAULT_DECODER,
    kinds: tuple[str, ...] = ("mlp", "cnn"),
    progress: Callable[..., Any] | None = None,
    references: list[dict[str, Any]] | None = None,
    ghn_options: dict[str, Any] | None = None,
    blend: float = 0.0,
    rescale: bool = False,
) -> tuple[dict[str, Any], GraphHyperNetwork]:
    """Run the ``digits`` or ``mnist`` benchmark; returns ``(metrics, trained GHN)``.

    Args:
        name: ``"digits"`` or ``"mnist"``.
        seed: split, architecture sample, GHN initialisation and training.
        steps / architectures / held_out_count: sizes (defaults per data set, chosen on
            seed 0 of digits).
        scratch_steps: the cap of the from-scratch reference, trained until its validation
            accuracy stops improving (default 3,000).
        decoder: ``"hybrid"`` (default), ``"lowrank"`` or ``"tiling"``.
        kinds: architecture families, ``("mlp", "cnn")`` or one of them (CNNs dominate the
            cost on MNIST).
        progress: wraps iterables (``run.progress``); None for no bars.
        references: rows of :func:`reference_rows` (same benchmark, seed and sizes) to reuse;
            an architecture without a matching row is trained here.
        ghn_options: extra keyword arguments of :class:`GraphHyperNetwork`.
        blend / rescale: also fine-tune from the blended / rescaled start (see
            :func:`evaluate_architecture`).

    Raises:
        ValueError: ``name`` is not a benchmark.
    """
    size = _sizes(
        name,
        steps=steps,
        architectures=architectures,
        held_out=held_out_count,
        scratch_steps=scratch_steps,
    )
    wrap = progress or (lambda it, **_: it)
    train, test, pool, specs = _setup(name, seed, size, kinds)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ghn = GraphHyperNetwork(decoder=decoder, **(ghn_options or {}))
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
    known = {(r["architecture"], r["seed"], r["max_steps"]): r for r in references or []}
    rows, cpu = [], time.process_time()
    for i, (spec, split) in enumerate(wrap(specs, total=len(specs), desc="evaluate")):
        row_seed = seed * 1000 + i
        row = evaluate_architecture(
            ghn,
            spec,
            train,
            test,
            scratch_steps=size["scratch_steps"],
            seed=row_seed,
            reference=known.get((spec.name, row_seed, size["scratch_steps"])),
            blend=blend,
            rescale=rescale,
        )
        rows.append({"split": split, **row})
    metrics = {
        "benchmark": name,
        "sizes": size,
        "ghn_config": dict(ghn.config),
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
