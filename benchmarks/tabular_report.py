"""Markdown tables for the docs from the JSON that ``tabular_heldout.py`` writes.

    python benchmarks/tabular_report.py [--results benchmarks/results]

Per split (development, held-out, regression): the per-set table (mean ± std over seeds)
and a summary (mean score, average rank among HyperTab and the 5 baselines, fit CPU time
relative to RandomForest: mean and median over sets), one summary row per HyperTab
variant, each ranked against the baselines alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

OURS = "HyperTab (ours)"


def per_set(summary: dict, methods: list[str]) -> str:
    lines = ["| data set | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for entry in summary["datasets"]:
        best = max(entry[m]["mean"] for m in methods)
        cells = []
        for m in methods:
            cell = f"{entry[m]['mean']:.3f} ± {entry[m]['std']:.3f}"
            cells.append(f"**{cell}**" if entry[m]["mean"] == best else cell)
        lines.append(f"| {entry['dataset']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overview(summaries: dict, metric: str) -> str:
    ours = summaries[OURS]
    baselines = [m for m in ours["overall"] if m != OURS]
    lines = [
        f"| method | mean {metric} | average rank (1 = best) | fit time / RF (mean, median) |",
        "|---|---:|---:|---:|",
    ]
    rows = [(OURS, ours["overall"][OURS])]
    rows += [(m, ours["overall"][m]) for m in baselines]
    rows += [(v, s["overall"][v]) for v, s in summaries.items() if v != OURS]
    for name, o in sorted(rows, key=lambda r: r[1]["average_rank"]):
        label = f"**{name}**" if name == OURS else name
        lines.append(
            f"| {label} | {o['mean_score']:.3f} | {o['average_rank']:.2f} | "
            f"{o['fit_time_vs_rf']:.1f}×, {o['fit_time_vs_rf_median']:.1f}× |"
        )
    return "\n".join(lines)


def head_to_head(summary: dict) -> str:
    methods = [m for m in summary["overall"] if m != OURS]
    parts = []
    for m in methods:
        wins = sum(e[OURS]["mean"] > e[m]["mean"] for e in summary["datasets"])
        losses = sum(e[OURS]["mean"] < e[m]["mean"] for e in summary["datasets"])
        parts.append(f"{m} {wins}–{losses}")
    return "HyperTab's wins–losses per set: " + ", ".join(parts) + "."


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="benchmarks/results")
    args = p.parse_args()
    for name, metric, title in (
        ("tabular_development", "bal. acc.", "Development sets (they chose the defaults)"),
        ("tabular_heldout", "bal. acc.", "Held-out sets"),
        ("tabular_regression", "R²", "Regression"),
    ):
        path = Path(args.results) / f"{name}.json"
        if not path.exists():
            continue
        summaries = json.loads(path.read_text())["summaries"]
        if OURS not in summaries:
            continue
        ours = summaries[OURS]
        methods = list(ours["overall"])
        others = [v for v in summaries if v != OURS]
        seeds = ", ".join(map(str, ours["seeds"]))
        print(f"\n#### {title}: {len(ours['datasets'])} sets, seeds {seeds}\n")
        print(overview(summaries, metric))
        print()
        print(head_to_head(ours))
        ratios = [e[OURS]["fit_cpu_s"] / e["RandomForest"]["fit_cpu_s"] for e in ours["datasets"]]
        over = int(np.sum(np.array(ratios) > 10))
        print(f"Fit time / RF per set: max {max(ratios):.1f}× ({over} sets over 10×).")
        print()
        table = ours
        if others:  # add the variants' columns
            table = {"datasets": []}
            for entry in ours["datasets"]:
                row = dict(entry)
                for v in others:
                    rows = summaries[v]["datasets"]
                    row[v] = next(e for e in rows if e["dataset"] == entry["dataset"])[v]
                table["datasets"].append(row)
        print(per_set(table, methods + others))


if __name__ == "__main__":
    main()
