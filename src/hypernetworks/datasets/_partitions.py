"""Non-IID client partitions of a labelled data set, for federated learning.

``partition_pathological`` gives each client a few classes (pFedHN's setting: 2 classes per
client); ``partition_dirichlet`` draws each class's share of every client from a
Dirichlet(α) distribution (label skew, smaller α = more skew). ``client_datasets`` turns a
partition into the ``(x_train, y_train, x_test, y_test)`` tuples that
``hypernetworks.federated.simulate`` takes. Everything is deterministic under ``seed``.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import Tensor

__all__ = ["client_datasets", "partition_dirichlet", "partition_pathological"]


def _check_labels(y: Tensor) -> np.ndarray:
    if not isinstance(y, Tensor) or y.dim() != 1 or y.is_floating_point() or y.numel() == 0:
        raise TypeError(f"y must be a non-empty 1-D integer Tensor of labels, got {y!r:.60}")
    return y.cpu().numpy()


def _check_clients(num_clients: object, samples: int) -> int:
    if not isinstance(num_clients, numbers.Integral) or isinstance(num_clients, bool):
        raise TypeError(f"num_clients must be an int, got {type(num_clients).__name__}")
    if not 1 <= int(num_clients) <= samples:
        raise ValueError(
            f"num_clients must be between 1 and the {samples} samples, got {num_clients}"
        )
    return int(num_clients)


def partition_pathological(
    y: Tensor, num_clients: int, *, classes_per_client: int = 2, seed: int = 0
) -> list[Tensor]:
    """Give each client ``classes_per_client`` classes, as in pFedHN (Shamsian et al. 2021).

    Every class is cut into as many equal shards as clients that hold it; classes are dealt
    to clients in a shuffled round-robin so every class is used about equally often.

    Args:
        y: ``[N]`` integer labels.
        num_clients: number of clients.
        classes_per_client: distinct classes per client (≤ the number of classes).
        seed: seed of the shuffles.

    Returns:
        One ``[n_i]`` index tensor per client; the clients' indices are disjoint.

    Raises:
        TypeError: ``y`` is not a 1-D integer tensor.
        ValueError: ``num_clients`` or ``classes_per_client`` out of range.

    Example:
        >>> import torch
        >>> from hypernetworks.datasets import partition_pathological
        >>> parts = partition_pathological(torch.arange(100) % 10, 5, seed=0)
        >>> [len(torch.unique(torch.arange(100)[p] % 10)) for p in parts]
        [2, 2, 2, 2, 2]
    """
    labels = _check_labels(y)
    num_clients = _check_clients(num_clients, len(labels))
    classes = np.unique(labels)
    if not 1 <= classes_per_client <= len(classes):
        raise ValueError(
            f"classes_per_client must be between 1 and the {len(classes)} classes, "
            f"got {classes_per_client}"
        )
    rng = np.random.default_rng(seed)
    deck = np.concatenate(
        [rng.permutation(classes) for _ in range(num_clients * classes_per_client)]
    )
    owned: list[list[int]] = []
    position = 0
    for _ in range(num_clients):
        mine: list[int] = []
        while len(mine) < classes_per_client:
            if deck[position] not in mine:
                mine.append(int(deck[position]))
            position += 1
        owned.append(mine)
    parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for c in classes:
        holders = [i for i, mine in enumerate(owned) if c in mine]
        if not holders:
            continue
        shards = np.array_split(rng.permutation(np.flatnonzero(labels == c)), len(holders))
        for holder, shard in zip(holders, shards, strict=True):
            parts[holder].append(shard)
    return [torch.from_numpy(np.sort(np.concatenate(p))).long() for p in parts]


def partition_dirichlet(
    y: Tensor, num_clients: int, *, alpha: float = 0.5, min_size: int = 10, seed: int = 0
) -> list[Tensor]:
    """Label skew: client shares of each class drawn from Dirichlet(α).

    Draws are repeated (up to 100 times) until every client has ``min_size`` samples.

    Args:
        y: ``[N]`` integer labels.
        num_clients: number of clients.
        alpha: concentration (> 0); small α gives few classes per client.
        min_size: the smallest client allowed.
        seed: seed of the draws.

    Returns:
        One ``[n_i]`` index tensor per client; the clients' indices are disjoint.

    Raises:
        TypeError: ``y`` is not a 1-D integer tensor.
        ValueError: ``alpha`` ≤ 0, ``num_clients`` out of range, or no draw in 100 gives
            every client ``min_size`` samples.

    Example:
        >>> import torch
        >>> from hypernetworks.datasets import partition_dirichlet
        >>> parts = partition_dirichlet(torch.arange(1000) % 10, 4, alpha=0.5, seed=0)
        >>> sum(len(p) for p in parts), min(len(p) for p in parts) >= 10
        (1000, True)
    """
    labels = _check_labels(y)
    num_clients = _check_clients(num_clients, len(labels))
    if not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    if min_size * num_clients > len(labels):
        raise ValueError(
            f"min_size (={min_size}) × num_clients (={num_clients}) exceeds the "
            f"{len(labels)} samples"
        )
    rng = np.random.default_rng(seed)
    for _ in range(100):
        parts: list[list[int]] = [[] for _ in range(num_clients)]
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            shares = rng.dirichlet(np.full(num_clients, float(alpha)))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
            for i, chunk in enumerate(np.split(members, cuts)):
                parts[i].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [torch.tensor(sorted(p), dtype=torch.long) for p in parts]
    raise ValueError(
        f"no Dirichlet(alpha={alpha}) draw in 100 gave every one of {num_clients} clients "
        f"min_size={min_size} samples; use fewer clients, a larger alpha or a smaller min_size"
    )


def client_datasets(
    x: Tensor, y: Tensor, parts: list[Tensor], *, test_fraction: float = 0.2, seed: int = 0
) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """Split every client's samples into its own train and test sets.

    Args:
        x: ``[N, ...]`` inputs.
        y: ``[N]`` labels.
        parts: one index tensor per client (e.g. from :func:`partition_pathological`).
        test_fraction: share of each client's samples kept for its test set, in (0, 1).
        seed: seed of the split.

    Returns:
        One ``(x_train, y_train, x_test, y_test)`` per client; each client keeps at least
        one training and one test sample.

    Raises:
        ValueError: ``test_fraction`` outside (0, 1), ``x`` and ``y`` of different lengths,
            or a client with fewer than 2 samples.

    Example:
        >>> import torch
        >>> from hypernetworks.datasets import client_datasets, partition_pathological
        >>> x, y = torch.randn(100, 3), torch.arange(100) % 10
        >>> clients = client_datasets(x, y, partition_pathological(y, 5), test_fraction=0.2)
        >>> [tuple(t.shape) for t in clients[0]]
        [(16, 3), (16,), (4, 3), (4,)]
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    generator = torch.Generator().manual_seed(seed)
    clients = []
    for i, part in enumerate(parts):
        if len(part) < 2:
            raise ValueError(f"client {i} has {len(part)} samples; each client needs at least 2")
        order = part[torch.randperm(len(part), generator=generator)]
        n_test = min(max(1, round(test_fraction * len(part))), len(part) - 1)
        test, train = order[:n_test], order[n_test:]
        clients.append((x[train], y[train], x[test], y[test]))
    return clients
