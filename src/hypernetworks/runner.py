"""Runner machinery shared by every recipe: progress, results tables, metrics, plots,
checkpoints.

Recipes (``hypernetworks.continual``, and the sweep and tabular recipes to come) use these
helpers so that every ``hypernetworks <recipe> --out DIR`` run looks and resumes alike:
``DIR/metrics.json``, ``DIR/*.png`` and ``DIR/checkpoint.pt`` (loadable with
``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

__all__ = [
    "format_table",
    "load_checkpoint",
    "plot_matrix",
    "progress",
    "save_checkpoint",
    "write_metrics",
]


def progress(iterable: Iterable, *, total: int | None = None, desc: str = "",
             enabled: bool = True) -> Iterable:
    """Wrap ``iterable`` in a tqdm progress bar (stderr); plain iteration if disabled or
    tqdm is missing."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm comes with the recipe extras; without it, no bar
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def format_table(rows: Sequence[Mapping[str, object]], columns: Sequence[tuple[str, str, str]]
                 ) -> str:
    """A plain-text table: ``columns`` are ``(key, header, format spec)``."""
    def cell(row: Mapping[str, object], key: str, spec: str) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        return format(value, spec) if spec and not isinstance(value, str) else str(value)

    cells = [[cell(r, k, f) for k, _, f in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h, _) in enumerate(columns)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w)
                       for i, ((_, h, _), w) in enumerate(zip(columns, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for c in cells:
        lines.append("  ".join(v.rjust(w) if i else v.ljust(w)
                               for i, (v, w) in enumerate(zip(c, widths))))
    return "\n".join(lines)


def write_metrics(out: str | Path, metrics: Mapping[str, object]) -> Path:
    """Write ``metrics`` to ``out/metrics.json`` (creating ``out``); returns the path."""
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    target = path / "metrics.json"
    target.write_text(json.dumps(metrics, indent=2))
    return target


def plot_matrix(matrix: Sequence[Sequence[float | None]], path: str | Path, *, title: str,
                xlabel: str, ylabel: str) -> Path:
    """Save a heatmap of ``matrix`` (None cells left blank) as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = torch.tensor([[float("nan") if v is None else v for v in row] for row in matrix])
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * data.shape[1], 0.8 + 0.5 * data.shape[0]))
    image = ax.imshow(data.numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if not torch.isnan(data[i, j]):
                ax.text(j, i, f"{100 * data[i, j]:.0f}", ha="center", va="center",
                        color="white" if data[i, j] < 0.6 else "black", fontsize=8)
    ax.set_xticks(range(data.shape[1]))
    ax.set_yticks(range(data.shape[0]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_checkpoint(path: str | Path, state: Mapping[str, object]) -> Path:
    """Save ``state`` (tensors, numbers, strings, lists, dicts) atomically with torch.save."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(dict(state), partial)
    partial.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from at {path}")
    return torch.load(path, weights_only=True)
