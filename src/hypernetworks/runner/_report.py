"""What a run shows: progress bars, plain-text tables, and the check for NaN losses."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from torch import Tensor

from ._errors import NonFiniteError

__all__ = ["check_finite", "format_table", "progress"]

T = TypeVar("T")


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True
) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm progress bar on stderr; plain iteration when disabled or
    when tqdm is not installed."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm comes with the recipe extras; without it, no bar
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def format_table(
    rows: Sequence[Mapping[str, object]], columns: Sequence[tuple[str, str, str]]
) -> str:
    """A plain-text table. ``columns`` are ``(key, header, format spec)``; a missing or
    None value prints as ``-``; the first column is left-aligned, the others right-aligned.

    Example:
        >>> print(format_table([{"m": "ours", "acc": 0.91234}], [("m", "method", ""),
        ...                                                      ("acc", "accuracy", ".3f")]))
        method  accuracy
        ------  --------
        ours       0.912
    """

    def cell(row: Mapping[str, object], key: str, spec: str) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        return format(value, spec) if spec and not isinstance(value, str) else str(value)

    cells = [[cell(r, k, f) for k, _, f in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h, _) in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if i else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    lines = [line([h for _, h, _ in columns]), line(["-" * w for w in widths])]
    lines += [line(c) for c in cells]
    return "\n".join(lines)


def check_finite(value: Tensor | float, *, step: object, what: str = "loss") -> float:
    """Return ``value`` as a float, or raise :class:`NonFiniteError` naming the step and
    the value when it is NaN or infinite.

    Example:
        >>> check_finite(0.5, step=3)
        0.5
        >>> check_finite(float("nan"), step=3)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        hypernetworks.runner.NonFiniteError: the loss became nan at step 3
    """
    number = float(value.detach()) if isinstance(value, Tensor) else float(value)
    if not math.isfinite(number):
        raise NonFiniteError(
            f"the {what} became {number} at step {step}; training stopped (finished work and "
            "the last checkpoint are kept). Lower the learning rate or check the data"
        )
    return number
