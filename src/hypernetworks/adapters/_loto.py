"""Leave-one-task-out: a development protocol for adapting to a task never trained on.

The held-out goal (adapters for an unseen task from its description alone) has one test
task, ``kind``; nothing can be chosen on it. Here, on a development seed, each seen task
in turn plays the unseen one: the description-conditioned :class:`HyperLoRA` trains on
the other four tasks and is scored on the fifth from its description, and so are the
baselines of the held-out goal, scored the same way: the shared LoRA trained on the
four, the best of the four tasks' own LoRAs applied as they are (an oracle choice), and
the frozen model. The unseen task's *training* texts are scored (it is never trained
on; at most :data:`UNSEEN_TEXTS` of them); its test texts are never touched, and
``kind`` is never used.

Levers compared (``desc_steps`` x ``scales``): the description model's steps per task,
and ``scale``, which pulls the adapters generated for the unseen description toward the
pretrained model (``W0 + scale * B A``; :meth:`HyperLoRA.materialize`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..datasets import TextTask, text_tasks
from ._harness import evaluate, method_rng, train_encoder
from ._hyperlora import HyperLoRA, lora_model

__all__ = [
    "RULE_SCALES",
    "UNSEEN_RULES",
    "UNSEEN_TEXTS",
    "as_unseen",
    "loto_fold",
    "loto_per_task",
    "nearest_seen",
    "unseen_scores",
]


#: How the description model adapts to a task it never trained on: the key of its
#: accuracy in :func:`unseen_scores` per rule (the CLI's ``--unseen``). ``generated``: the
#: adapters generated from the task's description; ``scale-S``: those pulled toward the
#: pretrained model (``W0 + S * B A``); ``nearest``: the adapters of the seen task whose
#: description is nearest its own.
UNSEEN_RULES = {
    "generated": "scale 1",
    "scale-0.5": "scale 0.5",
    "scale-0.25": "scale 0.25",
    "nearest": "nearest seen description",
}
#: The scales :func:`unseen_scores` is run with for those rules.
RULE_SCALES = (1.0, 0.5, 0.25)

#: At most this many of the unseen task's training texts are scored (the first ones; the
#: builders shuffle them), to keep a fold's CPU time down.
UNSEEN_TEXTS = 240


def as_unseen(task: TextTask, limit: int | None = None) -> TextTask:
    """``task`` scored on its first ``limit`` training texts (all: None), for a task never
    trained on; its test texts are dropped.

    Example:
        >>> from hypernetworks.datasets import text_task
        >>> task = text_task("sentiment", seed=100, train_per_class=5, test_per_class=2)
        >>> as_unseen(task).test_texts == task.train_texts
        True
        >>> as_unseen(task, limit=3).test_labels == task.train_labels[:3]
        True
    """
    if not isinstance(task, TextTask):
        raise TypeError(f"task must be a TextTask, got {type(task).__name__}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    end = len(task.train_texts) if limit is None else limit
    return dataclasses.replace(
        task, test_texts=task.train_texts[:end], test_labels=task.train_labels[:end]
    )


def nearest_seen(hyper: HyperLoRA, description: str, seen: Sequence[TextTask]) -> int:
    """The index of the seen task whose description is nearest ``description`` (cosine
    of their frozen sentence embeddings, the embeddings the hypernetwork is fed)."""
    conditioner: Any = hyper.hyper.conditioner
    embedded = conditioner.embed_texts([description] + [t.description for t in seen])
    return int((embedded[1:] @ embedded[0]).argmax())


def unseen_scores(
    hyper: HyperLoRA,
    task: TextTask,
    seen: Sequence[TextTask],
    scales: Sequence[float],
    common: dict[str, Any],
) -> dict[str, Any]:
    """``task`` (never trained on) scored with the adapters generated from its description
    at each scale (``"scale S"``), with the adapters of the seen task whose description is
    nearest its own (``"nearest seen description"``, a rule that needs no labels) and of
    the best seen task's description (``"best other description"``, an oracle)."""
    from ._benchmarks import _lora_encoder

    out: dict[str, Any] = {}
    for scale in scales:
        encode: Any = hyper.encode
        cond: Any = task.description
        if scale != 1.0:
            encode, cond = _lora_encoder(hyper.materialize(task.description, scale=scale)), None
        out[f"scale {scale:g}"] = evaluate(encode, task=task, condition=cond, **common)
    others = [evaluate(hyper.encode, task=task, condition=s.description, **common) for s in seen]
    near = nearest_seen(hyper, task.description, seen)
    out["nearest seen description"] = others[near]
    out["best other description"] = max(others)
    out["nearest"] = seen[near].name
    out["best other"] = seen[int(np.argmax(others))].name
    return out


def _tasks(seed: int, names: Sequence[str], options: dict[str, Any]) -> dict[str, TextTask]:
    return text_tasks(
        names,
        seed=seed,
        train_per_class=options["train_per_class"],
        test_per_class=options["test_per_class"],
    )


def _check_fold(held: str, names: Sequence[str]) -> None:
    if held not in names:
        raise ValueError(f"held must be one of the seen tasks {list(names)}, got {held!r}")


