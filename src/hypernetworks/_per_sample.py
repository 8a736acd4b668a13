"""Per-sample weights: sample ``i`` runs through the network generated from ``c[i]``.

This module owns the whole per-sample path, in this order:

1. **Distinct conditions.** Each distinct condition of the batch is generated once
   (:func:`~hypernetworks._binding.distinct_rows`).
2. **Weight forms.** A head that declares the factored form
   (:meth:`~hypernetworks.HeadModule.factored`) hands over :class:`Factored` or
   :class:`Contracted` weights, which layers with a batched rule apply without building
   them; other heads hand over built tensors (see ``_forms.py``).
3. **Which path runs** (recorded in ``model.per_sample_path`` and logged at DEBUG level
   on the ``hypernetworks`` logger):

   * ``"grouped"`` — few distinct conditions, and the target treats samples
     independently: each distinct weight set runs once, vmapped, on its samples laid
     out as a padded sub-batch (padding repeats a real member of the group, so no
     padding row can produce a NaN or reach a gradient).
   * ``"batched"`` — the target's own ``forward`` runs once on the real batch, and the
     layers holding generated weights apply each sample's weights through the batched
     rules of ``_batched.py``. Masks, data-dependent control flow and caches therefore
     work as in the plain model.
   * ``"vmap"`` — the general fallback: ``torch.func.vmap`` over samples, each a batch
     of one. Used for targets whose samples interact (BatchNorm in training mode), for
     recurrent layers, and once a function without a batched rule has met a generated
     weight (the reason is kept in ``model.per_sample_fallback``).

In every path output ``i`` equals ``materialize(c[i])`` applied to sample ``i``; the
tests check that on every supported target.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn.modules.batchnorm import _BatchNorm, _NormBase
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from ._batched import PerSampleWeights, Unsupported, placeholder
from ._binding import distinct_rows
from ._forms import Form, base_of, take, unsqueeze, with_rows
from ._forms import rows as form_rows
from ._recurrent import RecurrentKernels

if TYPE_CHECKING:
    from ._model import HyperModel

__all__ = ["batched_binding", "check_inputs", "couples_samples", "head_forms", "per_sample"]

log = logging.getLogger("hypernetworks")


# -- inputs ---------------------------------------------------------------------------
def check_inputs(batch: int, args: tuple, kwargs: Mapping[str, object]) -> None:
    """Refuse inputs of which no tensor carries the batch of conditions in dim 0."""
    leaves = [leaf for leaf in tree_flatten((args, dict(kwargs)))[0] if isinstance(leaf, Tensor)]
    if any(t.dim() >= 1 and t.shape[0] == batch for t in leaves):
        return
    shown = f"; input #0 has shape {tuple(leaves[0].shape)}" if leaves else ""
    raise ValueError(
        f"a batch of {batch} conditions needs inputs with {batch} samples along dim 0{shown}. "
        f"Tensors whose dim 0 is {batch} are split per sample and others are shared; a 1-D "
        f"input is a batch of scalars. To run one unbatched sample under every condition, "
        f"repeat it (e.g. x.expand({batch}, ...)), or pass one condition"
    )


def _split_leaves(batch: int, args: tuple, kwargs: Mapping[str, object]):
    """Flatten the inputs; the tensors whose dim 0 is the batch are the per-sample ones."""
    leaves, spec = tree_flatten((args, dict(kwargs)))
    per = [
        i
        for i, v in enumerate(leaves)
        if isinstance(v, Tensor) and v.dim() >= 1 and v.shape[0] == batch
    ]
    return leaves, spec, per


# -- couplings and running statistics ------------------------------------------------
def _running_stats(module: nn.Module) -> dict[str, Tensor]:
    """Buffers that normalisation layers update in place during a training forward."""
    stats = {}
    for prefix, sub in module.named_modules():
        if isinstance(sub, _NormBase) and sub.track_running_stats and sub.training:
            for name, buffer in sub.named_buffers(recurse=False):
                if buffer is not None:
                    stats[f"{prefix}.{name}" if prefix else name] = buffer
    return stats


def couples_samples(module: nn.Module) -> bool:
    """Whether a sample's output can depend on the other samples of its batch.

    True for BatchNorm using batch statistics (training mode, or no running statistics)
    and for any layer updating running statistics. Other ``torch.nn`` layers treat
    samples independently; custom modules are assumed to as well.
    """
    for sub in module.modules():
        if isinstance(sub, _BatchNorm) and (sub.training or not sub.track_running_stats):
            return True
    return bool(_running_stats(module))


# -- grouping ----------------------------------------------------------------------------
class Groups(NamedTuple):
    """Which weight row each sample uses, and its padded sub-batch layout."""

    row: Tensor  # [B]: the group (weight row) of each sample
    slot: Tensor  # [B]: the sample's position in its group's sub-batch
    table: Tensor  # [rows, size]: the sample in each slot (padding repeats a member)
    size: int  # samples per group after padding
    rows: int  # number of groups


def plan_groups(index: Tensor, count: int) -> Groups:
    """Lay out samples with weight row ``index[i]`` into ``count`` padded sub-batches."""
    batch = len(index)
    order = torch.argsort(index, stable=True)
    sizes = torch.bincount(index, minlength=count)
    starts = sizes.cumsum(0) - sizes
    positions = torch.arange(batch, device=index.device)
    slot = torch.empty_like(index)
    slot[order] = positions - starts[index[order]]
    size = int(sizes.max())
    # Padding slots hold the group's first member: a real sample, so nothing degenerate
    # (e.g. a 0/0 of masked pooling over an all-zero row) can appear, even in gradients.
    table = order[starts].unsqueeze(1).expand(count, size).clone()
    table[index, slot] = positions
    return Groups(index, slot, table, size, count)


def _check_batch_first(size: int):
    position = [0]

    def check(leaf: object) -> object:
        position[0] += 1
        if isinstance(leaf, Tensor) and (leaf.dim() == 0 or leaf.shape[0] != size):
            raise ValueError(
                "with a batch of conditions every tensor the target returns must have the "
                f"batch as its first dimension; output #{position[0] - 1} for a group of "
                f"{size} sample(s) has shape {tuple(leaf.shape)} (e.g. use batch_first=True, "
                "or return only batch-first outputs)"
            )
        return leaf

    return check


_LOWER_PRECISION = {
    F.linear,
    torch.matmul,
    torch.mm,
    torch.bmm,
    torch.addmm,
    torch.baddbmm,
    torch.addbmm,
    F.conv1d,
    F.conv2d,
    F.conv3d,
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
    F.scaled_dot_product_attention,
    F.multi_head_attention_forward,
    Tensor.matmul,
}


class _Autocast(TorchFunctionMode):
    """Autocast's lower-precision casts, inside vmap (which runs below autocast)."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _LOWER_PRECISION:

            def cast(value: object) -> object:
                if isinstance(value, Tensor) and value.is_floating_point():
                    return value.to(self.dtype)
                return value

            args, kwargs = tree_map(cast, (args, kwargs))
        return func(*args, **kwargs)


