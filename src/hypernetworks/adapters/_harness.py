"""One training and evaluation harness for every adapter method.

Every method is a sentence encoder ``encode(inputs, condition) -> [B, d]`` (mean-pooled,
normalised) and classifies a text by its cosine similarity with the texts of the task's
labels, encoded by the same adapted model under the same condition, times a fixed scale.
No method has a trainable classifier head, so an unseen task needs nothing but its label
texts and, for description conditioning, its description. The linear probe is the one
exception (a trained head on frozen features; see :func:`train_probe`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..datasets import TextTask
from ..runner import average_gradients, shard
from ._descriptions import mean_pool

__all__ = [
    "SCALE",
    "Encoder",
    "evaluate",
    "frozen_features",
    "method_rng",
    "method_seed",
    "train_encoder",
    "train_probe",
]

SCALE = 20.0
"""Cosine similarities are multiplied by this before the softmax (sentence-transformers'
default for contrastive fine-tuning)."""

Encoder = Callable[[dict[str, Tensor], Any], Tensor]
Progress = Callable[[Iterable[int]], Iterable[int]]


def method_seed(seed: int, method: str) -> int:
    """A seed derived from ``(seed, method)`` alone (stable across runs and platforms).

    Example:
        >>> method_seed(0, "hyperlora") == method_seed(0, "hyperlora")
        True
        >>> method_seed(0, "hyperlora") != method_seed(0, "lora-shared")
        True
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, got {type(method).__name__}")
    digest = hashlib.sha256(f"{seed}/{method}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@contextmanager
def method_rng(seed: int, method: str) -> Iterator[None]:
    """Run a block with torch's CPU random stream seeded by :func:`method_seed` and
    restored afterwards, so what the block draws (initialisation, dropout) depends on
    ``(seed, method)`` only, not on what ran before it, and nothing outside changes.

    Example:
        >>> with method_rng(0, "probe"):
        ...     a = torch.rand(2)
        >>> _ = torch.rand(5)                     # other draws in between
        >>> with method_rng(0, "probe"):
        ...     b = torch.rand(2)
        >>> torch.equal(a, b)
        True
    """
    seeded = method_seed(seed, method)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seeded)
        yield


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, Tensor]:
    batch = tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return dict(batch)


def _logits(
    encode: Encoder,
    tokenizer: Any,
    texts: Sequence[str],
    text_condition: Any,
    tasks: Sequence[TextTask],
    label_conditions: Sequence[Any],
    max_length: int,
) -> tuple[Tensor, list[int]]:
    """Scaled cosines ``[B, L]`` of the texts with every label of ``tasks`` (each label
    encoded under its task's condition), and each task's offset among the L labels."""
    text_emb = encode(tokenize(tokenizer, texts, max_length), text_condition)
    labels = [label for task in tasks for label in task.labels]
    offsets = list(np.cumsum([0] + [len(t.labels) for t in tasks]))
    condition = _repeat(label_conditions, [len(t.labels) for t in tasks])
    label_emb = encode(tokenize(tokenizer, labels, max_length), condition)
    return SCALE * text_emb @ label_emb.T, [int(o) for o in offsets]


def _repeat(conditions: Sequence[Any], counts: Sequence[int]) -> Any:
    """One condition per label: repeated per task; a tensor if the conditions are ids."""
    if len(conditions) == 1:
        return conditions[0]
    out = [c for c, n in zip(conditions, counts, strict=True) for _ in range(n)]
    return torch.tensor(out) if isinstance(out[0], int) else out


