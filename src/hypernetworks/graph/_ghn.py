"""``GraphHyperNetwork``: reads a network's graph, predicts all its parameters in one pass.

Pipeline (GHN-2, Knyazev et al. 2021; decoders after GHN-2 and LoGAH):

```
model ──trace──► graph ──encode──► op embedding + MLP(continuous shape features)
      ──► R rounds of [forward messages (along edges) → GRU, backward messages → GRU]
      ──► decoder (low-rank A·Bᵀ, tiling or both) per parameter node ──► scaled tensors
```

Message passing is dense (``[N, N]`` weights, virtual edges up to ``reach`` steps, padded
over a batch of graphs): no torch-geometric. Rounds are synchronous, so every node is
updated at once; GHN-2's sequential node-by-node sweep was not needed at these depths.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_positive_int
from ..runner import WeightedLoss, data_parallel, shard
from ._decoders import DECODERS, DEFAULT_DECODER
from ._encode import RESOLUTION_FEATURES, SHAPE_FEATURES, Encoded, encode
from ._rescale import rescale as rescale_weights
from ._trace import OPS, Graph, trace
from ._units import unit_roles

__all__ = ["FORMAT", "GraphHyperNetwork"]

FORMAT = "hypernetworks.graph/2"  # /2: the "globalpool" operation joined OPS
Architectures = Sequence[nn.Module | Callable[[], nn.Module]] | Any
Roles = dict[str, tuple[bool, bool]]


class GraphHyperNetwork(nn.Module):
    """A graph hypernetwork: parameters for any traceable network, trained or not.

    Args:
        dim: node embedding size.
        rounds: message-passing rounds (each one forward and one backward pass).
        decoder: ``"hybrid"`` (the default: tiling for convolution kernels, low-rank
            for the rest), ``"lowrank"`` (LoGAH-style ``A·Bᵀ``) or ``"tiling"`` (GHN-2).
            Tiling predicted the best networks overall on digits, but on MNIST it repeats
            one block across the 784 inputs of an MLP's first layer and the MLPs collapse;
            the hybrid, second on digits, keeps its convolutions and the low-rank linear
            layers (docs/benchmarks.md §11).
        rank: rank of the low-rank decoder (and of the hybrid's low-rank part). 64: it
            beat 16 on the MNIST development seed (docs/benchmarks.md §11); on the test
            seeds held-out MLPs rose from 0.938 to 0.955 of their trained accuracy.
        hidden: width of the decoder MLPs.
        reach: virtual edges join nodes up to this many steps apart.
        resolution: encode each node's pooling level (the spatial resolution, which no
            node's shape carries) and tell global pooling from 2× average pooling.
        rich_kernel: the low-rank decoder describes kernel positions by 9 features
            (relative offsets, their squares, the kernel size) instead of 2 raw offsets.
        unit_shifts: while training, offset the low-rank decoder's hidden unit indices of
            every MLP by a random shift per step, so that every index vector is trained
            (widths past those of the training pool get trained vectors too) and none
            carries a meaning (``graph/_units.py``). Prediction is unchanged in form.
            Tried on MNIST (development seed 100): the MLPs collapsed; off by default.
        fold_units: at prediction, a hidden unit of an MLP past the widest hidden layer of
            the training pool (``unit_range``) reads the index vectors of unit ``i mod
            unit_range``, which were trained, instead of vectors never trained (its rows,
            vectors and the columns that read it alike, so they still match): a 1024-wide
            layer after a pool of widths up to 512 gets each unit twice.
        unit_range: the widest hidden layer of the training pool's MLPs; set by :meth:`fit`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hypernetworks.graph import GraphHyperNetwork
        >>> ghn = GraphHyperNetwork(dim=16)
        >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        >>> factories = [lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))]
        >>> ghn = ghn.fit(factories, (x, y), steps=3)
        >>> net = ghn.apply(nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2)))
        >>> tuple(net(x).shape)
        (64, 2)
    """

    def __init__(
        self,
        *,
        dim: int = 64,
        rounds: int = 2,
        decoder: str = DEFAULT_DECODER,
        rank: int = 64,
        hidden: int = 64,
        reach: int = 4,
        resolution: bool = False,
        rich_kernel: bool = False,
        unit_shifts: bool = False,
        fold_units: bool = True,
        unit_range: int | None = None,
    ) -> None:
        super().__init__()
        for value, name in (
            (dim, "dim"),
            (rounds, "rounds"),
            (rank, "rank"),
            (hidden, "hidden"),
            (reach, "reach"),
        ):
            check_positive_int(value, name)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {sorted(DECODERS)}, got {decoder!r}")
        self.config: dict[str, Any] = {
            "dim": dim,
            "rounds": rounds,
            "decoder": decoder,
            "rank": rank,
            "hidden": hidden,
            "reach": reach,
            "resolution": bool(resolution),
            "rich_kernel": bool(rich_kernel),
            "unit_shifts": bool(unit_shifts),
            "fold_units": bool(fold_units),
            "unit_range": unit_range,
        }
        features = SHAPE_FEATURES + (RESOLUTION_FEATURES if resolution else 0)
        # "globalpool", the last operation, joined OPS later: its row is drawn last (below),
        # so that the other parameters start as they did before it (same seed, same runs)
        self.op_embedding = nn.Embedding(len(OPS) - 1, dim)
        self.shape_encoder = nn.Sequential(nn.Linear(features, dim), nn.GELU(), nn.Linear(dim, dim))
        self.forward_message = nn.Linear(dim, dim)
        self.backward_message = nn.Linear(dim, dim)
        self.forward_update = nn.GRUCell(dim, dim)
        self.backward_update = nn.GRUCell(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.decoder = (
            DECODERS[decoder](dim, hidden=hidden)
            if decoder == "tiling"
            else DECODERS[decoder](dim, rank=rank, hidden=hidden, rich_kernel=rich_kernel)
        )
        self.history_: list[float] = []
        rows = torch.cat([self.op_embedding.weight.detach(), torch.randn(1, dim)])
        self.op_embedding = nn.Embedding.from_pretrained(rows, freeze=False)

    # -- graph → node embeddings → tensors -------------------------------------------------
    def _encode(self, graph: Graph) -> Encoded:
        c = self.config
        return encode(graph, reach=c["reach"], resolution=c.get("resolution", False))

    def _embed(self, encoded: list[Encoded]) -> Tensor:
        """``[G, N_max, dim]`` node embeddings for a batch of graphs (padding rows unused)."""
        dev = self.op_embedding.weight.device
        n = max(e.ops.shape[0] for e in encoded)
        ops = torch.zeros(len(encoded), n, dtype=torch.long, device=dev)
        shapes = torch.zeros(len(encoded), n, encoded[0].shapes.shape[1], device=dev)
        fwd = torch.zeros(len(encoded), n, n, device=dev)
        bwd = torch.zeros_like(fwd)
        for g, e in enumerate(encoded):
            k = e.ops.shape[0]
            ops[g, :k], shapes[g, :k] = e.ops, e.shapes
            fwd[g, :k, :k], bwd[g, :k, :k] = e.forward, e.backward
        h = self.op_embedding(ops) + self.shape_encoder(shapes)
        d = h.shape[-1]
        for _ in range(self.config["rounds"]):
            m = fwd @ self.forward_message(h)
            h = self.forward_update(m.reshape(-1, d), h.reshape(-1, d)).view_as(h)
            m = bwd @ self.backward_message(h)
            h = self.backward_update(m.reshape(-1, d), h.reshape(-1, d)).view_as(h)
        return self.norm(h)

    def _predict(
        self,
        graphs: list[Graph],
        encoded: list[Encoded],
        roles: list[Roles | None] | None = None,
        shifts: list[int] | None = None,
    ) -> list[dict[str, Tensor]]:
        """``roles[g]``: :func:`unit_roles` of graph ``g`` (computed when not given);
        ``shifts[g]``: the offset of its hidden unit indices (training with
        ``unit_shifts``; none by default). Hidden units past ``unit_range`` fold back
        (``fold_units``)."""
        h = self._embed(encoded)
        c = self.config
        fold = c["unit_range"] if c.get("fold_units") and c.get("unit_range") else 0
        roles = roles if roles is not None else [unit_roles(g) for g in graphs]
        rows, nodes, owners, units = [], [], [], []
        for g, graph in enumerate(graphs):
            shift = shifts[g] if shifts is not None else 0
            for i, node in enumerate(graph.nodes):
                if node.param is not None:
                    rows.append(h[g, i])
                    nodes.append(node)
                    owners.append(g)
                    role = roles[g]
                    row, col = role[node.param] if role is not None else (False, False)
                    units.append((shift * row, shift * col, fold if row else 0, fold if col else 0))
        tensors = self.decoder(torch.stack(rows), nodes, units)
        out: list[dict[str, Tensor]] = [{} for _ in graphs]
        for g, node, t in zip(owners, nodes, tensors, strict=True):
            out[g][str(node.param)] = t
        return out

    def predict(self, model: nn.Module, example_input: Any = None) -> dict[str, Tensor]:
        """Predict every parameter of ``model`` (which is left untouched).

        Args:
            model: any module :func:`~hypernetworks.graph.trace` can read.
            example_input: input for the ``torch.export`` fallback (see ``trace``).

        Returns:
            ``{name: tensor}`` for every name in ``model.named_parameters()``, with the
            parameter's shape, on this hypernetwork's device, without gradient.

        Raises:
            UnsupportedModelError: the model cannot be traced or holds an unsupported layer.

        Example:
            >>> from torch import nn
            >>> ghn = GraphHyperNetwork(dim=8)
            >>> params = ghn.predict(nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU()))
            >>> {k: tuple(v.shape) for k, v in params.items()}
            {'0.weight': (4, 3, 5, 5), '0.bias': (4,)}
        """
        return self._predict_traced(model, trace(model, example_input))

    def _predict_traced(self, model: nn.Module, graph: Graph) -> dict[str, Tensor]:
        """:meth:`predict` for ``model`` already traced as ``graph``."""
        with torch.no_grad():
            predicted = self._predict([graph], [self._encode(graph)])[0]
        return {name: predicted[name] for name, _ in model.named_parameters()}

    def apply(  # type: ignore[override]
        self,
        model: nn.Module,
        example_input: Any = None,
        *,
        rescale: bool = False,
        blend: float = 0.0,
    ) -> nn.Module:
        """Load the predicted parameters into ``model`` (in place) and return it.

        BatchNorm running statistics are not predicted: fill them with
        :func:`calibrate_batchnorm` before evaluating in ``eval()`` mode.

        Args:
            model: any module :func:`~hypernetworks.graph.trace` can read.
            example_input: input for the ``torch.export`` fallback.
            rescale: a start for fine-tuning: bring every linear weight whose scale the
                network does not see (one followed by a normalisation layer, or by a ReLU
                before exactly one other weight, which takes the inverse factor) to the root
                mean square of the model's own initial weight; the function is unchanged
                (with BatchNorm: once its statistics are recomputed), but Adam, whose steps
                do not grow with the weights, no longer moves them slowly
                (``graph/_rescale.py``).
            blend: a start for fine-tuning rather than a finished network: every weight (2
                or more dimensions) becomes ``(1 - blend)·predicted + blend·current``, the
                model's own (random) initialisation; biases and normalisation parameters
                stay predicted. This is shrink-and-perturb (Ash & Adams 2020), for warm
                starts that fine-tune worse than random ones; 0 (default) loads the
                prediction as it is.

        Returns:
            ``model`` itself, its parameters overwritten.

        Raises:
            UnsupportedModelError: as :meth:`predict`.

        Example:
            >>> import torch
            >>> from torch import nn
            >>> net = GraphHyperNetwork(dim=8).apply(nn.Sequential(nn.Linear(3, 2)))
            >>> tuple(net(torch.randn(5, 3)).shape)
            (5, 2)
        """
        if isinstance(blend, bool) or not isinstance(blend, (int, float)):
            raise TypeError(f"blend must be a float in [0, 1], got {type(blend).__name__}")
        if not 0.0 <= blend <= 1.0:
            raise ValueError(f"blend must be in [0, 1], got {blend}")
        graph = trace(model, example_input)  # once: the prediction and rescaling read it
        predicted = self._predict_traced(model, graph)
        if rescale:
            initial = {
                k: v.detach().to(self.op_embedding.weight) for k, v in model.named_parameters()
            }
            predicted = rescale_weights(graph, predicted, initial)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if blend and p.dim() >= 2:
                    p.mul_(blend).add_(predicted[name].to(p), alpha=1.0 - blend)
                else:
                    p.copy_(predicted[name])
        return model

    # -- training ----------------------------------------------------------------------------
    def fit(
        self,
        architectures: Architectures,
        data: tuple[Tensor, Tensor],
        *,
        steps: int = 1000,
        architectures_per_step: int = 4,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        pool_size: int = 256,
        seed: int = 0,
        progress: bool | Callable[[Iterable[int]], Iterable[int]] = False,
    ) -> GraphHyperNetwork:
        """Train on a classification set: each step predicts the parameters of a few
        architectures and descends the mean cross-entropy of those networks on a batch.

        Args:
            architectures: a list of ``nn.Module`` s or zero-argument factories, or a sampler
                with ``sample(n, seed=...)`` (e.g. :class:`ArchitectureSpace`), from which
                ``pool_size`` architectures are drawn once.
            data: ``(x, y)``, inputs and int64 class labels.
            steps: optimisation steps.
            architectures_per_step: networks whose loss is averaged in each step.
            batch_size: samples per step (the same batch for every network of the step).
            lr: AdamW learning rate (cosine-decayed to 0).
            weight_decay: AdamW weight decay.
            pool_size: architectures drawn from a sampler.
            seed: batches, architecture choice and dropout come from this seed; the global
                random state is restored afterwards.
            progress: True for a tqdm bar, or a function wrapping the step iterable.

        Returns:
            ``self``; ``history_`` holds the loss of every step.

        Raises:
            TypeError: ``data`` is not a pair of tensors, or an architecture is not a module.
            ValueError: ``x`` and ``y`` differ in length, or the loss becomes non-finite.
        """
        x, y = _check_data(data)
        for value, name in (
            (steps, "steps"),
            (architectures_per_step, "architectures_per_step"),
            (batch_size, "batch_size"),
            (pool_size, "pool_size"),
        ):
            check_positive_int(value, name)
        dev = self.op_embedding.weight.device
        with torch.random.fork_rng(devices=[]):  # factories initialise with the global stream
            models = [m.to(dev).train() for m in _instantiate(architectures, pool_size, seed)]
        graphs = [trace(m, x[:2].to(dev)) for m in models]
        encoded = [self._encode(g) for g in graphs]
        roles = [unit_roles(g) for g in graphs]
        widths = [
            graphs[g].nodes[i].shape[0]
            for g, role in enumerate(roles)
            if role is not None
            for i, node in enumerate(graphs[g].nodes)
            if node.param is not None and role[node.param][0]
        ]
        if widths:  # a second fit widens the range, never narrows it
            self.config["unit_range"] = max(widths + [self.config.get("unit_range") or 0])
        shifting = self.config.get("unit_shifts", False) and self.config["decoder"] != "tiling"
        table = int(getattr(getattr(self.decoder, "lowrank", self.decoder), "table", 1))
        step_shifts: list[int] = []  # this step's shift of every architecture of the pool
        optimizer = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0)))
        )
        iterator: Iterable[int] = range(steps)
        if progress is True:
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, desc="fit GHN")
        elif callable(progress):
            iterator = progress(iterator)

        def mean_loss(chosen: list[int], xb: Tensor, yb: Tensor) -> Tensor:
            predicted = self._predict(
                [graphs[i] for i in chosen],
                [encoded[i] for i in chosen],
                [roles[i] for i in chosen],
                [step_shifts[i] for i in chosen] if step_shifts else None,
            )
            return torch.stack(
                [
                    F.cross_entropy(torch.func.functional_call(models[i], p, (xb,)), yb)
                    for i, p in zip(chosen, predicted, strict=True)
                ]
            ).mean()

        # (a step's architectures need not use every decoder: DDP must look for unused ones)
        objective = data_parallel(WeightedLoss(self, mean_loss), find_unused_parameters=True)
        self.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            gen = torch.Generator().manual_seed(seed)
            for step in iterator:
                chosen = torch.randperm(len(models), generator=gen)[:architectures_per_step]
                batch = torch.randint(0, len(x), (batch_size,), generator=gen)
                if shifting:  # drawn for the whole pool, so every rank agrees
                    step_shifts = torch.randint(0, table, (len(models),), generator=gen).tolist()
                xb, yb = x[batch].to(dev), y[batch].to(dev)
                # under torchrun each rank takes its share of the step's architectures
                part, weight = shard(chosen)
                loss = objective(weight, part.tolist(), xb, yb)
                if not torch.isfinite(loss):
                    raise ValueError(
                        f"the training loss became {float(loss.detach())} at "
                        f"step {step}; lower lr (={lr})"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.parameters(), 5.0)
                optimizer.step()
                schedule.step()
                self.history_.append(float(loss.detach()))
        self.eval()
        return self

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | Path | IO[bytes]) -> None:
        """Write ``{"format", "config", "state"}``: loadable with ``torch.load(weights_only=True)``.

        Example:
            >>> import tempfile, os
            >>> ghn = GraphHyperNetwork(dim=8)
            >>> path = os.path.join(tempfile.mkdtemp(), "ghn.pt")
            >>> ghn.save(path)
            >>> GraphHyperNetwork.load(path).config == ghn.config
            True
        """
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        blob = {"format": FORMAT, "config": dict(self.config), "state": state}
        torch.save(blob, path if hasattr(path, "write") else str(path))

    @classmethod
    def load(cls, path: str | Path) -> GraphHyperNetwork:
        """Read a file written by :meth:`save` (``weights_only=True``, on the CPU).

        Raises:
            ValueError: the file is not a graph hypernetwork saved by :meth:`save`.
        """
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
            raise ValueError(
                f"{path} is not a graph hypernetwork file: expected format "
                f"{FORMAT!r}, got {got!r}; write it with GraphHyperNetwork.save"
            )
        ghn = cls(**blob["config"])
        ghn.load_state_dict(blob["state"])
        return ghn.eval()


def _check_data(data: object) -> tuple[Tensor, Tensor]:
    if not (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, Tensor) for t in data)
    ):
        raise TypeError(f"data must be a pair (x, y) of tensors, got {type(data).__name__}")
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if y.dtype != torch.long:
        raise TypeError(f"y must hold int64 class labels, got {y.dtype}")
    return x, y


def _instantiate(architectures: Architectures, pool_size: int, seed: int) -> list[nn.Module]:
    items = (
        architectures.sample(pool_size, seed=seed)
        if hasattr(architectures, "sample")
        else list(architectures)
    )
    if not items:
        raise ValueError("architectures must not be empty")
    models = []
    for item in items:
        model = item if isinstance(item, nn.Module) else item() if callable(item) else item
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"each architecture must be an nn.Module or a function returning "
                f"one, got {type(model).__name__}"
            )
        models.append(model)
    return models