def _tensor(module: nn.Module, name: str) -> Tensor:
    """The tensor called ``name``: a parameter, or what ``functional_call`` bound in its
    place (``get_parameter`` refuses those)."""
    path, _, attribute = name.rpartition(".")
    return getattr(module.get_submodule(path) if path else module, attribute)


def _holders(module: nn.Module, forms: Mapping[str, Form]) -> dict[str, Tensor]:
    """A placeholder per factored weight (θ₀, or a zero of the parameter's shape)."""
    holders = {}
    for name, form in forms.items():
        if not isinstance(form, Tensor):
            holders[name] = placeholder(
                base_of(form), _tensor(module, name).shape, form_rows(form)[0]
            )
    return holders


def call_vmapped(
    module: nn.Module,
    forms: Mapping[str, Form],
    args: tuple,
    kwargs: Mapping[str, object],
    *,
    groups: Groups | None,
    recurrent: bool,
) -> object:
    """Run the target vmapped: one call per weight row, on its sample or padded group.

    ``forms`` hold one row per group (``groups``), or per sample (``groups=None``: each
    sample is a batch of one). Built weights are bound directly; factored ones through
    placeholders and :class:`PerSampleWeights` (a batch of one per call).
    """
    batch = len(groups.row) if groups is not None else _batch_of(forms)
    leaves, spec, per = _split_leaves(batch, args, kwargs)
    if groups is None:
        size, inputs = 1, [leaves[i].unsqueeze(1) for i in per]
    else:
        size, inputs = groups.size, [leaves[i][groups.table] for i in per]
    count = inputs[0].shape[0]
    stats = _running_stats(module)
    group_stats = {k: v.unsqueeze(0).expand(count, *v.shape).clone() for k, v in stats.items()}
    holders = _holders(module, forms)
    built = {n: f for n, f in forms.items() if isinstance(f, Tensor)}
    rows = {n: form_rows(f) for n, f in forms.items() if n in holders}
    device_type = form_rows(next(iter(forms.values())))[0].device.type
    autocast = (
        torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
    )

    def one(w: dict, s: dict, r: dict, *xs: Tensor) -> object:
        local = list(leaves)
        for i, x in zip(per, xs, strict=True):
            local[i] = x
        call_args, call_kwargs = tree_unflatten(local, spec)
        with contextlib.ExitStack() as stack:
            if holders:
                table = {
                    id(holders[n]): (holders[n], unsqueeze(with_rows(forms[n], r[n])))
                    for n in holders
                }
                stack.enter_context(PerSampleWeights(table, 1, strict=False))
            if recurrent:
                stack.enter_context(RecurrentKernels())
            if autocast is not None:
                stack.enter_context(_Autocast(autocast))
            out = functional_call(module, {**w, **holders, **s}, tuple(call_args), call_kwargs)
        return tree_map(_check_batch_first(size), out)

    # MultiheadAttention's fused inference kernel has no vmap batching rule; inside this
    # call it takes the regular (vmappable) path instead.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        out = vmap(one, randomness="different")(built, group_stats, rows, *inputs)
    except ValueError as error:
        if "Expected more than 1 value per channel" in str(error):
            raise ValueError(
                "with per-sample conditions each sample runs as a batch of one, and a "
                "normalisation layer in training mode cannot take statistics from one value "
                "per channel; call model.eval(), or give the batch one shared condition"
            ) from error
        raise
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    with torch.no_grad():
        for name, buffer in stats.items():
            updated = group_stats[name]
            buffer.copy_(updated.mean(0) if buffer.is_floating_point() else updated[0])
    if groups is None:
        return tree_map(lambda t: t.squeeze(1) if isinstance(t, Tensor) else t, out)
    return tree_map(lambda t: t[groups.row, groups.slot] if isinstance(t, Tensor) else t, out)