def loto_fold(
    base: Any,
    tokenizer: Any,
    *,
    seed: int,
    held: str,
    names: Sequence[str],
    desc_steps: Sequence[int],
    scales: Sequence[float],
    rates: dict[str, float],
    shared_steps: int | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """One fold: train on ``names`` minus ``held``, score ``held`` as an unseen task.

    ``desc_steps``: the description model's steps per task, one model each (empty: none);
    ``shared_steps``: the shared LoRA's (None: neither it nor the frozen model is scored).

    Returns accuracies keyed ``"hyperlora-desc, steps N, scale S"``, ``"hyperlora-desc,
    steps N, nearest seen description"``, ``"hyperlora-desc (best other description),
    steps N"``, ``"lora-shared"`` and ``"zero-shot"`` (see :func:`unseen_scores`), and the
    CPU seconds of each training.
    """
    from ._benchmarks import _lora_encoder

    _check_fold(held, names)
    tasks = _tasks(seed, names, options)
    seen = [tasks[n] for n in names if n != held]
    unseen = as_unseen(tasks[held], UNSEEN_TEXTS)
    common = {"tokenizer": tokenizer, "max_length": options["max_length"]}
    batch, rank = options["batch_size"], options["rank"]
    scores: dict[str, float] = {}
    seconds: dict[str, float] = {}
    names_of: dict[str, dict[str, str]] = {}

    def fit(encode: Any, params: Any, steps: int, condition: Any, offset: int, lr: float) -> None:
        train_encoder(
            encode,
            params,
            tokenizer,
            seen,
            condition,
            steps=steps * len(seen),
            batch_size=batch,
            lr=lr,
            seed=seed + 1000 * offset,
            max_length=options["max_length"],
        )

    for steps in desc_steps:
        with method_rng(seed, "hyperlora-desc"):
            start = time.process_time()
            hyper = HyperLoRA(base, tokenizer=tokenizer, rank=rank).train()

            def condition(t: int, rng: np.random.Generator) -> Any:
                return seen[t].descriptions[int(rng.integers(len(seen[t].descriptions)))]

            groups = hyper.parameter_groups(rates["hyperlora-desc"])
            fit(hyper.encode, groups, steps, condition, 1, rates["hyperlora-desc"])
            hyper.eval()
            seconds[f"hyperlora-desc, steps {steps}"] = time.process_time() - start
            found = unseen_scores(hyper, unseen, seen, scales, common)
            for key in [f"scale {scale:g}" for scale in scales] + ["nearest seen description"]:
                scores[f"hyperlora-desc, steps {steps}, {key}"] = found[key]
            scores[f"hyperlora-desc (best other description), steps {steps}"] = found[
                "best other description"
            ]
            names_of[f"steps {steps}"] = {k: found[k] for k in ("nearest", "best other")}
    if shared_steps is not None:
        with method_rng(seed, "lora-shared"):
            start = time.process_time()
            lora = lora_model(base, rank=rank).train()
            params = [p for p in lora.parameters() if p.requires_grad]
            encode = _lora_encoder(lora)
            fit(encode, params, shared_steps, lambda t, rng: None, 20, rates["lora-shared"])
            lora.eval()
            seconds["lora-shared"] = time.process_time() - start
            scores["lora-shared"] = evaluate(encode, task=unseen, condition=None, **common)
        scores["zero-shot"] = evaluate(_lora_encoder(base), task=unseen, condition=None, **common)
    return {
        "seed": seed,
        "held": held,
        "scores": scores,
        "adapters_of": names_of,
        "train_cpu_seconds": seconds,
    }


def loto_per_task(
    base: Any,
    tokenizer: Any,
    *,
    seed: int,
    names: Sequence[str],
    steps: int,
    lr: float,
    options: dict[str, Any],
) -> dict[str, Any]:
    """Each task's own LoRA (trained once, as in the benchmark) scored on every other
    task as an unseen one: ``scores[trained_on][scored_on]``. A fold's "best other task's
    LoRA" is the best of the four scores on its held-out task."""
    from ._benchmarks import _lora_encoder

    tasks = _tasks(seed, names, options)
    common = {"tokenizer": tokenizer, "max_length": options["max_length"]}
    scores: dict[str, dict[str, float]] = {}
    start = time.process_time()
    with method_rng(seed, "lora-per-task"):
        for t, name in enumerate(names):
            lora = lora_model(base, rank=options["rank"]).train()
            encode = _lora_encoder(lora)
            params = [p for p in lora.parameters() if p.requires_grad]
            train_encoder(
                encode,
                params,
                tokenizer,
                [tasks[name]],
                lambda t, rng: None,
                steps=steps,
                batch_size=options["batch_size"],
                lr=lr,
                seed=seed + 1000 * (2 + t),
                max_length=options["max_length"],
            )
            lora.eval()
            scores[name] = {
                other: evaluate(
                    encode, task=as_unseen(tasks[other], UNSEEN_TEXTS), condition=None, **common
                )
                for other in names
                if other != name
            }
    return {"seed": seed, "scores": scores, "train_cpu_seconds": time.process_time() - start}
