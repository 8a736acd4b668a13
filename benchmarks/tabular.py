"""HyperTab vs RandomForest, HistGradientBoosting, XGBoost, LogisticRegression,
scikit-learn's MLP and hypertab 0.6.2 on the eight development sets (the sets that chose
HyperTab's defaults; the held-out protocol is ``benchmarks/tabular_heldout.py``).

Stratified 70/30 splits (training rows capped at 500), seeds 0-2, standardised features,
balanced accuracy; fit time relative to RandomForest on the same rows. One thread.

    python benchmarks/tabular.py [--seeds 0 1 2] [--no-reference]
"""

from __future__ import annotations

import numpy as np

from common import parser, save, setup, table
from hypernetworks.datasets import TABULAR_DEVELOPMENT
from hypernetworks.tabular import Encoded, average_ranks, evaluate


class ReferenceHyperTab:
    """hypertab 0.6.2 made usable in the comparison: seeded, float32 input, ``fit``
    returning self, integer predictions (wrapped in ``Encoded`` for labels 0..k-1). Its
    own training and prediction are left as they are. hypertab imports torchvision,
    which does not work with torch 2.13 here: the anchor runs only where it imports."""

    def __init__(self, epochs: int = 50, random_state: int = 0) -> None:
        self.epochs = epochs
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict:
        return {"epochs": self.epochs, "random_state": self.random_state}

    def set_params(self, **params):
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X, y):
        import torch
        from hypertab import HyperTabClassifier as Reference

        torch.manual_seed(self.random_state)
        self._model = Reference(epochs=self.epochs, device="cpu")
        self._model.fit(np.asarray(X, dtype=np.float32), np.asarray(y))
        return self

    def predict(self, X):
        out = self._model.predict(np.asarray(X, dtype=np.float32))
        out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
        return out.astype(int)


def reference_methods(enabled: bool) -> dict:
    if not enabled:
        return {}
    try:
        import hypertab  # noqa: F401
    except ImportError as error:
        print(f"hypertab 0.6.2 not importable ({error}); its column is left out")
        return {}
    return {"hypertab 0.6.2": lambda seed: Encoded(ReferenceHyperTab(random_state=seed))}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--datasets", nargs="+", default=list(TABULAR_DEVELOPMENT))
    p.add_argument("--no-reference", action="store_true", help="skip hypertab 0.6.2 (slow)")
    args = p.parse_args()
    info = setup(args)
    rows = []
    for name in args.datasets:
        rows += evaluate(name, args.seeds, extra=reference_methods(not args.no_reference))
        print(f"done {name}", flush=True)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    ranks = average_ranks(rows)
    wide = []
    for name in args.datasets:
        row = {"dataset": name}
        row.update(
            {m: r["balanced_accuracy"] for r in rows if r["dataset"] == name for m in [r["method"]]}
        )
        wide.append(row)
    wide.append({"dataset": "average rank", **ranks})
    wide.append(
        {
            "dataset": "fit time / RF (mean)",
            **{
                m: float(np.mean([r["fit_time_vs_rf"] for r in rows if r["method"] == m]))
                for m in methods
            },
        }
    )
    print(table(wide, [("dataset", "data set", "")] + [(m, m, ".3f") for m in methods]))
    print(f"\nwrote {save(args.out, 'tabular', {'info': info, 'rows': rows, 'ranks': ranks})}")


if __name__ == "__main__":
    main()