def _batch_of(forms: Mapping[str, Form]) -> int:
    return int(form_rows(next(iter(forms.values())))[0].shape[0])


# -- the batched path ------------------------------------------------------------------
@contextlib.contextmanager
def batched_binding(
    module: nn.Module, forms: Mapping[str, Form], batch: int, strict: bool = True
) -> Iterator[nn.Module]:
    """Bind per-sample ``forms`` (leading dim ``batch``) to ``module`` for a real batch.

    Inside the block, ``module``'s own methods (``forward``, Hugging Face ``generate`` ...)
    apply each sample's weights to that sample through the batched rules.
    """
    holders = {}
    for name, form in forms.items():
        holders[name] = placeholder(base_of(form), _tensor(module, name).shape, form_rows(form)[0])
    table = {id(holders[n]): (holders[n], forms[n]) for n in forms}
    names = {id(holders[n]): n for n in forms}
    with torch.nn.utils.stateless._reparametrize_module(module, holders, tie_weights=True):
        with PerSampleWeights(table, batch, strict=strict, names=names):
            yield module


def _call_batched(
    module: nn.Module,
    forms: Mapping[str, Form],
    batch: int,
    args: tuple,
    kwargs: Mapping[str, object],
) -> object:
    with batched_binding(module, forms, batch) as net:
        return net(*args, **kwargs)


