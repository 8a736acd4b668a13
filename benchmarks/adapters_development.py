"""The development protocols of the adapters benchmark: the grid that chose each method's
learning rate and steps per task, and the leave-one-task-out protocol that chose how the
description model adapts to a task it never trained on. Development seeds only (100,
101); no test text is ever scored.

The grid runs ``hypernetworks adapters --validation`` on development seeds 100 and 101
for every cell of DEV_GRID (validation texts carved out of the training texts) and writes
benchmarks/results/adapters_development.json (``--no-run``: summarise the runs found,
run none):

    .venv/bin/python benchmarks/adapters_development.py --runs /tmp/ad_dev

``--loto`` runs the leave-one-task-out protocol instead (``--part desc baselines``,
``--folds``) and writes benchmarks/results/adapters_loto.json:

    .venv/bin/python benchmarks/adapters_development.py --loto --runs /tmp/ad_loto

The test seeds and the goals: benchmarks/adapters.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from adapters import ROOT, SEEN, _label, _mean_std, default_setting, setting_of
from hypernetworks.adapters._benchmarks import DEFAULTS, LEARNING_RATES, STEPS, UNSEEN
from hypernetworks.adapters._loto import RULE_SCALES, UNSEEN_RULES

TUNED = ("hyperlora", "hyperlora-desc", "lora-per-task", "lora-shared")
DEV_SEEDS = (100, 101)
#: The development grid: per method, the settings (learning rate, steps per task, output
#: learning-rate scale of HyperLoRA's head) run on each development seed: lr {3e-4, 1e-3}
#: x 40 steps per task for every method; x 80 steps for the two methods of the main goal
#: (HyperLoRA with task ids, per-task LoRAs); then, for both of them alike, one step past
#: the edge the first rounds chose (1e-3 x 80): lr 2e-3 x 80 and 1e-3 x 160 steps; and for
#: HyperLoRA its own lever, the output scale 0.3 at 1e-3 x 80 (the per-task LoRAs have no
#: head); and the description model and the shared LoRA at their chosen rate 1e-3 x 80
#: steps (run last). Each method gets the grid cell with the best mean validation
#: accuracy over the seeds.
EDGE = [(2e-3, 80), (1e-3, 160)]
DEV_GRID: dict[str, list[tuple[float, int, float | None]]] = {
    "hyperlora": [(lr, st, 1.0) for lr in (3e-4, 1e-3) for st in (40, 80)]
    + [(lr, st, 1.0) for lr, st in EDGE]
    + [(1e-3, 80, 0.3)],
    "hyperlora-desc": [(3e-4, 40, 1.0), (1e-3, 40, 1.0), (1e-3, 80, 1.0)],
    "lora-per-task": [(lr, st, None) for lr in (3e-4, 1e-3) for st in (40, 80)]
    + [(lr, st, None) for lr, st in EDGE],
    "lora-shared": [(3e-4, 40, None), (1e-3, 40, None), (1e-3, 80, None)],
}
#: Development runs made before each method drew from its own random stream (seeded by
#: (seed, method); until then a method's initialisation depended on the methods run
#: before it in the same process): the cells of the first two rounds.
BEFORE_METHOD_RNG = [(lr, st) for lr in (3e-4, 1e-3) for st in (40, 80)]
#: The leave-one-task-out protocol of the held-out goal (hypernetworks.adapters._loto),
#: declared before it ran. On each development seed each task of LOTO_FOLDS in turn is
#: held out (a declared subset, for CPU time: the three tasks whose texts are English
#: prose or words, as kind's are; language and names are lists of foreign words and
#: names); the description model (its chosen setting, STEPS and LEARNING_RATES) trains on
#: the other four seen tasks. Cells, the rules of UNSEEN_RULES, all from that one
#: training: the adapters generated for the unseen description, pulled toward the
#: pretrained model by a scale 0.5 or 0.25 (scale 0, the frozen model, is the zero-shot
#: baseline), and the adapters of the seen task whose description is nearest the unseen
#: one. The rule with the best mean unseen-task accuracy over the (seed, fold) pairs
#: wins (UNSEEN in _benchmarks.py), ties going to the earlier rule (the recipe as it was
#: first).
LOTO_FOLDS = ("library", "python", "sentiment")


def _development_found(runs: Path) -> dict[str, dict[tuple, dict[int, float]]]:
    """Mean validation accuracy found under ``runs``: method -> setting -> seed -> accuracy."""
    found: dict[str, dict[tuple, dict[int, float]]] = {}
    for path in sorted(runs.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        if metrics.get("scored_on") != "validation":
            continue
        for method in metrics["lr"]:
            setting = setting_of(metrics, method)
            by_seed = found.setdefault(method, {}).setdefault(setting, {})
            by_seed[metrics["seed"]] = metrics["mean_accuracy_seen"][method]
    return found


def run_development(runs: Path) -> None:
    """Run what is missing of the development grid: every tuned method, seed and setting
    (methods sharing a setting in one run)."""
    command = [str(Path(sys.executable).parent / "hypernetworks"), "adapters", "--no-progress"]
    found = _development_found(runs)
    for seed in DEV_SEEDS:
        cells: dict[tuple[float, int, float], list[str]] = {}
        for method in TUNED:
            for lr, steps, scale in DEV_GRID[method]:
                if seed not in found.get(method, {}).get((lr, steps, scale), {}):
                    cells.setdefault((lr, steps, 1.0 if scale is None else scale), []).append(
                        method
                    )
        for (lr, steps, scale), missing in sorted(cells.items()):
            out = runs / f"dev_s{seed}_lr{lr:g}_steps{steps}_scale{scale:g}"
            args = ["--validation", "--seed", str(seed), "--lr", f"{lr:g}", "--steps", str(steps)]
            args += ["--output-lr-scale", f"{scale:g}", "--out", str(out)]
            subprocess.run([*command, *args, "--method", *missing], check=True)


def summarise_development(runs: Path) -> dict:
    """Mean validation accuracy per method and setting over the development seeds, and the
    setting each method gets (the best mean over the grid). Reads every ``metrics.json``
    under ``runs`` scored on validation texts."""
    found = _development_found(runs)
    table: dict[str, dict] = {}
    for method in TUNED:
        grid = set(DEV_GRID[method])
        settings = found.get(method, {})
        complete = {
            k: seeds for k, seeds in settings.items() if k in grid and set(seeds) >= set(DEV_SEEDS)
        }
        table[method] = {
            _label(k): {
                "lr": k[0],
                "steps": k[1],
                "output_lr_scale": k[2],
                "mean": float(np.mean([seeds[s] for s in DEV_SEEDS])),
                "by_seed": {f"seed{s}": seeds[s] for s in DEV_SEEDS},
            }
            for k, seeds in sorted(complete.items(), key=lambda kv: str(kv[0]))
        }
        missing = sorted(_label(k) for k in grid - set(complete))
        if missing:
            table[method]["missing"] = missing
            table[method]["partial"] = {
                _label(k): {f"seed{s}": v for s, v in sorted(seeds.items())}
                for k, seeds in settings.items()
                if k in grid and k not in complete
            }
        if complete:
            best = max(complete, key=lambda k: float(np.mean([complete[k][s] for s in DEV_SEEDS])))
            table[method]["chosen"] = {"lr": best[0], "steps": best[1], "output_lr_scale": best[2]}
            # the setting the test seeds ran with (LEARNING_RATES, STEPS, OUTPUT_LR_SCALES):
            # a cell run after the test seeds may win the grid without the defaults (and
            # so the test seeds) having been changed to it
            default = default_setting(method)
            table[method]["default_in_use"] = None if default is None else _label(default)
            table[method]["chosen_is_default"] = best == default
    return {
        "protocol": "hypernetworks adapters --validation --seed S --lr LR --steps N "
        "[--output-lr-scale X]: each seen task's training texts split by the builder's "
        "groups (about 25% validation), test texts never scored; development seeds only, "
        "never reported",
        "development_seeds": list(DEV_SEEDS),
        "grid": {m: [_label(k) for k in DEV_GRID[m]] for m in TUNED},
        "run_before_per_method_rng": [f"lr {lr:g}, steps {st}" for lr, st in BEFORE_METHOD_RNG],
        "validation_mean_accuracy_seen": table,
    }


def _loto_options() -> dict:
    return {k: DEFAULTS[k] for k in ("batch_size", "rank", "max_length")} | {
        k: DEFAULTS[k] for k in ("train_per_class", "test_per_class")
    }


def run_loto(runs: Path, seeds: list[int], folds: list[str], part: str) -> None:
    """Run what is missing of the leave-one-task-out protocol, in this process: ``part``
    "desc" (the description model, one JSON per seed and fold) or "baselines" (the shared
    LoRA and the frozen model per seed and fold, and the per-task LoRAs per seed)."""
    from hypernetworks.adapters import load_minilm
    from hypernetworks.adapters._loto import loto_fold, loto_per_task

    base, tokenizer = load_minilm()
    runs.mkdir(parents=True, exist_ok=True)
    options = _loto_options()
    for seed in seeds:
        path = runs / f"loto_s{seed}_per-task.json"
        if part == "baselines" and not path.exists():
            out = loto_per_task(
                base,
                tokenizer,
                seed=seed,
                names=SEEN,
                steps=STEPS["lora-per-task"],
                lr=LEARNING_RATES["lora-per-task"],
                options=options,
            )
            out["setting"] = _label(default_setting("lora-per-task"))  # type: ignore[arg-type]
            path.write_text(json.dumps(out, indent=1) + "\n")
            print(path, json.dumps(out["scores"]), flush=True)
        for held in folds:
            path = runs / f"loto_s{seed}_{held}_{part}.json"
            if path.exists():
                continue
            method = "hyperlora-desc" if part == "desc" else "lora-shared"
            out = loto_fold(
                base,
                tokenizer,
                seed=seed,
                held=held,
                names=SEEN,
                desc_steps=(STEPS["hyperlora-desc"],) if part == "desc" else (),
                scales=RULE_SCALES,
                rates=dict(LEARNING_RATES),
                shared_steps=STEPS["lora-shared"] if part == "baselines" else None,
                options=options,
            )
            out["setting"] = {method: _label(default_setting(method))}  # type: ignore[arg-type]
            path.write_text(json.dumps(out, indent=1) + "\n")
            print(path, json.dumps(out["scores"]), flush=True)


def summarise_loto(runs: Path) -> dict:
    """Mean unseen-task accuracy per cell and baseline over the (seed, fold) pairs found,
    the paired differences, and the chosen cell."""
    per_task = {
        p["seed"]: p["scores"]
        for p in (json.loads(q.read_text()) for q in sorted(runs.glob("loto_s*_per-task.json")))
    }
    parts: dict[tuple[int, str], dict] = {}
    for path in sorted(runs.glob("loto_s*_*_*.json")):
        if path.name.endswith("_per-task.json"):
            continue
        found = json.loads(path.read_text())
        fold = parts.setdefault(
            (found["seed"], found["held"]),
            {
                "seed": found["seed"],
                "held": found["held"],
                "scores": {},
                "adapters_of": {},
                "train_cpu_seconds": {},
                "settings": {},
            },
        )
        for key in ("scores", "adapters_of", "train_cpu_seconds"):
            fold[key].update(found[key])
        fold["settings"].update(found.get("setting", {}))
    folds = []
    for fold in parts.values():
        scores = dict(fold["scores"])
        if fold["seed"] in per_task:
            on_held = {
                t: s[fold["held"]] for t, s in per_task[fold["seed"]].items() if t != fold["held"]
            }
            best = max(on_held, key=lambda t: on_held[t])
            scores["lora-per-task (best other task)"] = on_held[best]
            fold["best_other_lora"] = best
        fold["scores"] = scores
        folds.append(fold)
    if not folds:
        raise FileNotFoundError(f"no leave-one-task-out runs (loto_s*_*.json) in {runs}")
    keys = [k for k in folds[0]["scores"] if all(k in f["scores"] for f in folds)]
    steps = STEPS["hyperlora-desc"]
    rule_of = {f"hyperlora-desc, steps {steps}, {k}": r for r, k in UNSEEN_RULES.items()}
    cells = [c for c in rule_of if c in keys]
    baselines = [k for k in keys if k not in cells]
    table = {
        k: {
            **_mean_std([f["scores"][k] for f in folds]),
            "by_fold": {f"seed{f['seed']} {f['held']}": f["scores"][k] for f in folds},
            "by_held_task": {
                h: float(np.mean([f["scores"][k] for f in folds if f["held"] == h]))
                for h in dict.fromkeys(f["held"] for f in folds)
            },
        }
        for k in keys
    }
    chosen = max(cells, key=lambda c: (table[c]["mean"], -cells.index(c)))
    paired = {}
    for cell in cells:
        for rival in baselines:
            diffs = [f["scores"][cell] - f["scores"][rival] for f in folds]
            paired[f"{cell} - {rival}"] = {
                **_mean_std(diffs),
                "first_ahead_on": sum(d > 0 for d in diffs),
                "level_on": sum(d == 0 for d in diffs),
            }
    return {
        "protocol": "leave-one-task-out on development seeds: each seen task in turn is "
        "held out; the methods train on the other four (full training texts) and are "
        "scored on the held-out task's training texts (never its test texts); kind is "
        "never used (hypernetworks.adapters._loto)",
        "seeds": sorted({f["seed"] for f in folds}),
        "folds": sorted({f["held"] for f in folds}),
        "pairs": len(folds),
        "grid": dict(UNSEEN_RULES),
        "rule": "the cell with the best mean unseen accuracy over the (seed, fold) pairs; "
        "ties to the earlier rule (generated first)",
        "unseen_accuracy": table,
        "paired_differences": paired,
        "chosen": chosen,
        "chosen_rule": rule_of[chosen],
        "default_in_use": UNSEEN["hyperlora-desc"],
        "best_other_lora_by_fold": {
            f"seed{f['seed']} {f['held']}": f.get("best_other_lora") for f in folds
        },
        "settings": folds[0].get("settings"),
        "adapters_of_by_fold": {f"seed{f['seed']} {f['held']}": f["adapters_of"] for f in folds},
        "train_cpu_seconds": {
            k: _mean_std([f["train_cpu_seconds"][k] for f in folds if k in f["train_cpu_seconds"]])
            for k in dict.fromkeys(k for f in folds for k in f["train_cpu_seconds"])
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, default=Path("/tmp/ad_dev"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--no-run",
        action="store_true",
        help="summarise the runs found, run none (cells left out are listed as missing)",
    )
    parser.add_argument(
        "--loto",
        action="store_true",
        help="run/summarise the leave-one-task-out protocol of the held-out goal instead "
        "of the grid (--seeds: development seeds; --folds: the held-out tasks)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEV_SEEDS))
    parser.add_argument("--folds", nargs="+", choices=SEEN, default=list(LOTO_FOLDS))
    parser.add_argument(
        "--part",
        nargs="+",
        choices=("desc", "baselines"),
        default=["desc", "baselines"],
        help="with --loto: what to run (the description model; the shared LoRA, frozen "
        "model and per-task LoRAs)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.loto:
        if set(args.seeds) - set(DEV_SEEDS):
            parser.error(f"--loto runs on development seeds {list(DEV_SEEDS)}, got {args.seeds}")
        if not args.no_run:
            for part in args.part:
                run_loto(args.runs, args.seeds, args.folds, part)
        loto = summarise_loto(args.runs)
        out = args.out or ROOT / "benchmarks/results/adapters_loto.json"
        out.write_text(json.dumps(loto, indent=1) + "\n")
        for key, value in loto["unseen_accuracy"].items():
            print(f"{key:55s} {100 * value['mean']:.1f} ± {100 * value['std']:.1f}")
        print("chosen:", loto["chosen"])
        return
    if not args.no_run:
        run_development(args.runs)
    development = summarise_development(args.runs)
    out = args.out or ROOT / "benchmarks/results/adapters_development.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(development, indent=1) + "\n")
    print(json.dumps(development["validation_mean_accuracy_seen"], indent=1))


if __name__ == "__main__":
    main()