def train_encoder(
    encode: Encoder,
    parameters: Sequence[nn.Parameter] | Sequence[dict[str, Any]],
    tokenizer: Any,
    tasks: Sequence[TextTask],
    condition: Callable[[int, np.random.Generator], Any],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    max_length: int,
    progress: Progress = iter,
    check: Callable[[Tensor, int], object] | None = None,
) -> list[float]:
    """Train on mixed batches: each sample draws a task uniformly, then one of its texts.

    ``condition(t, rng)`` is task ``t``'s condition (an id, a description, or None). The
    loss is the cross-entropy over the sample's own task's labels. ``parameters`` are
    parameters, or Adam parameter groups (dicts, e.g. :meth:`HyperLoRA.parameter_groups`;
    a group without ``"lr"`` gets ``lr``). Returns the losses.
    """
    rng = np.random.default_rng([seed, 3])
    groups: list[Any] = list(parameters)
    optimizer = torch.optim.Adam(groups, lr=lr)
    flat = [p for g in optimizer.param_groups for p in g["params"]]
    losses = []
    for step in progress(range(steps)):
        which = rng.integers(len(tasks), size=batch_size)
        picks = [int(rng.integers(len(tasks[t].train_texts))) for t in which]
        conditions = {t: condition(t, rng) for t in sorted({int(t) for t in which})}
        # Under torchrun each rank takes its samples of the batch (drawn alike on every
        # rank) and the gradients are averaged (hypernetworks.runner.shard).
        part, weight = shard(torch.arange(batch_size))
        optimizer.zero_grad()
        if not len(part):  # nothing left for this rank: it still joins the average
            average_gradients(flat)
            optimizer.step()
            continue
        which, picks = which[part.numpy()], [picks[i] for i in part.tolist()]
        texts = [tasks[t].train_texts[i] for t, i in zip(which, picks, strict=True)]
        present = sorted({int(t) for t in which})
        text_condition = _repeat([conditions[int(t)] for t in which], [1] * len(which))
        logits, offsets = _logits(
            encode,
            tokenizer,
            texts,
            text_condition,
            [tasks[t] for t in present],
            [conditions[t] for t in present],
            max_length,
        )
        position = {t: k for k, t in enumerate(present)}
        mask = torch.full_like(logits, float("-inf"))
        target = torch.empty(len(which), dtype=torch.long)
        for row, (t, i) in enumerate(zip(which, picks, strict=True)):
            k = position[int(t)]
            mask[row, offsets[k] : offsets[k + 1]] = 0.0
            target[row] = offsets[k] + tasks[t].train_labels[i]
        loss = nn.functional.cross_entropy(logits + mask, target) * weight
        if check is not None:
            check(loss, step)
        loss.backward()
        average_gradients(flat)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def evaluate(
    encode: Encoder,
    tokenizer: Any,
    task: TextTask,
    condition: Any,
    *,
    max_length: int,
    batch_size: int = 64,
) -> float:
    """Test accuracy on ``task`` with one condition for all its texts and labels."""
    label_emb = encode(tokenize(tokenizer, task.labels, max_length), condition)
    correct = 0
    for start in range(0, len(task.test_texts), batch_size):
        texts = task.test_texts[start : start + batch_size]
        emb = encode(tokenize(tokenizer, texts, max_length), condition)
        predicted = (emb @ label_emb.T).argmax(-1)
        truth = torch.tensor(task.test_labels[start : start + batch_size])
        correct += int((predicted == truth).sum())
    return correct / len(task.test_texts)


@torch.no_grad()
def frozen_features(
    model: nn.Module, tokenizer: Any, texts: Sequence[str], *, max_length: int, batch_size: int = 64
) -> Tensor:
    """Mean-pooled, normalised embeddings of ``texts`` by ``model`` as it is."""
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenize(tokenizer, texts[start : start + batch_size], max_length)
        out.append(mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]))
    return torch.cat(out)


def train_probe(
    train: Tensor, labels: Sequence[int], classes: int, *, epochs: int = 300, seed: int = 0
) -> nn.Module:
    """A linear probe (logistic regression, full-batch Adam) on standardised frozen features."""
    generator = torch.Generator().manual_seed(seed)
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    linear = nn.Linear(train.shape[1], classes)
    with torch.no_grad():
        linear.weight.copy_(0.01 * torch.randn(linear.weight.shape, generator=generator))
        linear.bias.zero_()
    probe = nn.Sequential(_Standardise(mean, std), linear)
    optimizer = torch.optim.Adam(linear.parameters(), lr=1e-2, weight_decay=1e-4)
    target = torch.tensor(list(labels))
    for _ in range(epochs):
        loss = nn.functional.cross_entropy(probe(train), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return probe.eval()


class _Standardise(nn.Module):
    mean: Tensor
    std: Tensor

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std