# -- orchestration ---------------------------------------------------------------------
def head_forms(model: HyperModel, features: Tensor, factored: bool) -> dict[str, Form]:
    from ._heads import HeadModule

    bases = model._bases()
    head = model.head
    if factored and isinstance(head, HeadModule):
        parts: Sequence[Form] = head.factored(features, bases)
    else:
        parts = head(features, bases)
    forms: dict[str, Form] = {}
    for name, part in zip(model.generated, parts, strict=True):
        dtype = model._target_tensor(name).dtype  # autocast may have changed the head's
        forms[name] = part.to(dtype) if isinstance(part, Tensor) and part.dtype != dtype else part
    return forms


def _record(model: HyperModel, path: str, reason: str | None = None) -> None:
    model.per_sample_path = path
    if reason is not None:
        model.per_sample_fallback = reason
    log.debug("per-sample path: %s%s", path, f" ({reason})" if reason else "")


def per_sample(model: HyperModel, emb: Tensor, args: tuple, kwargs: Mapping[str, Any]) -> object:
    """Run sample ``i`` of the inputs through the network generated from ``emb[i]``."""
    batch = emb.shape[0]
    check_inputs(batch, args, kwargs)
    distinct = distinct_rows(emb)
    rows, inverse = (emb, None) if distinct is None else (emb[distinct[0]], distinct[1])
    count = rows.shape[0]
    features = model.body(rows)
    target = model.target
    coupled = couples_samples(target)
    vmap_only = coupled or model._recurrent
    if inverse is not None and not coupled:
        plan = plan_groups(inverse, count)
        # Few distinct conditions: run each weight set once on its samples, when padding
        # at most doubles the work and vmap can run the target.
        # (vmap runs below autocast, so under autocast the batched path runs instead.)
        autocast = torch.is_autocast_enabled(emb.device.type)
        if (
            plan.size * count <= 2 * batch
            and model.per_sample_vmap_error is None
            and not (autocast and not model._recurrent and model.per_sample_fallback is None)
        ):
            forms = head_forms(model, features, factored=False)
            try:
                out = call_vmapped(
                    target, forms, args, kwargs, groups=plan, recurrent=model._recurrent
                )
            except RuntimeError as error:  # vmap cannot run this target: use the batched path
                if model._recurrent or "vmap" not in str(error):
                    raise
                model.per_sample_vmap_error = str(error).splitlines()[0]
            else:
                _record(model, "grouped")
                return out
    forms = head_forms(model, features, factored=True)
    if inverse is not None:
        forms = {n: take(f, inverse) for n, f in forms.items()}
    if not vmap_only and model.per_sample_fallback is None:
        try:
            out = _call_batched(target, forms, batch, args, kwargs)
        except Unsupported as error:
            _record(model, "vmap", str(error))
        else:
            _record(model, "batched")
            return out
    try:
        out = call_vmapped(target, forms, args, kwargs, groups=None, recurrent=model._recurrent)
    except RuntimeError as error:
        if "vmap" not in str(error) or model.per_sample_fallback is None:
            raise
        raise RuntimeError(
            "per-sample weights cannot run on this target: the batched rules stop at "
            f"{model.per_sample_fallback}, and vmap fails with: {str(error).splitlines()[0]} "
            "Leave that parameter out of params, or give the batch one shared condition"
        ) from error
    _record(model, "vmap")
    if vmap_only:  # a property of this call (e.g. training mode), not kept
        log.debug("per-sample path: vmap (samples interact, or recurrent layers)")
    return out
