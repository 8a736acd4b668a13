"""Merge the HyperShot runs with test-time adaptation into benchmarks/results/fewshot.json.

The HyperShot runs (``fewshot_hypershot_tta1.json``, ``fewshot_hypershot_tta5.json``,
``fewshot_hypershot_tta5_seed3.json``, from ``benchmarks/fewshot.py --methods hypershot``)
replace the HyperShot rows of ``fewshot.json``; the runs without adaptation are kept under
``hypershot_no_adaptation_runs``. Prints the tables of docs/benchmarks.md §13.

    python benchmarks/fewshot_merge.py
"""

# ruff: noqa: E501  (long table and note strings)

import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fewshot import summarize  # noqa: E402

R = str(Path(__file__).parent / "results") + "/"
old = json.load(open(R + "fewshot.json"))
tta = []
infos = {}
for name in ("tta1", "tta5", "tta5_seed3"):
    path = R + f"fewshot_hypershot_{name}.json"
    if os.path.exists(path):
        d = json.load(open(path))
        seen = {(r["shots"], r["seed"]) for r in tta}
        tta += [r for r in d["runs"] if (r["shots"], r["seed"]) not in seen]
        infos[f"hypershot_{name}"] = d["info"]
        defaults = d["defaults"]
have = {(r["shots"], r["seed"]) for r in tta}
if "hypershot_no_adaptation_runs" in old:
    no_adapt = old["hypershot_no_adaptation_runs"]
else:
    no_adapt = [dict(r, method="hypershot") for r in old["runs"] if r["method"] == "hypershot"]
others = [r for r in old["runs"] if r["method"] != "hypershot"]
rows = tta + others
for r in rows:
    r.setdefault("test_episodes", 600)
rows.sort(key=lambda r: (r["shots"], r["method"], r["seed"]))
summary = summarize(rows)
for s in summary:
    runs = [r for r in rows if r["method"] == s["method"] and r["shots"] == s["shots"]]
    s["test_episodes"] = sorted({r["test_episodes"] for r in runs})
    if s["method"] == "hypershot":
        s["prototype_rule_mean"] = statistics.fmean(
            100 * r[s["benchmark"]]["paired"]["prototype_accuracy"] for r in runs
        )
        s["views_prototype_rule_mean"] = statistics.fmean(
            100 * r[s["benchmark"]]["paired"]["views_prototype_accuracy"] for r in runs
        )
        vals = [100 * r[s["benchmark"]]["paired"]["views_prototype_accuracy"] for r in runs]
        s["views_prototype_rule_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
no_adapt_summary = summarize(no_adapt)
out = {
    "info": {**old["info"], **infos},
    "defaults": defaults,
    "summary": summary,
    "runs": rows,
    "hypershot_no_adaptation_summary": no_adapt_summary,
    "hypershot_no_adaptation_runs": no_adapt,
    "previous_hypershot_runs": old["previous_hypershot_runs"],
    "note": (
        "hypershot (with test-time adaptation, views=16, adapt_steps=50): python benchmarks/fewshot.py "
        "--methods hypershot --seeds 1 2 3 --shots K --jobs 1 --name fewshot_hypershot_ttaK (K = 1, 5); "
        "its runs hold 'paired': the prototype rule on the same backbone (= ProtoNet, since the backbone "
        "trains exactly as ProtoNet's) and 'views_*': the prototype rule with the same 16 augmented support "
        "views in its class means, both on the same episodes. protonet: python benchmarks/fewshot.py --seeds 1 2 3 "
        "--jobs 4 (unchanged); maml/finetune: python benchmarks/fewshot.py --methods maml finetune --seeds 1 2 3 "
        "--jobs 1 --name fewshot_baselines. hypershot_no_adaptation_runs: the same HyperShot without test-time "
        "adaptation (--views 0 --adapt-steps 0; name fewshot_hypershot). previous_hypershot_runs: the cosine-kernel "
        "HyperShot without the prototype residual. Defaults chosen on the validation scripts with seed 0."
    ),
}
json.dump(out, open(R + "fewshot.json", "w"), indent=2)
params = {(r["method"], r["shots"]): r["params"] for r in rows}
print(
    "| benchmark | shots | method | accuracy % (mean ± std over seeds) | mean per-run 95 % CI | seeds | test episodes | train s (wall, loaded machine) | parameters |"
)
print("|---|---:|---|---:|---:|---|---:|---:|---:|")
for s in summary:
    eps = "/".join(str(e) for e in s["test_episodes"])
    print(
        f"| {s['benchmark']} | {s['shots']} | {s['method']} | {s['mean']:.2f} ± {s['std']:.2f} | {s['ci95']:.2f} | {s['seeds']} | {eps} | {s['train_s']:.0f} | {params[(s['method'], s['shots'])]:,} |"
    )
print()
print(
    "| benchmark | shots | HyperShot − ProtoNet, per seed (paired 95 % CI) | mean ± std | HyperShot − ProtoNet with the same views, per seed | mean ± std | ProtoNet with views |"
)
print("|---|---:|---|---:|---|---:|---:|")
for s in summary:
    if s["method"] != "hypershot":
        continue
    a = ", ".join(f"{g:+.2f} (± {c:.2f})" for g, c in s["paired_per_seed"])
    b = ", ".join(f"{g:+.2f} (± {c:.2f})" for g, c in s["paired_views_per_seed"])
    print(
        f"| {s['benchmark']} | {s['shots']} | {a} | {s['paired_mean']:+.2f} ± {s['paired_std']:.2f} | {b} | {s['paired_views_mean']:+.2f} ± {s['paired_views_std']:.2f} | {s['views_prototype_rule_mean']:.2f} ± {s['views_prototype_rule_std']:.2f} |"
    )
