"""The development protocol: a validation split carved out of a task's training texts.

Learning rates (and anything else tuned) are chosen on development seeds, training on part
of each task's training texts and scoring on the rest; the test texts are never touched.
The validation texts are whole *groups* of the training texts, grouped as the task's
builder groups them (docstrings of objects with one name, sentences of one ``pydoc``
topic, lexicon words sharing their first four letters), so near-duplicates stay on one
side. The word and name tasks have no groups inside their training side (their builder
splits the vocabularies between train and test); there each text is its own group, so
validation texts are new word combinations of training words, an easier split than the
test split (said in docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from ..datasets import TEXT_TASKS, TextTask

__all__ = ["DEVELOPMENT_SEEDS", "validation_split"]

DEVELOPMENT_SEEDS = (100, 101)
"""Seeds of the development runs that chose the defaults; never reported as results."""


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _groups(task: TextTask, seed: int) -> list[str]:
    """The builder's group of each training text of ``task`` (the text itself where the
    builder has no groups inside the training side)."""
    spec = TEXT_TASKS.get(task.name)
    by_text: dict[str, str] = {}
    if spec is not None:
        texts, _, groups = spec.build(seed, 3 * max(1, len(task.train_texts)))
        by_text = {_key(t): g for t, g in zip(texts, groups, strict=True)}
    out = []
    for text in task.train_texts:
        group = by_text.get(_key(text))
        out.append(f"text:{_key(text)}" if group in (None, "train", "test") else f"g:{group}")
    return out


def validation_split(task: TextTask, *, seed: int, fraction: float = 0.25) -> TextTask:
    """``task`` with its training texts split by group: about ``fraction`` of them become
    the returned task's ``test_texts`` (the validation texts), the rest its
    ``train_texts``; the original test texts are dropped. Deterministic in ``seed``.

    Example:
        >>> from hypernetworks.datasets import text_task
        >>> task = text_task("sentiment", seed=100, train_per_class=20, test_per_class=5)
        >>> dev = validation_split(task, seed=100)
        >>> len(dev.train_texts) + len(dev.test_texts) == len(task.train_texts)
        True
        >>> set(dev.test_texts) <= set(task.train_texts), set(dev.test_texts) & set(task.test_texts)
        (True, set())
    """
    if not isinstance(task, TextTask):
        raise TypeError(f"task must be a TextTask, got {type(task).__name__}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    groups = _groups(task, seed)
    names = sorted(set(groups))
    if len(names) < 2:
        raise ValueError(
            f"task {task.name!r} needs at least 2 groups of training texts for a "
            f"validation split, got {len(names)}"
        )
    order = np.random.default_rng([seed, 17]).permutation(len(names))
    target = fraction * len(task.train_texts)
    size = {g: groups.count(g) for g in names}
    held: set[str] = set()
    count = 0
    for i in order:  # whole groups, in a seeded order, until about `fraction` of the texts
        if count >= target or len(held) == len(names) - 1:
            break
        held.add(names[i])
        count += size[names[i]]
    rows = list(zip(task.train_texts, task.train_labels, groups, strict=True))
    train = [(t, y) for t, y, g in rows if g not in held]
    valid = [(t, y) for t, y, g in rows if g in held]
    return dataclasses.replace(
        task,
        train_texts=tuple(t for t, _ in train),
        train_labels=tuple(y for _, y in train),
        test_texts=tuple(t for t, _ in valid),
        test_labels=tuple(y for _, y in valid),
    )
