"""HyperTab vs RandomForest, HistGradientBoosting, XGBoost, LogisticRegression,
scikit-learn's MLP and hypertab 0.6.2 on eight small data sets.

Stratified 70/30 splits (training rows capped at 500), seeds 0-2, standardised features,
balanced accuracy; fit time relative to RandomForest on the same rows. One thread.

    python benchmarks/tabular.py [--seeds 0 1 2] [--no-reference]
"""

from __future__ import annotations

import numpy as np
from common import parser, save, setup, table

from hypernetworks.tabular._benchmark import average_ranks, evaluate
from hypernetworks.tabular._data import BENCHMARK_DATASETS


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--datasets", nargs="+", default=BENCHMARK_DATASETS)
    p.add_argument("--no-reference", action="store_true", help="skip hypertab 0.6.2 (slow)")
    args = p.parse_args()
    info = setup(args)
    rows = []
    for name in args.datasets:
        rows += evaluate(name, args.seeds, reference=not args.no_reference)
        print(f"done {name}", flush=True)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    ranks = average_ranks(rows)
    wide = []
    for name in args.datasets:
        row = {"dataset": name}
        row.update({m: r["balanced_accuracy"] for r in rows if r["dataset"] == name
                    for m in [r["method"]]})
        wide.append(row)
    wide.append({"dataset": "average rank", **ranks})
    wide.append({"dataset": "fit time / RF (mean)",
                 **{m: float(np.mean([r["fit_time_vs_rf"] for r in rows if r["method"] == m]))
                    for m in methods}})
    print(table(wide, [("dataset", "data set", "")] + [(m, m, ".3f") for m in methods]))
    print(f"\nwrote {save(args.out, 'tabular', {'info': info, 'rows': rows, 'ranks': ranks})}")


if __name__ == "__main__":
    main()
